"""Lifecycle: open on first use, close once (idempotently), use after close.

A caller-owned session against a real server: tests/e2e/test_caller_session.py.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
from aioresponses import aioresponses

from voxkv_async import KeyValueItem

from _support import GET_URL, ITEM, make_kv


async def test_close_is_idempotent(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"result": ITEM})
    kv = make_kv(credentials, mock_api)
    async with kv as entered:
        assert entered is kv
        assert not kv.closed
        await kv.get("ns:k")
    assert kv.closed
    await kv.close()
    await kv.close()
    assert kv.closed


async def test_close_before_any_use(credentials) -> None:
    kv = make_kv(credentials)
    await kv.close()
    await kv.close()
    assert kv.closed


@pytest.mark.parametrize("call", ["get", "delete", "set", "items", "keys"])
async def test_use_after_close_raises_runtime_error(credentials, mock_api, call) -> None:
    mock_api.post(GET_URL, payload={"result": ITEM})
    kv = make_kv(credentials, mock_api)
    async with kv:
        await kv.get("ns:k")
    args = {"get": ("ns:k",), "delete": ("ns:k",), "set": ("ns:k", "v"), "items": ("ns:",),
            "keys": ()}[call]
    with pytest.raises(RuntimeError, match="closed"):
        await getattr(kv, call)(*args)
    assert len(mock_api.requests) == 1


async def test_reentering_a_closed_client_raises(credentials) -> None:
    kv = make_kv(credentials)
    async with kv:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        async with kv:
            pass


async def test_no_unclosed_session_warning(credentials, mocked) -> None:
    # The aiohttp transport's session: on aioresponses.
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


async def test_use_after_close_is_a_typed_error(credentials, mock_api) -> None:
    from voxkv_async import ClientClosedError, VoxKVError

    kv = make_kv(credentials, mock_api)
    await kv.close()
    with pytest.raises(ClientClosedError) as got:
        await kv.get("ns:k")
    assert isinstance(got.value, VoxKVError)
    assert isinstance(got.value, RuntimeError)
