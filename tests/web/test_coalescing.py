# ruff: noqa: SIM117 - the client is made from the emulator the outer block starts
"""Request coalescing over real sockets: shared answers, read-your-writes, cancellation."""

from __future__ import annotations

import asyncio
import random

import pytest

from voxkv_async import CallEnded, Event, RequestTimeoutError, RetryPolicy, ServerError
from voxkv_async.emulator import Emulator, Faults

from ._helpers import emulator_kv

pytestmark = pytest.mark.timeout(120)


async def test_thousand_concurrent_readers_of_one_key_share_a_request() -> None:
    async with Emulator(tls=True, faults=Faults(latency=0.02)) as emu, emulator_kv(emu) as kv:
        await kv.set("config:routing", "table-v1")
        emu.stats.reset()
        results = await asyncio.gather(*(kv.get("config:routing") for _ in range(1000)))
        assert {r.value for r in results if r is not None} == {"table-v1"}
        assert all(r is not None for r in results)
        assert emu.stats.requests["GetKeyValueItem"] <= 3
        assert kv.stats.coalesced >= 997
        assert kv._reads is not None
        assert kv._reads.in_flight == 0


async def test_readers_share_the_error_too() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.02, code_2=1.0)) as emu:
        async with emulator_kv(emu, retry=RetryPolicy.disabled()) as kv:
            results = await asyncio.gather(*(kv.get("k") for _ in range(100)),
                                           return_exceptions=True)
            assert all(isinstance(r, ServerError) for r in results)
            assert emu.stats.requests["GetKeyValueItem"] == 1


async def test_different_keys_are_not_coalesced() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.02)) as emu, emulator_kv(emu) as kv:
        await asyncio.gather(*(kv.get(f"k{i % 10}") for i in range(100)))
        assert emu.stats.requests["GetKeyValueItem"] == 10


async def test_coalesce_false_sends_every_request() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.02)) as emu:
        async with emulator_kv(emu, coalesce=False) as kv:
            await asyncio.gather(*(kv.get("k") for _ in range(50)))
            assert emu.stats.requests["GetKeyValueItem"] == 50
            assert kv.stats.coalesced == 0


async def test_a_call_with_its_own_retry_neither_joins_nor_leads() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.05)) as emu, emulator_kv(emu) as kv:
        own = RetryPolicy.for_testing()
        await asyncio.gather(kv.get("k"), kv.get("k", retry=own), kv.get("k"),
                             kv.get("k", retry=own))
        assert emu.stats.requests["GetKeyValueItem"] == 3  # 1 shared + 2 own


async def test_read_your_writes_under_concurrent_readers_and_jitter() -> None:
    faults = Faults(latency=0.002, jitter=0.02)
    async with Emulator(tls=False, faults=faults, seed=11) as emu, emulator_kv(emu) as kv:
        stop = asyncio.Event()
        rng = random.Random(3)

        async def reader() -> None:
            while not stop.is_set():
                await kv.get("hot")
                await asyncio.sleep(rng.random() * 0.005)

        readers = [asyncio.create_task(reader()) for _ in range(50)]
        try:
            for version in range(40):
                if version % 5 == 4:
                    assert await kv.delete("hot") is True  # the set before it stored it
                    assert await kv.get("hot") is None
                    continue
                await kv.set("hot", f"v{version}")
                # Started after the write completed: never an answer from before it.
                seen = await asyncio.gather(*(kv.get("hot") for _ in range(20)))
                assert {s.value for s in seen if s} == {f"v{version}"}, version
                assert all(s is not None for s in seen)
        finally:
            stop.set()
            await asyncio.gather(*readers)
        assert kv.stats.coalesced > 0


async def test_cancelling_one_waiter_cancels_nothing_for_the_others() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.2)) as emu, emulator_kv(emu) as kv:
        await kv.set("k", "v")
        tasks = [asyncio.create_task(kv.get("k")) for _ in range(10)]
        await asyncio.sleep(0.05)  # all ten are waiting on one request
        tasks[0].cancel()  # the one that started the request
        tasks[5].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert isinstance(results[5], asyncio.CancelledError)
        rest = [r for i, r in enumerate(results) if i not in (0, 5)]
        assert all(r is not None and r.value == "v" for r in rest)
        assert emu.stats.requests["GetKeyValueItem"] == 1


async def test_the_request_is_cancelled_when_every_waiter_is() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.5)) as emu, emulator_kv(emu) as kv:
        seen: list[Event] = []
        kv.events.subscribe(seen.append)
        before = asyncio.all_tasks()
        tasks = [asyncio.create_task(kv.get("k")) for _ in range(3)]
        await asyncio.sleep(0.05)
        shared = asyncio.all_tasks() - before - set(tasks) - {asyncio.current_task()}
        assert shared  # the shared request runs as a task of its own
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _ in range(5):
            await asyncio.sleep(0)
        # The shared request's task is cancelled too (and the emulator's handler of it
        # ends with the dropped connection).
        assert [t for t in shared if not t.done()] == []
        (ended,) = [e for e in seen if isinstance(e, CallEnded)]
        assert isinstance(ended.error, asyncio.CancelledError)
        # A later reader starts afresh instead of joining a cancelled request.
        assert await kv.get("k") is None


async def test_a_waiter_with_its_own_timeout_gives_up_alone() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.3)) as emu, emulator_kv(emu) as kv:
        await kv.set("k", "v")
        patient = asyncio.create_task(kv.get("k"))
        await asyncio.sleep(0.01)
        with pytest.raises(RequestTimeoutError):
            await kv.get("k", timeout=0.05)
        item = await patient
        assert item is not None
        assert item.value == "v"
        assert emu.stats.requests["GetKeyValueItem"] == 1


async def test_a_waiter_out_of_time_is_told_the_shared_requests_last_error() -> None:
    # Issue 18 item 4: the shared request failed an attempt (HTTP 503) and waits to
    # retry; a caller sharing it runs out of its own time. Its RequestTimeoutError is
    # chained from that 503, as a caller with a request of its own would be.
    async with Emulator(tls=False, faults=Faults(http_503=1.0)) as emu, \
            emulator_kv(emu, retry=RetryPolicy(max_attempts=3, base=30, max_wait=30)) as kv:
        patient = asyncio.create_task(kv.get("k"))
        await asyncio.sleep(0)
        with pytest.raises(RequestTimeoutError) as info:
            await kv.get("k", timeout=0.5)
        assert isinstance(info.value.__cause__, ServerError)
        assert info.value.__cause__.status == 503
        assert kv.stats.coalesced == 1
        patient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await patient
