"""The control endpoints under /_emulator (loopback only)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from voxkv_async.emulator import Emulator, Faults
from voxkv_async.emulator._app import is_loopback

from .conftest import Api


async def control(api: Api, verb: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with api.session.request(
        verb, f"{api.emu.control_url}/{path}", json=body, ssl=api.emu.ssl_context
    ) as resp:
        return resp.status, await resp.json()


async def test_stats_store_and_reset(api: Api) -> None:
    await api.result("SetKeyValueItem", key="a:1", value="x", ttl=60)
    await api.call("GetKeyValueItem", key="a:1", authorization=None)
    status, stats = await control(api, "GET", "stats")
    assert status == 200
    assert stats["requests"] == {"SetKeyValueItem": 1, "GetKeyValueItem": 1}
    assert stats["total_requests"] == 2
    assert stats["connections"] == 1
    assert stats["distinct_tokens"] == 1
    assert stats["signature_checks"] == 1
    assert stats["errors"] == {"447": 1}
    assert api.token not in json.dumps(stats)

    _, store = await control(api, "GET", "store")
    assert [i["key"] for i in store[str(api.emu.application_id)]] == ["a:1"]

    assert await control(api, "POST", "reset") == (200, {"ok": True})
    assert api.emu.items() == {}
    assert api.emu.stats.total_requests == 0


async def test_faults_at_run_time(api: Api) -> None:
    status, faults = await control(api, "POST", "faults", {"code_340": 1.0, "seed": 3})
    assert status == 200
    assert faults["code_340"] == 1.0
    assert api.emu.faults == Faults(code_340=1.0)
    assert await api.error("GetKeyValueItem", key="k") == 340
    _, faults = await control(api, "GET", "faults")
    assert faults["code_340"] == 1.0
    assert faults["methods"] is None


async def test_modes_at_run_time(api: Api) -> None:
    status, modes = await control(api, "POST", "modes", {"missing_get": "empty"})
    assert status == 200
    assert modes["missing_get"] == "empty"
    assert await api.result("GetKeyValueItem", key="k") == {}
    assert (await control(api, "GET", "modes"))[1] == modes


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("faults", {"http_503": 2}),
        ("faults", {"bogus": 1}),
        ("faults", [1]),
        ("modes", {"keys_shape": "tuples"}),
        ("modes", "null"),
    ],
)
async def test_bad_settings_are_400(api: Api, path: str, body: Any) -> None:
    before = (api.emu.faults, api.emu.modes)
    status, answer = await control(api, "POST", path, body)
    assert status == 400
    assert "error" in answer
    assert (api.emu.faults, api.emu.modes) == before


async def test_control_endpoints_refuse_other_peers() -> None:
    emu = Emulator(tls=False)
    from voxkv_async.emulator._app import make_app

    app = make_app(emu._core)
    transport = _FakeTransport(("192.0.2.1", 5555))
    request = make_mocked_request("GET", "/_emulator/stats", app=app, transport=transport)
    match = await app.router.resolve(request)
    request._match_info = match
    handler = app.middlewares[0]
    response = await handler(request, match.handler)
    assert response.status == 403


@pytest.mark.parametrize(
    ("remote", "ok"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("192.0.2.1", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_is_loopback(remote: str | None, ok: bool) -> None:
    assert is_loopback(remote) is ok


class _FakeTransport:
    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def is_closing(self) -> bool:
        return False


async def test_api_is_not_a_control_endpoint(session: aiohttp.ClientSession) -> None:
    async with Emulator(tls=False) as emu, session.get(f"{emu.control_url}/nope") as resp:
        assert resp.status == 404
