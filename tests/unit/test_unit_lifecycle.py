"""Lifecycle: open on first use, close once (idempotently), caller-owned sessions."""

from __future__ import annotations

import asyncio
import gc
import warnings
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import test_utils, web
from aioresponses import aioresponses

from voxkv_async import KeyValueItem, RetryPolicy, VoxKV

from _support import GET_URL, ITEM, make_kv


async def test_close_is_idempotent(credentials, mocked) -> None:
    mocked.post(GET_URL, payload={"result": ITEM})
    kv = make_kv(credentials)
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
async def test_use_after_close_raises_runtime_error(credentials, mocked, call) -> None:
    mocked.post(GET_URL, payload={"result": ITEM})
    kv = make_kv(credentials)
    async with kv:
        await kv.get("ns:k")
    args = {"get": ("ns:k",), "delete": ("ns:k",), "set": ("ns:k", "v"), "items": ("ns:",),
            "keys": ()}[call]
    with pytest.raises(RuntimeError, match="closed"):
        await getattr(kv, call)(*args)
    assert len(mocked.requests) == 1


async def test_reentering_a_closed_client_raises(credentials) -> None:
    kv = make_kv(credentials)
    async with kv:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        async with kv:
            pass


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


# --- a caller-supplied session, against a real loopback server -----------------------


@pytest.fixture
async def server():
    seen: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append({
            "path": request.path,
            "query": request.query_string,
            "form": parse_qs(body),
            "auth": request.headers.get("Authorization", ""),
            "ctype": request.headers.get("Content-Type", ""),
        })
        return web.json_response({"result": ITEM})

    app = web.Application()
    app.router.add_post("/platform_api/{method}", handler)
    srv = test_utils.TestServer(app, host="127.0.0.1")
    await srv.start_server()
    srv.seen = seen  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        await srv.close()


async def test_caller_session_is_used_and_not_closed(credentials, server) -> None:
    started: list[str] = []

    async def on_start(session, ctx, params) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    base = f"http://127.0.0.1:{server.port}/platform_api"
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        kv = VoxKV(credentials, application_id=77, base_url=base, session=session,
                   retry=RetryPolicy.disabled())
        async with kv:
            assert await kv.get("ns:k") == KeyValueItem("ns:k", "v", 1_900_000_000)
            await kv.set("ns:k", "v", ttl=5)
        assert kv.closed
        assert not session.closed
        assert started == [f"{base}/GetKeyValueItem", f"{base}/SetKeyValueItem"]
        # The session still works for its owner.
        async with session.post(f"{base}/GetKeyValueItem", data=b"") as resp:
            assert resp.status == 200
        with pytest.raises(RuntimeError):
            await kv.get("ns:k")
    seen = server.seen
    assert [s["path"] for s in seen[:2]] == [
        "/platform_api/GetKeyValueItem", "/platform_api/SetKeyValueItem"
    ]
    assert seen[0]["query"] == ""
    assert seen[0]["ctype"] == "application/x-www-form-urlencoded"
    assert seen[0]["auth"].startswith("Bearer ")
    assert seen[0]["form"] == {"application_id": ["77"], "key": ["ns:k"]}
    assert seen[1]["form"] == {"application_id": ["77"], "key": ["ns:k"], "value": ["v"],
                               "ttl": ["5"]}


async def test_own_session_over_real_loopback_http(credentials, server) -> None:
    base = f"http://127.0.0.1:{server.port}/platform_api"
    async with VoxKV(credentials, application_id=77, base_url=base) as kv:
        results = await asyncio.gather(*(kv.get(f"ns:{i}") for i in range(20)))
        assert all(r is not None for r in results)
        assert kv.stats.token_signings == 1
    assert len(server.seen) == 20
    assert len({s["auth"] for s in server.seen}) == 1


async def test_use_after_close_is_a_typed_error(credentials, mocked) -> None:
    from voxkv_async import ClientClosedError, VoxKVError

    kv = make_kv(credentials)
    await kv.close()
    with pytest.raises(ClientClosedError) as got:
        await kv.get("ns:k")
    assert isinstance(got.value, VoxKVError)
    assert isinstance(got.value, RuntimeError)
