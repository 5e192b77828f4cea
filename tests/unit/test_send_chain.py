"""The send chain on MockTransport: what a transport receives, the auth link's re-signing
and clock learning, closing, and the ``transport=`` argument. No socket is opened."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import Any

import jwt
import pytest

from voxkv_async import (
    AiohttpTransport,
    AuthenticationError,
    ClientClosedError,
    Credentials,
    MockTransport,
    RateLimitedError,
    Request,
    Response,
    RetryPolicy,
    Transport,
    VoxKV,
)

BASE = "https://api.test/platform_api"
ITEM = {"key": "ns:k", "value": "v", "expires_at": 1_900_000_000}


def mock_kv(credentials: Credentials, transport: MockTransport, **kw: Any) -> VoxKV:
    kw.setdefault("retry", RetryPolicy.disabled())
    return VoxKV(credentials, 77, base_url=BASE, transport=transport, **kw)


def answers(*responses: Response) -> MockTransport:
    """A transport giving ``responses`` in order, one per request."""
    queue = list(responses)
    return MockTransport(lambda request: queue.pop(0))


def refusal(code: int, date: str | None = None) -> Response:
    headers = {"Date": date} if date else {}
    return Response.of_json({"error": {"code": code, "msg": "token refused"}}, 200, headers)


def claims(request: Request) -> dict[str, Any]:
    token = request.headers["Authorization"].removeprefix("Bearer ")
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_the_transport_gets_the_signed_form_request(credentials) -> None:
    transport = answers(Response.of_json({"result": ITEM}))
    async with mock_kv(credentials, transport, application_name="app") as kv:
        await kv.set("ns:k", "v w&x", ttl=60)
    [request] = transport.requests
    assert request.method == "SetKeyValueItem"
    assert request.url == f"{BASE}/SetKeyValueItem"
    assert request.form == {"application_id": "77", "application_name": "app", "key": "ns:k",
                            "value": "v w&x", "ttl": "60"}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("voxkv_async/")
    assert claims(request)["iss"] == str(credentials.account_id)
    # The request's repr shows neither the token nor the value.
    assert "Bearer" not in repr(request)
    assert "v+w" not in repr(request)


async def test_answers_are_read_above_the_transport(credentials) -> None:
    # Headers are read without regard to case, whatever mapping the handler gives.
    transport = answers(Response.of_json({"error": {"code": 340, "msg": "slow down"}}, 200,
                                         {"retry-after": "7"}))
    async with mock_kv(credentials, transport) as kv:
        with pytest.raises(RateLimitedError) as caught:
            await kv.get("ns:k")
    assert caught.value.retry_after == 7.0
    assert kv.stats.requests == 1


async def test_an_async_handler_is_awaited(credentials) -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(0)
        return Response.of_json({"result": ITEM})

    async with mock_kv(credentials, MockTransport(handler)) as kv:
        assert (await kv.get("ns:k")).value == "v"  # type: ignore[union-attr]


async def test_a_handler_must_return_a_response(credentials) -> None:
    async with mock_kv(credentials, MockTransport(lambda r: {"result": 1})) as kv:  # type: ignore[arg-type, return-value]
        with pytest.raises(TypeError, match="must return a Response, got dict"):
            await kv.get("ns:k")


@pytest.mark.parametrize("code", [100, 455, 456])
async def test_a_refused_token_is_re_signed_once(credentials, code) -> None:
    transport = answers(refusal(code), Response.of_json({"result": ITEM}))
    async with mock_kv(credentials, transport) as kv:
        assert await kv.get("ns:k") is not None
    first, second = transport.requests
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert kv.stats.auth_retries == 1
    assert kv.stats.token_signings == 2


async def test_a_second_refusal_is_the_callers(credentials) -> None:
    transport = answers(refusal(100), refusal(100))
    async with mock_kv(credentials, transport) as kv:
        with pytest.raises(AuthenticationError):
            await kv.get("ns:k")
    assert len(transport.requests) == 2


async def test_a_refusal_that_a_new_token_cannot_fix_is_not_repeated(credentials) -> None:
    transport = answers(refusal(433))  # unknown key id: re-signing changes nothing
    async with mock_kv(credentials, transport) as kv:
        with pytest.raises(AuthenticationError):
            await kv.get("ns:k")
    assert len(transport.requests) == 1


async def test_a_clock_error_teaches_the_servers_time(credentials) -> None:
    ahead = 3600.0
    now = 1_800_000_000.0
    transport = answers(refusal(455, formatdate(now + ahead, usegmt=True)),
                        Response.of_json({"result": ITEM}))
    async with mock_kv(credentials, transport, clock=lambda: now) as kv:
        await kv.get("ns:k")
    first, second = transport.requests
    # The re-signed token is minted on the server's clock, an hour ahead of ours.
    assert claims(second)["iat"] - claims(first)["iat"] == pytest.approx(ahead, abs=2)


async def test_a_closed_client_sends_nothing_and_closes_its_transport(credentials) -> None:
    transport = answers()
    kv = mock_kv(credentials, transport)
    await kv.close()
    assert transport.closed
    assert kv.closed
    with pytest.raises(ClientClosedError):
        await kv.get("ns:k")
    with pytest.raises(ClientClosedError):
        async with kv:
            pass
    assert transport.requests == []


def test_the_default_transport_is_aiohttp(credentials) -> None:
    kv = VoxKV(credentials, 77)
    assert isinstance(kv.transport, AiohttpTransport)
    assert isinstance(kv.transport, Transport)


def test_a_transport_is_checked(credentials) -> None:
    with pytest.raises(TypeError, match=r"transport must be a Transport.*got str"):
        VoxKV(credentials, 77, transport="aiohttp")  # type: ignore[arg-type]


def test_settings_of_the_default_transport_are_refused_with_another(credentials) -> None:
    with pytest.raises(ValueError, match="ca_file, insecure_skip_verify: settings of the default"):
        VoxKV(credentials, 77, transport=answers(), ca_file="ca.pem", insecure_skip_verify=True)
