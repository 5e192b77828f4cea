"""Lifecycle: open on first use, close once (idempotently), use after close.

A caller-owned session against a real server: tests/e2e/test_caller_session.py.
"""

from __future__ import annotations

import pytest

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


async def test_use_after_close_is_a_typed_error(credentials, mock_api) -> None:
    from voxkv_async import ClientClosedError, VoxKVError

    kv = make_kv(credentials, mock_api)
    await kv.close()
    with pytest.raises(ClientClosedError) as got:
        await kv.get("ns:k")
    assert isinstance(got.value, VoxKVError)
    assert isinstance(got.value, RuntimeError)
