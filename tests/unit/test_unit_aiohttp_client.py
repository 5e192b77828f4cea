"""The client over its default transport, aiohttp, mocked with aioresponses: what only
that transport does (its exceptions as the client's errors, its session, its response
size limit). Everything above the transport is tested on MockTransport (the other
files here); the transport alone in test_aiohttp_transport.py."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings

import aiohttp
import pytest
from aioresponses import aioresponses

from voxkv_async import (
    ConnectError,
    KeyValueItem,
    Limits,
    ProtocolError,
    RequestTimeoutError,
)

from _support import GET_URL, ITEM, SET_URL, everything_said, make_kv

SECRET = "TOP-SECRET-VALUE-42"


async def test_connection_error_class_and_message(credentials, mocked) -> None:
    mocked.post(SET_URL, exception=aiohttp.ClientOSError(111, "Connection refused"))
    async with make_kv(credentials) as kv:
        with pytest.raises(ConnectError) as info:
            await kv.set("ns:key", SECRET)
        assert kv.stats.errors == {"ConnectError": 1}
    assert "SetKeyValueItem" in str(info.value)
    assert SECRET not in everything_said(info.value)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_timeout_error_class(credentials, mocked) -> None:
    mocked.post(SET_URL, exception=TimeoutError())
    async with make_kv(credentials) as kv:
        with pytest.raises(RequestTimeoutError) as info:
            await kv.set("ns:key", "v")
    assert isinstance(info.value, TimeoutError)


async def test_no_unclosed_session_warning(credentials, mocked) -> None:

    mocked.post(GET_URL, payload={"result": ITEM})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with make_kv(credentials) as kv:
            await kv.get("ns:k")
        del kv
        gc.collect()
        await asyncio.sleep(0)
    assert [w for w in caught if "nclosed" in str(w.message)] == []


def test_client_made_outside_a_loop_works_inside_one(credentials) -> None:
    kv = make_kv(credentials)  # no running loop here

    async def use() -> KeyValueItem | None:
        with aioresponses() as m:
            m.post(GET_URL, payload={"result": ITEM})
            try:
                return await kv.get("ns:k")
            finally:
                await kv.close()

    assert asyncio.run(use()) == KeyValueItem("ns:k", "v", 1_900_000_000)
    assert kv.closed


def test_client_made_outside_a_loop_works_with_async_with(credentials) -> None:
    kv = make_kv(credentials)

    async def use() -> int:
        with aioresponses() as m:
            m.post(GET_URL, payload={"result": ITEM})
            async with kv:
                await kv.get("ns:k")
            return kv.stats.requests

    assert asyncio.run(use()) == 1


@pytest.mark.parametrize("with_length", [True, False])
async def test_body_over_limit_is_protocol_error(credentials, mocked, with_length) -> None:

    body = json.dumps({"result": {"key": "k", "value": "x" * 5000}})
    headers = {"Content-Length": str(len(body))} if with_length else None
    mocked.post(GET_URL, status=200, body=body, headers=headers)
    async with make_kv(credentials, limits=Limits(max_response_bytes=1000)) as kv:
        with pytest.raises(ProtocolError, match="1000-byte limit"):
            await kv.get("ns:k")
        assert kv.stats.requests == 1


async def test_body_under_limit_is_fine(credentials, mocked) -> None:
    body = json.dumps({"result": {"key": "k", "value": "x" * 500}})
    mocked.post(GET_URL, status=200, body=body)
    async with make_kv(credentials, limits=Limits(max_response_bytes=1000)) as kv:
        item = await kv.get("ns:k")
    assert item is not None
    assert len(item.value) == 500
