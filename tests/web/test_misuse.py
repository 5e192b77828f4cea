"""Our own errors for misuse; the fixture's clock; one unit for latency and jitter."""

from __future__ import annotations

import argparse
import asyncio
import gc
import threading
import warnings
from typing import Any

import pytest

from voxkv_async import VoxKV, VoxKVError, WrongEventLoopError
from voxkv_async.cli._emulator import duration
from voxkv_async.emulator import Emulator, FakeClock, Faults

from ._helpers import emulator_kv


def test_a_client_used_from_another_loop_says_so() -> None:
    emu = Emulator(tls=False)

    async def second(kv: VoxKV) -> BaseException | None:
        try:
            await kv.get("k")
        except BaseException as exc:
            return exc
        return None

    with asyncio.Runner() as runner_a, asyncio.Runner() as runner_b:
        runner_a.run(emu.start())
        clients = [emulator_kv(emu), emulator_kv(emu, coalesce=False)]
        try:
            for kv in clients:
                runner_a.run(kv.__aenter__())
                runner_a.run(kv.set("k", "v"))
                outcome = runner_b.run(second(kv))
                assert isinstance(outcome, WrongEventLoopError), repr(outcome)
                assert isinstance(outcome, VoxKVError)
                assert isinstance(outcome, RuntimeError)
                assert "another event loop" in str(outcome)
        finally:
            for kv in clients:
                runner_a.run(kv.close())
            runner_a.run(emu.stop())


def test_a_client_used_from_another_thread_says_so() -> None:
    async def main() -> None:
        async with Emulator(tls=False) as emu, emulator_kv(emu) as kv:
            await kv.set("k", "v")
            caught: list[BaseException] = []

            def other_thread() -> None:
                try:
                    asyncio.run(kv.get("k"))
                except BaseException as exc:
                    caught.append(exc)

            thread = threading.Thread(target=other_thread)
            thread.start()
            await asyncio.to_thread(thread.join)
            assert len(caught) == 1
            assert isinstance(caught[0], WrongEventLoopError)

    asyncio.run(main())


async def test_a_client_collected_open_warns_once_in_its_own_words() -> None:
    async with Emulator(tls=False) as emu:
        kv = emulator_kv(emu)
        await kv.set("k", "v")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            session = kv.transport._session
            del kv
            gc.collect()
            ours = [w for w in caught if "garbage-collected while open" in str(w.message)]
            assert len(ours) == 1
            assert issubclass(ours[0].category, ResourceWarning)
            assert "await kv.close()" in str(ours[0].message)
            assert "async with" in str(ours[0].message)
            assert session is not None
            await session.close()  # what the user forgot, so the test leaks nothing
            del session
            gc.collect()


async def test_closed_or_never_opened_clients_do_not_warn() -> None:
    async with Emulator(tls=False) as emu:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with emulator_kv(emu) as kv:
                await kv.get("k")
            del kv
            never = emulator_kv(emu)
            del never
            gc.collect()
        assert [w for w in caught if "garbage-collected" in str(w.message)] == []


@pytest.fixture
def voxkv_emulator_options() -> dict[str, Any]:
    return {"clock": FakeClock(), "tls": False}


async def test_the_fixture_exposes_the_emulators_clock(voxkv_client: VoxKV,
                                                       voxkv_emulator: Emulator) -> None:
    assert isinstance(voxkv_emulator.clock, FakeClock)
    await voxkv_client.set("k", "v", ttl=60)
    voxkv_emulator.clock.advance(61)
    assert await voxkv_client.get("k") is None


@pytest.mark.parametrize(("text", "seconds"), [("0.02", 0.02), ("20ms", 0.02), ("0.5s", 0.5),
                                               ("1e-3", 0.001), (" 5 ms ", 0.005)])
def test_cli_durations_are_seconds_or_carry_a_unit(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ms", "20 minutes", "-1", "fast"])
def test_cli_durations_refuse_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_cli_latency_and_jitter_reach_faults_in_seconds(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from voxkv_async.cli import _emulator

    seen: dict[str, Faults] = {}

    def fake_run(coro: Any, args: Any) -> int:
        seen["faults"] = coro.cr_frame.f_locals["faults"]
        coro.close()
        return 0

    monkeypatch.setattr(_emulator, "run_coroutine", fake_run)
    from voxkv_async.cli import main

    assert main(["emulator", "--latency", "20ms", "--jitter", "0.005",
                 "--slow-seconds", "250ms"]) == 0
    faults = seen["faults"]
    assert faults.latency == pytest.approx(Faults(latency=0.02).latency)
    assert faults.jitter == pytest.approx(0.005)
    assert faults.slow_seconds == pytest.approx(0.25)
