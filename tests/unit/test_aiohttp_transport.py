"""AiohttpTransport on its own (aioresponses): what goes on the wire, what comes back, how
aiohttp's exceptions map to the client's, and its own timeouts' ``may_have_applied``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from aioresponses import CallbackResult, aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from voxkv_async import (
    AiohttpTransport,
    ClientClosedError,
    ConnectError,
    IncompleteResponseError,
    Limits,
    ProtocolError,
    Request,
    RequestTimeoutError,
    TLSVerificationError,
    TransportError,
    VoxKVError,
)

from _support import ITEM, SET_URL, TLS, make_kv

HEADERS = {"Authorization": "Bearer t0k3n", "Content-Type": "application/x-www-form-urlencoded"}
KEY = ConnectionKey("api.test", 443, True, True, None, None, None)
INFO = RequestInfo(URL(SET_URL), "POST", CIMultiDictProxy(CIMultiDict()), URL(SET_URL))


def request(body: bytes = b"application_id=77&key=ns%3Ak&value=v&ttl=60") -> Request:
    return Request("SetKeyValueItem", SET_URL, HEADERS, body)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport(ssl=TLS)
    yield t
    await t.aclose()


async def test_the_request_goes_out_as_given(mocked: aioresponses, transport) -> None:
    seen: dict[str, Any] = {}

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        seen.update(kwargs, url=url)
        return CallbackResult(status=200, payload={"result": ITEM}, headers={"Date": "now"})

    mocked.post(SET_URL, callback=answer)
    response = await transport.send(request(), timeout=5)
    assert seen["url"] == URL(SET_URL)
    assert seen["data"] == request().body
    assert dict(seen["headers"]) == HEADERS
    assert seen["allow_redirects"] is False
    assert seen["timeout"].total == 5
    assert response.status == 200
    assert response.headers["date"] == "now"  # read without regard to case
    assert b'"result"' in response.content


async def test_an_error_status_is_an_answer(mocked: aioresponses, transport) -> None:
    mocked.post(SET_URL, status=503, body="busy")
    response = await transport.send(request(), timeout=5)
    assert (response.status, response.content) == (503, b"busy")


async def test_an_answer_over_the_size_limit(mocked: aioresponses) -> None:
    mocked.post(SET_URL, body="x" * 2000)
    t = AiohttpTransport(ssl=TLS, limits=Limits(max_response_bytes=1000))
    try:
        with pytest.raises(ProtocolError, match="larger than the 1000-byte limit"):
            await t.send(request(), timeout=5)
    finally:
        await t.aclose()


# Every row of the table: aiohttp's exception, ours, and may_have_applied.
FAILURES = [
    (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad")),
     TLSVerificationError, False),
    (aiohttp.ConnectionTimeoutError("connect"), RequestTimeoutError, False),
    (aiohttp.SocketTimeoutError("read"), RequestTimeoutError, True),
    (aiohttp.ClientPayloadError("cut"), IncompleteResponseError, True),
    (aiohttp.ClientResponseError(INFO, (), status=200, message="bad header"), ProtocolError,
     False),
    (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")), ConnectError,
     False),
    (aiohttp.ServerDisconnectedError(), ConnectError, True),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), ConnectError, True),
    (aiohttp.InvalidURL("no url"), TransportError, True),
    # The total time limit (a plain TimeoutError): the request may have left.
    (TimeoutError(), RequestTimeoutError, True),
]


@pytest.mark.parametrize(("raised", "ours", "applied"), FAILURES,
                         ids=[type(row[0]).__name__ for row in FAILURES])
async def test_aiohttps_failures_map_to_ours(mocked: aioresponses, transport, raised, ours,
                                             applied) -> None:
    mocked.post(SET_URL, exception=raised)
    with pytest.raises(VoxKVError) as caught:
        await transport.send(request(), timeout=5)
    assert type(caught.value) is ours
    assert caught.value.may_have_applied is applied
    assert str(caught.value).startswith("SetKeyValueItem")
    # Response errors hold the request's headers, token included: never chained.
    if isinstance(raised, aiohttp.ClientResponseError):
        assert caught.value.__cause__ is None


async def test_closing_while_a_request_runs(mocked: aioresponses, transport) -> None:
    async def close_then_fail(url: URL, **kwargs: Any) -> CallbackResult:
        await transport.aclose()
        raise aiohttp.ServerDisconnectedError()

    mocked.post(SET_URL, callback=close_then_fail)
    with pytest.raises(ClientClosedError, match="closed while the call ran"):
        await transport.send(request(), timeout=5)


async def holding_the_only_connection(mocked: aioresponses) -> asyncio.Event:
    """An answer that waits for the event: the first request keeps its slot until then."""
    release = asyncio.Event()

    async def hold(url: URL, **kwargs: Any) -> CallbackResult:
        await release.wait()
        return CallbackResult(status=200, payload={"result": ITEM})

    mocked.post(SET_URL, callback=hold, repeat=True)
    return release


async def test_no_free_connection_in_time_sent_nothing(mocked: aioresponses) -> None:
    release = await holding_the_only_connection(mocked)
    t = AiohttpTransport(ssl=TLS, limits=Limits(max_connections=1))
    first = asyncio.create_task(t.send(request(), timeout=5))
    await asyncio.sleep(0.01)
    with pytest.raises(RequestTimeoutError, match=r"no free connection within 0\.05 s") as caught:
        await t.send(request(), timeout=0.05)
    release.set()
    assert (await first).status == 200
    await t.aclose()
    assert caught.value.may_have_applied is False


async def test_a_calls_timeout_spent_waiting_for_a_connection_sent_nothing(
    credentials, mocked: aioresponses
) -> None:
    # The call's own timeout= ends the wait for a slot: the transport's timeout, which
    # knows nothing left, fires before the call's safety net.
    release = await holding_the_only_connection(mocked)
    async with make_kv(credentials, limits=Limits(max_connections=1)) as kv:
        first = asyncio.create_task(kv.set("ns:a", "v"))
        await asyncio.sleep(0.01)
        with pytest.raises(RequestTimeoutError, match="no free connection") as caught:
            await kv.set("ns:b", "v", timeout=0.1)
        release.set()
        await first
    assert caught.value.may_have_applied is False
