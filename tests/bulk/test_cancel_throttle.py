"""Cancelling a run, and the adaptive slow-down on throttling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxkv_async import RetryPolicy, VoxKV
from voxkv_async._bulk import AdaptiveRate, BulkReport, set_many
from voxkv_async.emulator import Emulator, Faults


def client_tasks() -> set[asyncio.Task[object]]:
    """The loop's tasks but the in-process emulator's (its handlers outlive a request)."""
    return {t for t in asyncio.all_tasks()
            if not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")}


async def test_cancel_stops_promptly_and_the_completed_items_are_known(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    voxkv_emulator.faults = Faults(latency=0.005)
    closed = asyncio.Event()

    async def items() -> AsyncIterator[tuple[str, str]]:
        try:
            for i in range(100_000):
                yield f"c:{i}", str(i)
        finally:
            closed.set()

    before = client_tasks()
    report = BulkReport()
    reached = asyncio.Event()

    def watch(r: BulkReport) -> None:
        if r.done >= 300:
            reached.set()

    run = asyncio.create_task(set_many(voxkv_client, items(), concurrency=16, report=report,
                                       progress=watch, progress_interval=0))
    await reached.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 2.0)

    assert client_tasks() == before
    assert closed.is_set()
    assert report.cancelled
    assert report.finished_at is not None
    assert report.total < 1000  # the producer stopped with the queue, not the input
    unfinished = {i for i, _ in report.unfinished}
    assert len(unfinished) <= 3 * 16 + 1  # queue + workers + the one being put
    assert report.done + len(unfinished) == report.total
    succeeded = set(range(report.total)) - unfinished - {f.index for f in report.failures}
    stored = voxkv_emulator.items()
    assert all(stored[f"c:{i}"] == str(i) for i in succeeded)
    assert set(stored) <= {f"c:{i}" for i in succeeded | unfinished}


def test_adaptive_rate_drops_on_throttle_and_recovers_cubically() -> None:
    now = [0.0]
    rate = AdaptiveRate(clock=lambda: now[0])
    for _ in range(200):  # 100 answers/s for 2 s: dormant, only measuring
        now[0] += 0.01
        rate.on_success()
    assert not rate.enabled
    assert rate.rate == float("inf")
    assert 90 < rate.measured_rate < 110

    rate.on_throttle()
    assert rate.enabled
    assert rate.rate == pytest.approx(0.7 * rate.last_max_rate)
    low = rate.rate
    peak = rate.last_max_rate
    for _ in range(1000):  # 10 s of successes at the paced rate
        now[0] += 1 / max(rate.rate, 1)
        rate.on_success()
        if now[0] > 12:
            break
    assert rate.rate > low
    assert rate.rate >= peak * 0.99  # back at the rate it was throttled at, past K


def test_a_burst_of_throttles_is_one_decrease() -> None:
    now = [0.0]
    rate = AdaptiveRate(clock=lambda: now[0], cooldown=0.5)
    for _ in range(200):
        now[0] += 0.01
        rate.on_success()
    for _ in range(64):  # every in-flight request answered "slow down" at once
        now[0] += 0.001
        rate.on_throttle()
    assert rate.throttles == 64
    assert rate.rate == pytest.approx(0.7 * rate.last_max_rate)
    now[0] += 0.6  # a throttle after the cooldown is a new congestion event
    rate.on_throttle()
    assert rate.rate < 0.7 * 0.7 * 100 * 1.05


async def _throttle_burst(kv: VoxKV, emu: Emulator, adaptive: AdaptiveRate) -> tuple[
        BulkReport, float, float]:
    """After 100 items, 30 % HTTP 429 until the client has slowed down twice, then none."""
    marks: dict[str, float] = {}

    def watch(report: BulkReport) -> None:
        if report.done >= 100 and "burst" not in marks:
            marks["burst"] = adaptive.measured_rate
            emu.faults = Faults(http_429=0.3, retry_after=0)
        if adaptive.throttles >= 1 and "first" not in marks:
            marks["first"] = adaptive.last_max_rate
        if adaptive.throttles >= 2 and "low" not in marks:
            marks["low"] = adaptive.rate
            emu.faults = Faults()  # the burst is over

    report = await set_many(kv, ((f"t:{i}", "v") for i in range(400)), concurrency=8,
                            adaptive=adaptive, progress=watch, progress_interval=0)
    return report, marks["first"], marks["low"]


async def test_429_burst_slows_the_client_then_it_speeds_up(voxkv_emulator: Emulator) -> None:
    # Retrying off: every throttle reaches the report as a failure, so they can be counted.
    adaptive = AdaptiveRate(min_rate=50)
    async with VoxKV(voxkv_emulator.credentials, voxkv_emulator.application_id,
                     base_url=voxkv_emulator.base_url, ssl=voxkv_emulator.ssl_context,
                     retry=RetryPolicy.disabled()) as kv:
        report, first, low = await _throttle_burst(kv, voxkv_emulator, adaptive)
    assert adaptive.enabled
    assert adaptive.throttles >= 2
    assert low < first  # slowed down
    assert adaptive.rate > adaptive.last_max_rate * 0.7  # and growing again since
    assert report.failed == voxkv_emulator.stats.faults["http_429"]
    assert report.succeeded + report.failed == 400


async def test_throttles_absorbed_by_retries_still_slow_the_client(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    adaptive = AdaptiveRate(min_rate=50)
    report, first, low = await _throttle_burst(voxkv_client, voxkv_emulator, adaptive)
    assert report.succeeded == 400
    assert voxkv_client.stats.retries >= adaptive.throttles >= 2  # seen through the hook
    assert voxkv_client._retrier.hooks == []  # and unhooked after the run
    assert low < first
    assert adaptive.rate > adaptive.last_max_rate * 0.7
