"""Every fault kind, seen from a raw aiohttp client (no retry logic in the way)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from voxkv_async.emulator import FAULT_KINDS, Emulator, Faults

from .conftest import Api

SET = {"key": "k", "value": "v"}


async def test_http_503_has_a_non_json_body(api: Api) -> None:
    api.emu.faults = Faults(http_503=1.0)
    status, body = await api.call("SetKeyValueItem", **SET)
    assert status == 503
    assert "503" in body
    assert api.emu.items() == {}


async def test_http_429_sends_retry_after(api: Api) -> None:
    api.emu.faults = Faults(http_429=1.0, retry_after=7)
    async with api.session.post(
        f"{api.emu.base_url}/GetKeyValueItem",
        data={"key": "k", "application_id": "1"},
        ssl=api.emu.ssl_context,
    ) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"


@pytest.mark.parametrize(("kind", "code"), [("code_2", 2), ("code_340", 340), ("code_416", 416)])
async def test_api_error_codes(api: Api, kind: str, code: int) -> None:
    api.emu.faults = Faults(**{kind: 1.0}, retry_after=3)
    status, body = await api.call("SetKeyValueItem", **SET)
    assert status == 200
    assert body["error"]["code"] == code
    assert api.emu.items() == {}
    assert api.emu.stats.faults == {kind: 1}


async def test_416_names_the_delay(api: Api) -> None:
    api.emu.faults = Faults(code_416=1.0, retry_after=3)
    _, body = await api.call("GetKeyValueItem", key="k")
    assert body["error"]["msg"] == "Repeat the request after 3 seconds"


async def test_slow_answers_trip_client_timeouts(api: Api) -> None:
    api.emu.faults = Faults(slow=1.0, slow_seconds=2.0)
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.2):
            await api.call("SetKeyValueItem", **SET)
    api.emu.set_faults(slow_seconds=0.05)
    assert (await api.result("SetKeyValueItem", **SET))["value"] == "v"


async def test_drop_before_resets_without_applying(api: Api) -> None:
    api.emu.faults = Faults(drop_before=1.0)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await api.call("SetKeyValueItem", **SET)
    assert api.emu.items() == {}
    assert api.emu.stats.faults["drop_before"] == 1


async def test_drop_after_resets_after_applying(api: Api) -> None:
    api.emu.faults = Faults(drop_after=1.0)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await api.call("SetKeyValueItem", **SET)
    assert api.emu.items() == {"k": "v"}
    assert api.emu.stats.faults["drop_after"] == 1


async def test_late_apply_resets_first_and_applies_the_write_later(api: Api) -> None:
    api.emu.faults = Faults(drop_after=1.0, late_apply=0.3)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await api.call("SetKeyValueItem", **SET)
    assert api.emu.items() == {}  # the client gave up; the server is not done
    await asyncio.sleep(0.6)
    assert api.emu.items() == {"k": "v"}


async def test_a_reset_drops_the_writes_not_applied_yet(api: Api) -> None:
    api.emu.faults = Faults(drop_after=1.0, late_apply=0.3)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await api.call("SetKeyValueItem", **SET)
    api.emu.reset()
    await asyncio.sleep(0.6)
    assert api.emu.items() == {}


async def test_latency_and_jitter(api: Api) -> None:
    await api.result("GetKeyValueItem", key="k")  # connect first: time only the answer
    api.emu.faults = Faults(latency=0.1, jitter=0.05)
    started = time.perf_counter()
    await api.result("GetKeyValueItem", key="k")
    elapsed = time.perf_counter() - started
    assert 0.1 <= elapsed < 3.0  # the upper bound with a loaded CI machine's margin
    assert api.emu.stats.faults["latency"] == 1


async def test_faults_can_be_restricted_to_methods(api: Api) -> None:
    api.emu.faults = Faults(code_2=1.0, methods={"SetKeyValueItem"})
    assert await api.result("GetKeyValueItem", key="k") is None
    assert await api.error("SetKeyValueItem", **SET) == 2


async def test_rates_are_honoured_and_seeded(session: aiohttp.ClientSession) -> None:
    async def run(seed: int) -> list[int]:
        async with Emulator(seed=seed, faults=Faults(code_2=0.3, code_340=0.2)) as emu:
            api = Api(emu, session)
            answers = [await api.call("GetKeyValueItem", key="k") for _ in range(200)]
            return [body.get("error", {}).get("code", 0) for _, body in answers]

    first, second = await run(7), await run(7)
    assert first == second
    assert 40 <= first.count(2) <= 80
    assert 20 <= first.count(340) <= 60
    assert first != await run(8)


def test_rates_must_add_up_to_at_most_one() -> None:
    with pytest.raises(ValueError, match="add up"):
        Faults(http_503=0.6, drop_after=0.5)
    with pytest.raises(ValueError):
        Faults(http_429=1.5)


def test_spread_shares_the_rate_between_kinds() -> None:
    faults = Faults.spread(0.7, latency=0.01)
    assert faults.total_rate == pytest.approx(0.7)
    assert faults.slow == 0.0
    assert faults.http_503 == pytest.approx(0.1)
    assert set(FAULT_KINDS) - {"slow"} == {k for k in FAULT_KINDS if getattr(faults, k)}
