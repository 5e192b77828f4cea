"""Secrets stay secret: the private key, the JWT and stored values never show up in
reprs, exception messages (their whole chain) or log records; risky settings are loud.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from _mock_api import GET_URL, ITEMS_URL, KEYS_URL, SET_URL, MockApi, make_kv
from cryptography.hazmat.primitives import serialization
from secret_guard import JWT, find_secret, format_exception, mask, register_secret

from voxkv_async import (
    ApiError,
    AuthenticationError,
    Credentials,
    CredentialsError,
    ProtocolError,
    RetryPolicy,
    Timeouts,
    TLSVerificationError,
    ValidationError,
    VoxKV,
    VoxKVError,
)
from voxkv_async._auth import TokenCache
from voxkv_async.emulator import Emulator, EmulatorModes, Faults, generate_credentials

SECRET = "s3cr3t-VALUE-" + "Q" * 5 + "-do-not-log-0451"


def pem_of(creds: Credentials) -> str:
    return creds.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_material(creds: Credentials) -> list[str]:
    """Pieces of the private key that must never appear: PEM lines and the exponent."""
    body = [line for line in pem_of(creds).splitlines() if "-----" not in line]
    d = creds.private_key.private_numbers().d
    return [body[1], body[-2], str(d)[:40], f"{d:x}"[:40]]


def assert_clean(text: str, creds: Credentials, *values: str) -> None:
    assert not JWT.search(text), mask(text)
    assert "PRIVATE KEY" not in text
    for piece in key_material(creds):
        assert piece not in text
    for value in (SECRET, *values):
        assert value not in text, "a stored value leaked"


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    return caplog


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    return "\n".join(handler.format(r) for r in caplog.records)


# --- reprs -------------------------------------------------------------------------------------


async def test_reprs_hold_no_secret(credentials: Credentials) -> None:
    async with Emulator(tls=True) as emu:
        creds = emu.credentials
        kv = VoxKV(creds, application_id=emu.application_id, base_url=emu.base_url,
                   ssl=emu.ssl_context)
        async with kv:
            await kv.set("ns:secret", SECRET)
            tokens = kv._tokens
            header = tokens.authorization()
            assert JWT.search(header)  # the cache does hold a token...
            texts = [repr(creds), str(creds), repr(kv), str(kv), repr(tokens), str(tokens),
                     repr(kv.stats), repr(kv.retry_policy), repr(kv.transport)]
        for text in texts:
            assert_clean(text, creds)  # ...but shows none of it
    assert "<hidden>" in repr(creds)


def test_token_cache_repr_after_signing(credentials: Credentials) -> None:
    cache = TokenCache(credentials)
    token = cache.authorization().split()[1]
    assert token not in repr(cache)
    assert not JWT.search(repr(cache))


# --- exceptions from every error path --------------------------------------------------------


async def _errors_from_emulator(debug_log: pytest.LogCaptureFixture
                                ) -> tuple[list[VoxKVError], Credentials]:
    errors: list[VoxKVError] = []

    async def expect(coro: object) -> None:
        try:
            await coro  # type: ignore[misc]
        except VoxKVError as exc:
            errors.append(exc)
        else:
            raise AssertionError("the call was meant to fail")

    timeouts = Timeouts(connect=0.5, attempt=0.3, deadline=1.0)
    async with Emulator(tls=True, seed=1) as emu:
        creds = emu.credentials
        options = {"base_url": emu.base_url, "ssl": emu.ssl_context, "timeouts": timeouts,
                   "retry": RetryPolicy.for_testing(max_attempts=2)}
        async with VoxKV(creds, emu.application_id, **options) as kv:
            await kv.set("ns:k", SECRET)
            for kind in ("http_503", "http_429", "code_2", "code_340", "code_416", "slow",
                         "drop_before", "drop_after"):
                emu.faults = Faults(**{kind: 1.0}, retry_after=0, slow_seconds=2.0)
                await expect(kv.set("ns:k", SECRET))
            emu.faults = Faults()
            await expect(kv.set("ns:k", SECRET + "x" * 2000))  # ValidationError
            await expect(kv.set("bad key", SECRET))
            emu.modes = EmulatorModes(unknown_application="error")
            async with VoxKV(creds, 999, **options) as other:
                await expect(other.set("ns:k", SECRET))  # ApplicationNotFoundError
        stranger = generate_credentials(account_id=4242, key_id="stranger", slot=1)
        async with VoxKV(stranger, emu.application_id, **options) as kv:
            await expect(kv.set("ns:k", SECRET))  # AuthenticationError (unknown key id)
        async with VoxKV(creds, emu.application_id, base_url=emu.base_url,
                         timeouts=timeouts) as kv:
            await expect(kv.get("ns:k"))  # TLSVerificationError: the emulator's own CA
        await emu.stop()
        async with VoxKV(creds, emu.application_id, **options) as kv:
            await expect(kv.set("ns:k", SECRET))  # ConnectError
    return errors, creds


async def test_exceptions_hold_no_secret(debug_log: pytest.LogCaptureFixture) -> None:
    errors, creds = await _errors_from_emulator(debug_log)
    kinds = {type(e).__name__ for e in errors}
    assert {"ServerError", "RateLimitedError", "RequestTimeoutError", "ConnectError",
            "ValidationError", "ApplicationNotFoundError", "AuthenticationError",
            "TLSVerificationError"} <= kinds, kinds
    for exc in errors:
        # The whole chain, notes and traceback, as logging.exception would print it.
        assert_clean(format_exception(exc) + repr(exc) + str(vars(exc)), creds)
    assert_clean(all_log_text(debug_log), creds)
    assert any(r.levelno == logging.DEBUG for r in debug_log.records)  # DEBUG was on


async def test_protocol_errors_do_not_quote_json_values(credentials: Credentials) -> None:
    """A JSON answer may carry stored values: errors describe its shape, never quote it."""
    bodies = [
        {"result": {"key": "ns:k", "value": SECRET, "expires_at": "soon"}},
        {"result": [{"key": 5, "value": SECRET}]},
        {"result": SECRET, "x": 1},
        [SECRET],
        {"unexpected": SECRET},
    ]
    api = MockApi()
    async with make_kv(credentials, api) as kv:
        for body in bodies:
            for call, url in ((kv.get, GET_URL), (kv.items, ITEMS_URL), (kv.keys, KEYS_URL)):
                api.post(url, body=json.dumps(body))
                with pytest.raises(ProtocolError) as info:
                    await call("ns:k")
                assert_clean(format_exception(info.value) + repr(info.value), credentials)


async def test_validation_errors_never_echo_values(credentials: Credentials) -> None:
    async with VoxKV(credentials, 7) as kv:
        for value in (SECRET * 200, SECRET.encode(), [SECRET]):
            with pytest.raises(ValidationError) as info:
                await kv.set("ns:k", value)  # type: ignore[arg-type]
            assert SECRET not in format_exception(info.value)


async def test_api_error_for_refused_token_holds_no_token(credentials: Credentials) -> None:
    api = MockApi()
    api.post(SET_URL, repeat=True, payload={"error": {"code": 100, "msg": "Authorization failed"}})
    async with make_kv(credentials, api) as kv:
        with pytest.raises(AuthenticationError) as info:
            await kv.set("ns:k", SECRET)
    assert kv.stats.auth_retries == 1  # re-signed once, then gave up
    assert_clean(format_exception(info.value) + repr(info.value), credentials)


# --- credentials files and TLS ------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o644, True), (0o640, True),
                                              (0o604, True)])
def test_exposed_credentials_file_warns(
    tmp_path: Path, credentials: Credentials, debug_log: pytest.LogCaptureFixture,
    mode: int, warned: bool,
) -> None:
    path = credentials.to_file(tmp_path / "credentials.json")
    os.chmod(path, mode)
    loaded = Credentials.from_file(path)
    assert loaded.key_id == credentials.key_id
    warnings = [r for r in debug_log.records if r.levelno == logging.WARNING
                and "credentials file" in r.getMessage()]
    assert bool(warnings) is warned
    if warned:
        assert oct(mode)[2:] in warnings[0].getMessage()
    assert_clean(all_log_text(debug_log), credentials)


def test_broken_credentials_never_quote_the_key(tmp_path: Path, credentials: Credentials
                                                ) -> None:
    pem = pem_of(credentials)
    broken = [
        {"account_id": 1, "key_id": "k", "private_key": pem[: len(pem) // 2]},
        {"account_id": 1, "key_id": "k", "private_key": pem.replace("A", "#", 3)},
        {"account_id": None, "key_id": "k", "private_key": pem},
    ]
    for data in broken:
        with pytest.raises(CredentialsError) as info:
            Credentials.from_dict(data)
        assert_clean(format_exception(info.value), credentials)
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"private_key": pem})[:-3], encoding="utf-8")  # not JSON
    os.chmod(path, 0o600)
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(path)
    assert_clean(format_exception(info.value), credentials)


@pytest.mark.parametrize("value", [False, True, "off", 0])
def test_ssl_false_is_refused(credentials: Credentials, value: object) -> None:
    with pytest.raises(TypeError, match="insecure_skip_verify"):
        VoxKV(credentials, 7, ssl=value)  # type: ignore[arg-type]


async def test_insecure_skip_verify_is_loud_and_works(
    credentials: Credentials, debug_log: pytest.LogCaptureFixture
) -> None:
    async with Emulator(tls=True) as emu:
        async with VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                         insecure_skip_verify=True) as kv:
            await kv.set("ns:k", "v")  # the emulator's certificate is not trusted here...
        warning = [r for r in debug_log.records if r.levelno == logging.WARNING]
        assert any("DISABLED" in r.getMessage() for r in warning)
        async with VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                         retry=RetryPolicy.for_testing()) as kv:
            with pytest.raises(TLSVerificationError):  # ...and without the flag, refused
                await kv.set("ns:k", "v")
            assert kv.stats.retries == 0  # never retried


def test_plain_http_only_to_loopback(credentials: Credentials) -> None:
    VoxKV(credentials, 7, base_url="http://127.0.0.1:1/platform_api")
    VoxKV(credentials, 7, base_url="http://[::1]:1/platform_api")
    for url in ("http://api.voximplant.com/platform_api", "http://10.0.0.1/platform_api",
                "http://127.0.0.1.evil.example/platform_api"):
        with pytest.raises(ValueError, match="https"):
            VoxKV(credentials, 7, base_url=url)


def test_default_context_verifies(credentials: Credentials) -> None:
    kv = VoxKV(credentials, 7)
    ctx = kv.transport._ssl
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname


# --- the guard itself ------------------------------------------------------------


def test_guard_finds_and_masks(credentials: Credentials) -> None:
    token = TokenCache(credentials).authorization()
    assert find_secret(f"header was {token}") == "a JWT"
    assert find_secret(pem_of(credentials)) == "a PEM private key"
    value = "guard-self-test-" + "Zq9" * 4
    assert find_secret(f"got {value}!") is None
    register_secret(value)
    assert find_secret(f"got {value}!") == "a stored value or registered secret"
    assert find_secret(f"got {value[:-1]}!") is None
    assert value not in mask(f"x {value} {token}")
    assert "<JWT>" in mask(token)


def test_api_error_message_is_bounded() -> None:
    exc = ApiError("m" * 10_000, code=2, method="GetKeyValueItem", key="k" * 500)
    assert len(str(exc)) < 400
