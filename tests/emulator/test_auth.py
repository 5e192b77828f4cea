"""Every way a token is refused, each with its own code."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest

from voxkv_async.emulator import Emulator, generate_credentials
from voxkv_async.emulator._certs import service_key

from .conftest import Api, make_token

GET = {"key": "k"}


async def code_for(api: Api, authorization: str | None) -> int:
    return await api.error("GetKeyValueItem", authorization=authorization, **GET)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
)
async def test_missing_or_garbage_header_is_447(api: Api, authorization: str | None) -> None:
    assert await code_for(api, authorization) == 447


async def test_unknown_kid_is_433(api: Api) -> None:
    token = make_token(api.emu.credentials, kid="no-such-key")
    assert await code_for(api, f"Bearer {token}") == 433


async def test_bad_signature_is_100(api: Api) -> None:
    token = make_token(api.emu.credentials, key=service_key(1))
    assert await code_for(api, f"Bearer {token}") == 100


async def test_tampered_payload_is_100(api: Api) -> None:
    head, _, sig = make_token(api.emu.credentials).split(".")
    other = make_token(api.emu.credentials, iss="1000002").split(".")[1]
    assert await code_for(api, f"Bearer {head}.{other}.{sig}") == 100


async def test_wrong_iss_is_100(api: Api) -> None:
    token = make_token(api.emu.credentials, iss="42")
    assert await code_for(api, f"Bearer {token}") == 100


@pytest.mark.parametrize("iss", ["1000001", 1000001])
async def test_iss_as_string_or_number_is_accepted(api: Api, iss: object) -> None:
    token = make_token(api.emu.credentials, iss=iss)
    assert await api.result("GetKeyValueItem", authorization=f"Bearer {token}", **GET) is None


async def test_expired_is_456(api: Api) -> None:
    token = make_token(api.emu.credentials, iat=time.time() - 100, lifetime=60)
    assert await code_for(api, f"Bearer {token}") == 456


async def test_iat_in_future_is_455(api: Api) -> None:
    token = make_token(api.emu.credentials, iat=time.time() + 60, lifetime=60)
    assert await code_for(api, f"Bearer {token}") == 455


async def test_iat_slightly_ahead_is_tolerated(api: Api) -> None:
    token = make_token(api.emu.credentials, iat=time.time() + 2, lifetime=60)
    assert await api.result("GetKeyValueItem", authorization=f"Bearer {token}", **GET) is None


async def test_lifetime_over_an_hour_is_454(api: Api) -> None:
    token = make_token(api.emu.credentials, lifetime=3601)
    assert await code_for(api, f"Bearer {token}") == 454


async def test_lifetime_of_exactly_an_hour_is_accepted(api: Api) -> None:
    token = make_token(api.emu.credentials, lifetime=3600)
    assert await api.result("GetKeyValueItem", authorization=f"Bearer {token}", **GET) is None


@pytest.mark.parametrize("claim", ["iat", "exp"])
async def test_missing_time_claim_is_447(api: Api, claim: str) -> None:
    token = make_token(api.emu.credentials, drop=(claim,))
    assert await code_for(api, f"Bearer {token}") == 447


async def test_hs256_is_refused(api: Api) -> None:
    creds = api.emu.credentials
    now = int(time.time())
    token = jwt.encode(
        {"iss": str(creds.account_id), "iat": now, "exp": now + 60},
        "s" * 32,
        algorithm="HS256",
        headers={"kid": creds.key_id},
    )
    assert await code_for(api, f"Bearer {token}") == 447


async def test_alg_none_is_refused(api: Api) -> None:
    creds = api.emu.credentials
    now = int(time.time())
    token = jwt.encode(
        {"iss": str(creds.account_id), "iat": now, "exp": now + 60},
        None,
        algorithm="none",
        headers={"kid": creds.key_id},
    )
    assert await code_for(api, f"Bearer {token}") == 447


async def test_expiry_is_checked_on_every_use_of_a_cached_token() -> None:
    now = [time.time()]
    async with Emulator(token_clock=lambda: now[0]) as emu:
        token = make_token(emu.credentials, lifetime=60)
        async with aiohttp.ClientSession() as session:
            api = Api(emu, session)
            auth = f"Bearer {token}"
            assert await api.result("GetKeyValueItem", authorization=auth, **GET) is None
            now[0] += 120
            assert await code_for(api, auth) == 456
        assert emu.stats.signature_checks == 1


async def test_a_reused_token_is_verified_once(api: Api) -> None:
    for _ in range(3):
        await api.result("GetKeyValueItem", **GET)
    other = make_token(api.emu.credentials, lifetime=120)
    await api.result("GetKeyValueItem", authorization=f"Bearer {other}", **GET)
    assert api.emu.stats.signature_checks == 2
    assert api.emu.stats.distinct_tokens == 2


async def test_a_second_account_can_be_added(api: Api) -> None:
    child = generate_credentials(account_id="2000002", slot=1)
    token = make_token(child)
    assert await code_for(api, f"Bearer {token}") == 433
    api.emu.add_account(child)
    assert await api.result("GetKeyValueItem", authorization=f"Bearer {token}", **GET) is None
