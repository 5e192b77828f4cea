"""A caller-supplied aiohttp session, and the client's own, against a real loopback server:
what goes on the wire, and who closes what."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import aiohttp
import pytest
from _mock_api import ITEM
from aiohttp import test_utils, web

from voxkv_async import KeyValueItem, RetryPolicy, VoxKV


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
