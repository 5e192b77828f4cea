"""Wire format: URLs, form bodies, the Authorization JWT, base URL and TLS settings."""

from __future__ import annotations

import logging
import ssl
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest

from voxkv_async import (
    DEFAULT_BASE_URL,
    Credentials,
    Request,
    RetryPolicy,
    ValidationError,
    VoxKV,
)

import _support as support
from _support import BASE, ITEM, MockApi


@pytest.fixture(autouse=True)
def _no_env_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXKV_BASE_URL", raising=False)


def make_kv(credentials: Credentials, api: MockApi | None = None, **kw: Any) -> VoxKV:
    kw.setdefault("retry", RetryPolicy.for_testing())
    return support.make_kv(credentials, api, **kw)


def only_call(api: MockApi, method: str, base: str = BASE) -> Request:
    """The one request sent, to ``{base}/{method}`` (the URL exactly: no query string)."""
    assert [r.url for r in api.requests] == [f"{base}/{method}"]
    return api.requests[0]


def form(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


def bearer(request: Request) -> str:
    header = request.headers["Authorization"]
    assert header.startswith("Bearer ")
    return header.removeprefix("Bearer ")


CASES = [
    pytest.param(
        lambda kv: kv.set("ns:k", "v a&l=ue+ü", ttl=60),
        "SetKeyValueItem",
        {"application_id": ["77"], "key": ["ns:k"], "value": ["v a&l=ue+ü"], "ttl": ["60"]},
        ITEM,
        id="set",
    ),
    pytest.param(
        lambda kv: kv.get("ns:ключ"),
        "GetKeyValueItem",
        {"application_id": ["77"], "key": ["ns:ключ"]},
        ITEM,
        id="get",
    ),
    pytest.param(
        lambda kv: kv.delete("ns:k"),
        "DelKeyValueItem",
        {"application_id": ["77"], "key": ["ns:k"]},
        1,
        id="delete",
    ),
    pytest.param(
        lambda kv: kv.items("ns:", count=20, offset=40),
        "GetKeyValueItems",
        {"application_id": ["77"], "key": ["ns:"], "count": ["20"], "offset": ["40"]},
        [ITEM],
        id="items",
    ),
    pytest.param(
        lambda kv: kv.keys(),
        "GetKeyValueKeys",
        {"application_id": ["77"], "count": ["50"], "offset": ["0"]},
        [{"key": "ns:k", "expires_at": 1}],
        id="keys-no-prefix",
    ),
    pytest.param(
        lambda kv: kv.keys("ns:", count=1, offset=7),
        "GetKeyValueKeys",
        {"application_id": ["77"], "key": ["ns:"], "count": ["1"], "offset": ["7"]},
        [],
        id="keys-prefix",
    ),
]


@pytest.mark.parametrize(("do", "method", "expected", "result"), CASES)
async def test_each_method_posts_exact_form_to_its_url(
    credentials, mock_api, do, method, expected, result
) -> None:
    mock_api.post(f"{BASE}/{method}", payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        await do(kv)
    request = only_call(mock_api, method)
    assert request.method == method
    assert form(request) == expected
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_set_sends_default_ttl_when_no_expiry_given(credentials, mock_api) -> None:
    mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.set("ns:k", "v")
    sent = form(only_call(mock_api, "SetKeyValueItem"))
    assert sent["ttl"] == ["2592000"]
    assert "expires_at" not in sent


_SOON = (int(time.time()) // 3600 + 24) * 3600  # a whole hour, a day or so from now


@pytest.mark.parametrize(
    ("expires_at", "text"),
    [
        (datetime.fromtimestamp(_SOON, UTC), str(_SOON)),
        (datetime.fromtimestamp(_SOON, timezone(timedelta(hours=3))), str(_SOON)),
        (_SOON, str(_SOON)),
        (_SOON + 89 * 86400, str(_SOON + 89 * 86400)),
    ],
)
async def test_set_sends_expires_at_instead_of_ttl(credentials, mock_api, expires_at, text) -> None:
    mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.set("ns:k", "v", expires_at=expires_at)
    sent = form(only_call(mock_api, "SetKeyValueItem"))
    assert sent["expires_at"] == [text]
    assert "ttl" not in sent


async def test_set_ttl_zero_is_sent_not_omitted(credentials, mock_api) -> None:
    mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.set("ns:k", "", ttl=0)
    sent = form(only_call(mock_api, "SetKeyValueItem"))
    assert sent["ttl"] == ["0"]
    assert sent["value"] == [""]


async def test_application_name_is_sent_when_given(credentials, mock_api) -> None:
    mock_api.post(f"{BASE}/GetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api, application_name="my app&co") as kv:
        await kv.get("ns:k")
    sent = form(only_call(mock_api, "GetKeyValueItem"))
    assert sent == {"application_id": ["77"], "application_name": ["my app&co"], "key": ["ns:k"]}


async def test_authorization_is_rs256_jwt_verified_by_public_key(
    credentials, private_key, mock_api
) -> None:
    mock_api.post(f"{BASE}/GetKeyValueItem", payload={"result": ITEM})
    before = time.time()
    async with make_kv(credentials, mock_api) as kv:
        await kv.get("ns:k")
    after = time.time()
    token = bearer(only_call(mock_api, "GetKeyValueItem"))
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == "kid-1"
    claims = jwt.decode(
        token,
        private_key.public_key(),
        algorithms=["RS256"],
        issuer="4242",
        options={"require": ["iss", "iat", "exp"]},
    )
    assert claims["iss"] == "4242"
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert claims["iat"] < before - 1, "iat must be back-dated for clock skew"
    assert claims["iat"] > before - 600
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert claims["exp"] > after + 60


async def test_jwt_signed_by_another_key_does_not_verify(credentials, mock_api) -> None:
    """Guard for the test above: verification really depends on the key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mock_api.post(f"{BASE}/GetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.get("ns:k")
    token = bearer(only_call(mock_api, "GetKeyValueItem"))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_key(), algorithms=["RS256"])


async def test_jwt_claims_under_fake_clock(credentials, private_key, mock_api) -> None:
    now = 1_700_000_000.0
    mock_api.post(f"{BASE}/GetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api, clock=lambda: now) as kv:
        await kv.get("ns:k")
    token = bearer(only_call(mock_api, "GetKeyValueItem"))
    claims = jwt.decode(
        token, private_key.public_key(), algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] == int(now) - 30
    assert claims["exp"] - claims["iat"] == 3600


async def test_string_account_id_goes_into_iss(private_key, mock_api) -> None:
    creds = Credentials(account_id="9001", key_id="k2", private_key=private_key)
    mock_api.post(f"{BASE}/GetKeyValueItem", payload={"result": ITEM})
    async with make_kv(creds, mock_api) as kv:
        await kv.get("ns:k")
    token = bearer(only_call(mock_api, "GetKeyValueItem"))
    assert jwt.get_unverified_header(token)["kid"] == "k2"
    claims = jwt.decode(token, private_key.public_key(), algorithms=["RS256"], issuer="9001")
    assert claims["iss"] == "9001"


# --- base URL ------------------------------------------------------------------------


def test_default_base_url(credentials) -> None:
    kv = VoxKV(credentials, application_id=1)
    assert str(kv.base_url) == DEFAULT_BASE_URL == "https://api.voximplant.com/platform_api"


async def test_env_var_overrides_default_base_url(credentials, monkeypatch, mock_api) -> None:
    monkeypatch.setenv("VOXKV_BASE_URL", "https://stand-in.test/kv/")
    mock_api.post("https://stand-in.test/kv/GetKeyValueItem", payload={"result": ITEM})
    async with VoxKV(credentials, application_id=77, retry=RetryPolicy.disabled(),
                     transport=mock_api.transport) as kv:
        assert str(kv.base_url) == "https://stand-in.test/kv"
        await kv.get("ns:k")
    only_call(mock_api, "GetKeyValueItem", base="https://stand-in.test/kv")


def test_explicit_base_url_beats_env(credentials, monkeypatch) -> None:
    monkeypatch.setenv("VOXKV_BASE_URL", "https://stand-in.test/kv")
    kv = VoxKV(credentials, application_id=1, base_url="https://explicit.test/x")
    assert str(kv.base_url) == "https://explicit.test/x"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.voximplant.com/platform_api",
        "http://10.0.0.1:8080/platform_api",
        "http://127.0.0.1.evil.test/platform_api",
        "http://localhost.evil.test/x",
    ],
)
def test_plain_http_refused_except_loopback(credentials, url) -> None:
    with pytest.raises(ValueError, match="http") as info:
        VoxKV(credentials, application_id=1, base_url=url)
    assert not isinstance(info.value, ValidationError) or "base_url" in str(info.value)


def test_plain_http_refused_from_env_too(credentials, monkeypatch) -> None:
    monkeypatch.setenv("VOXKV_BASE_URL", "http://example.test/platform_api")
    with pytest.raises(ValueError, match="http"):
        VoxKV(credentials, application_id=1)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/platform_api",
        "http://127.0.0.2/platform_api",
        "http://localhost:9/platform_api",
        "http://[::1]:8080/platform_api",
    ],
)
def test_plain_http_allowed_to_loopback(credentials, url) -> None:
    kv = VoxKV(credentials, application_id=1, base_url=url)
    assert kv.base_url.scheme == "http"


@pytest.mark.parametrize(
    "url", ["ftp://api.test/x", "https://api.test/x?debug=1", "https://api.test/x#f", "nonsense"]
)
def test_other_bad_base_urls_refused(credentials, url) -> None:
    with pytest.raises(ValueError):
        VoxKV(credentials, application_id=1, base_url=url)


# --- TLS -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [False, True, "no"])
def test_ssl_false_is_refused_with_a_pointer_to_the_flag(credentials, bad) -> None:
    with pytest.raises(TypeError, match="insecure_skip_verify"):
        VoxKV(credentials, application_id=1, ssl=bad)


def test_insecure_skip_verify_logs_a_warning(credentials, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="voxkv_async")
    VoxKV(credentials, application_id=1, insecure_skip_verify=True)
    warnings = [
        r for r in caplog.records if r.name == "voxkv_async" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "verification" in warnings[0].getMessage()
    assert "DISABLED" in warnings[0].getMessage()


def test_default_tls_logs_no_warning(credentials, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="voxkv_async")
    VoxKV(credentials, application_id=1)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_insecure_context_really_skips_verification() -> None:

    from voxkv_async._config import make_ssl_context

    ctx = make_ssl_context(None, None, True)
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.check_hostname is False
    default = make_ssl_context(None, None, False)
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert default.check_hostname is True
