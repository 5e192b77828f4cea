"""The token cache: single-flight signing, refresh ahead of expiry, re-signing on auth codes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import jwt
import pytest

from voxkv_async import (
    AuthenticationError,
    Credentials,
    Request,
    Response,
    RetryPolicy,
    TokenSettings,
    VoxKV,
)
from voxkv_async._auth import TokenCache

import _support as support
from _support import GET_URL, ITEM, MockApi

T0 = 1_700_000_000


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_kv(credentials: Credentials, api: MockApi | None = None, **kw: Any) -> VoxKV:
    kw.setdefault("retry", RetryPolicy.for_testing())
    return support.make_kv(credentials, api, **kw)


def headers_sent(api: MockApi, url: str = GET_URL) -> list[str]:
    return [r.headers["Authorization"] for r in api.sent(url)]


def claims_of(header: str, private_key) -> dict:
    return jwt.decode(
        header.removeprefix("Bearer "),
        private_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )


# --- TokenCache alone ----------------------------------------------------------------


def test_cache_signs_once_and_reuses(credentials, clock) -> None:
    tc = TokenCache(credentials, clock=clock)
    first = tc.authorization()
    assert all(tc.authorization() == first for _ in range(100))
    assert tc.signings == 1


def test_refresh_happens_margin_before_expiry_not_earlier(credentials, clock, private_key) -> None:
    settings = TokenSettings(lifetime=3600, backdate=30, refresh_margin=300)
    tc = TokenCache(credentials, settings, clock=clock)
    first = tc.authorization()
    c1 = claims_of(first, private_key)
    assert c1["iat"] == T0 - 30
    assert c1["exp"] == T0 - 30 + 3600
    refresh_at = c1["exp"] - 300  # margin before expiry, on our clock
    clock.t = refresh_at - 0.5
    assert tc.authorization() == first
    assert tc.signings == 1
    clock.t = refresh_at + 0.5
    second = tc.authorization()
    assert second != first
    assert tc.signings == 2
    c2 = claims_of(second, private_key)
    assert c2["iat"] == int(clock.t) - 30
    # And the new token is then reused.
    clock.t += 1000
    assert tc.authorization() == second


def test_token_never_used_past_its_exp(credentials, clock, private_key) -> None:
    tc = TokenCache(credentials, TokenSettings(lifetime=60, backdate=5, refresh_margin=10),
                    clock=clock)
    for _ in range(500):
        header = tc.authorization()
        assert claims_of(header, private_key)["exp"] - clock.t >= 10
        clock.t += 0.7


def test_invalidate_of_stale_header_keeps_newer_token(credentials, clock) -> None:
    tc = TokenCache(credentials, clock=clock)
    old = tc.authorization()
    tc.invalidate(old)
    clock.t += 1  # see test_resign_in_same_second_gives_a_different_token for why
    new = tc.authorization()
    assert new != old
    assert tc.signings == 2
    tc.invalidate(old)  # a late failure of the old token
    assert tc.authorization() == new
    assert tc.signings == 2
    tc.invalidate(new)
    clock.t += 1
    assert tc.authorization() not in (old, new)
    assert tc.signings == 3


def test_resign_in_same_second_gives_a_different_token(credentials, clock) -> None:
    tc = TokenCache(credentials, clock=clock)
    old = tc.authorization()
    tc.invalidate(old)
    new = tc.authorization()
    assert tc.signings == 2
    assert new != old


def test_server_date_learned_only_beyond_threshold(credentials, clock, private_key) -> None:
    tc = TokenCache(credentials, clock=clock)
    tc.observe_server_date(format_datetime(datetime.fromtimestamp(T0 + 1, UTC), usegmt=True))
    assert tc.clock_offset == 0
    tc.observe_server_date("not a date")
    tc.observe_server_date(None)
    assert tc.clock_offset == 0
    tc.observe_server_date(format_datetime(datetime.fromtimestamp(T0 - 900, UTC), usegmt=True))
    assert tc.clock_offset == pytest.approx(-900)
    assert claims_of(tc.authorization(), private_key)["iat"] == T0 - 900 - 30


@pytest.mark.parametrize(
    "kw",
    [
        {"lifetime": 3601},
        {"backdate": -1},
        {"refresh_margin": -1},
        {"lifetime": 100, "backdate": 30, "refresh_margin": 70},
    ],
)
def test_token_settings_refuse_bad_values(kw) -> None:
    with pytest.raises(ValueError):
        TokenSettings(**kw)


# --- through the client --------------------------------------------------------------


async def test_thousand_concurrent_gets_sign_once(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"result": ITEM}, repeat=True)
    # coalesce=False: 1000 requests in flight at once, not one shared by 1000 callers.
    async with make_kv(credentials, mock_api, coalesce=False) as kv:
        results = await asyncio.gather(*(kv.get("ns:k") for _ in range(1000)))
        assert kv.stats.token_signings == 1
        assert kv.stats.requests == 1000
        assert kv.stats.calls == 1000
    assert all(r is not None and r.value == "v" for r in results)
    assert len(set(headers_sent(mock_api))) == 1


async def test_client_refreshes_under_fake_clock(credentials, clock, mock_api) -> None:
    mock_api.post(GET_URL, payload={"result": ITEM}, repeat=True)
    async with make_kv(credentials, mock_api, clock=clock) as kv:
        await kv.get("ns:k")
        clock.t = T0 + 3600 - 30 - 300 - 1  # just before exp - margin
        await kv.get("ns:k")
        assert kv.stats.token_signings == 1
        clock.t = T0 + 3600 - 30 - 300 + 1  # just after
        await kv.get("ns:k")
        assert kv.stats.token_signings == 2
    sent = headers_sent(mock_api)
    assert sent[0] == sent[1] != sent[2]


async def test_code_100_resigns_and_retries_once(credentials, private_key, clock, mock_api) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": 100, "msg": "Authorization failed"}})
    mock_api.post(GET_URL, payload={"result": ITEM})
    async with make_kv(credentials, mock_api, clock=clock) as kv:
        item = await kv.get("ns:k")
        assert item is not None
        assert item.key == "ns:k"
        assert kv.stats.token_signings == 2
        assert kv.stats.auth_retries == 1
        assert kv.stats.requests == 2
        assert kv.stats.retries == 0
        assert kv.stats.errors == {}
    _, second = headers_sent(mock_api)
    claims_of(second, private_key)  # still a valid signature


async def test_code_100_second_request_carries_a_different_token(
    credentials, clock, mock_api
) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": 100, "msg": "Authorization failed"}})
    mock_api.post(GET_URL, payload={"result": ITEM})
    async with make_kv(credentials, mock_api, clock=clock) as kv:
        await kv.get("ns:k")
    first, second = headers_sent(mock_api)
    assert first != second


@pytest.mark.parametrize("code", [100, 455, 456])
async def test_resign_codes_fail_after_one_resign(credentials, mock_api, code) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": code, "msg": "no"}}, repeat=True)
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(AuthenticationError) as info:
            await kv.get("ns:k")
        assert info.value.code == code
        assert kv.stats.requests == 2
        assert kv.stats.token_signings == 2
        assert kv.stats.auth_retries == 1


async def test_code_455_resigns_on_server_clock(credentials, private_key, clock, mock_api) -> None:
    server_now = T0 + 3 * 3600  # our clock is three hours behind
    date = format_datetime(datetime.fromtimestamp(server_now, UTC), usegmt=True)
    mock_api.post(GET_URL, payload={"error": {"code": 455, "msg": "Token issued in the future"}},
                headers={"Date": date})
    mock_api.post(GET_URL, payload={"result": ITEM}, repeat=True)
    async with make_kv(credentials, mock_api, clock=clock) as kv:
        assert await kv.get("ns:k") is not None
        assert kv.stats.token_signings == 2
        assert kv.stats.auth_retries == 1
        # Later refreshes keep following the server's clock.
        clock.t += 3600
        await kv.get("ns:k")
    first, second, third = headers_sent(mock_api)
    assert claims_of(first, private_key)["iat"] == T0 - 30
    c2 = claims_of(second, private_key)
    assert c2["iat"] == server_now - 30
    assert c2["exp"] - c2["iat"] <= 3600
    assert claims_of(third, private_key)["iat"] == server_now + 3600 - 30


async def test_code_456_with_server_behind(credentials, private_key, clock, mock_api) -> None:
    server_now = T0 - 7200
    date = format_datetime(datetime.fromtimestamp(server_now, UTC), usegmt=True)
    mock_api.post(GET_URL, payload={"error": {"code": 456, "msg": "Token expired"}},
                headers={"Date": date})
    mock_api.post(GET_URL, payload={"result": ITEM})
    async with make_kv(credentials, mock_api, clock=clock) as kv:
        await kv.get("ns:k")
    _, second = headers_sent(mock_api)
    assert claims_of(second, private_key)["iat"] == server_now - 30


@pytest.mark.parametrize("code", [433, 447, 454])
async def test_non_resign_auth_codes_fail_without_resigning(credentials, mock_api, code) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": code, "msg": "bad token"}}, repeat=True)
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(AuthenticationError) as info:
            await kv.get("ns:k")
        assert info.value.code == code
        assert kv.stats.requests == 1
        assert kv.stats.token_signings == 1
        assert kv.stats.auth_retries == 0
        assert kv.stats.errors == {"AuthenticationError": 1}


@pytest.mark.parametrize(
    "clock_moves",
    [
        True,
        False,
    ],
)
async def test_concurrent_code_100_failures_cause_one_resign(
    credentials, clock, mock_api, clock_moves
) -> None:
    first_header: list[str] = []
    arrived = 0
    all_sent = asyncio.Event()

    async def answer(request: Request) -> Response:
        # Hold every first request until all 50 are in flight with the same token.
        nonlocal arrived
        header = request.headers["Authorization"]
        if not first_header:
            first_header.append(header)
        if header == first_header[0]:
            arrived += 1
            if arrived == 50:
                if clock_moves:
                    clock.t += 1
                all_sent.set()
            await all_sent.wait()
            return Response.of_json({"error": {"code": 100, "msg": "Authorization failed"}})
        return Response.of_json({"result": ITEM})

    mock_api.post(GET_URL, callback=answer, repeat=True)
    async with make_kv(credentials, mock_api, clock=clock, coalesce=False) as kv:  # 50 requests
        results = await asyncio.gather(*(kv.get("ns:k") for _ in range(50)))
        assert all(r is not None for r in results)
        assert kv.stats.token_signings == 2
        assert kv.stats.auth_retries == 50
        assert kv.stats.requests == 100


def test_repeated_resigns_in_one_second_never_repeat_a_token(credentials, clock) -> None:
    tc = TokenCache(credentials, clock=clock)
    seen = []
    for _ in range(4):
        header = tc.authorization()
        seen.append(header)
        tc.invalidate(header)
    assert len(set(seen)) == 4
