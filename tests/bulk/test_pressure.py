"""Bulk runs under a real server's pressure, over real sockets against the emulator.

One test per row of issue 10's table: throttling that follows our rate (a server-side
limit) and throttling that does not (a random share), an outage in the middle of a run,
the same key twice under network jitter, a run whose every call is refused, and the
unknown outcomes of attempts that may have been applied. Each asserts correctness: no
item failed or lost, the store equals what the report says, requests bounded. Timings
and goodput are measured in ``benchmarks/pressure.py``, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from voxkv_async import (
    ApplicationNotFoundError,
    AuthenticationError,
    BulkAbortedError,
    BulkReport,
    Credentials,
    RetryPolicy,
    Timeouts,
    VoxKV,
)
from voxkv_async.emulator import (
    Emulator,
    EmulatorModes,
    Faults,
    RateLimit,
    generate_credentials,
)


def pairs(n: int, prefix: str = "p") -> Iterator[tuple[str, str]]:
    return ((f"{prefix}:{i}", f"v{i}") for i in range(n))


def client(emu: Emulator, credentials: Credentials | None = None, **options: Any) -> VoxKV:
    return VoxKV(credentials or emu.credentials, emu.application_id, base_url=emu.base_url,
                 ssl=emu.ssl_context, **options)


def set_requests(emu: Emulator) -> int:
    return int(emu.stats.requests["SetKeyValueItem"])


def assert_store_matches(report: BulkReport, emu: Emulator, expected: dict[str, str]) -> None:
    """Nothing lost, nothing counted twice: the store is exactly what succeeded."""
    assert report.failed == 0, [repr(f.error) for f in report.failures[:3]]
    assert report.succeeded == report.total == len(expected)
    assert not report.unfinished
    assert not report.not_attempted
    assert emu.items() == expected


@pytest.mark.parametrize("answer", ["code_340", "http_429", "code_416"])
async def test_a_server_side_rate_limit_is_followed_and_nothing_fails(answer: str) -> None:
    limit = RateLimit(rate=300, answer=answer)
    async with Emulator(tls=True, faults=Faults(latency=0.005), rate_limit=limit) as emu, \
            client(emu) as kv:
        report = await kv.set_many(pairs(1500), concurrency=64)
        assert_store_matches(report, emu, dict(pairs(1500)))
        assert report.throttled == emu.stats.throttled > 0
        # The pacer found the limit: throttled requests stay a fraction of the run, not
        # the 70 %+ an unpaced run at 64 in flight meets (the figures: benchmarks/pressure).
        assert set_requests(emu) < 1.5 * 1500


async def test_random_throttles_and_faults_do_not_fail_items() -> None:
    # 20 % faults, of which 7.5 % are throttles whatever our rate: another application on
    # the account, a shared gateway. Every item must still be written.
    faults = Faults(http_503=0.05, code_2=0.04, drop_before=0.015, drop_after=0.02,
                    code_340=0.0375, http_429=0.0375, retry_after=0, latency=0.002)
    async with Emulator(tls=True, seed=3, faults=faults) as emu, client(emu) as kv:
        report = await kv.set_many(pairs(3000), concurrency=64)
        assert_store_matches(report, emu, dict(pairs(3000)))
        assert report.throttled > 0
        assert report.retried >= emu.stats.faults["http_503"]
        # The pacer saw throttles, but slowing down does not lower a random share: it
        # must not have collapsed (the run would crawl at a few items/s).
        assert report.throttled < 0.15 * set_requests(emu)


async def test_an_outage_mid_run_pauses_the_run_and_nothing_fails() -> None:
    async with Emulator(tls=True, faults=Faults(latency=0.002)) as emu, client(emu) as kv:
        report = BulkReport()
        thousand_done = asyncio.Event()

        def watch(progress: BulkReport) -> None:
            if progress.done >= 1000:
                thousand_done.set()

        async def outage() -> None:
            await thousand_done.wait()
            await emu.stop()
            await asyncio.sleep(3.0)
            await emu.start()

        down = asyncio.create_task(outage())
        await kv.set_many(pairs(4000), concurrency=64, report=report, progress=watch,
                          progress_interval=0)
        await down
        assert_store_matches(report, emu, dict(pairs(4000)))
        assert report.pauses >= 1
        assert report.paused_seconds > 1.0
        # The breaker probed instead of every item hammering the dead server.
        assert kv.stats.errors["ConnectError"] < 400


async def test_the_later_value_of_a_key_always_wins_under_jitter() -> None:
    # Each key twice: the later row 40 items after the earlier. 20 ms of network jitter
    # lets requests overtake each other; the engine holds the later one back.
    keys = [f"d:{i}" for i in range(300)]
    mixed: list[tuple[str, str]] = []
    for i in range(len(keys) + 40):
        if i < len(keys):
            mixed.append((keys[i], "early"))
        if i >= 40:
            mixed.append((keys[i - 40], "late"))
    faults = Faults(latency=0.001, jitter=0.02)
    async with Emulator(tls=True, seed=5, faults=faults) as emu, client(emu) as kv:
        report = await kv.set_many(mixed, concurrency=64)
        assert report.failed == 0
        assert report.succeeded == 600
        assert emu.items() == dict.fromkeys(keys, "late")


async def test_a_run_whose_every_call_is_refused_stops_at_once() -> None:
    async with Emulator(tls=True) as emu, client(emu, generate_credentials()) as kv:
        report = BulkReport()
        with pytest.raises(BulkAbortedError) as caught:
            await kv.set_many(pairs(20_000), concurrency=64, report=report)
        assert isinstance(caught.value.cause, AuthenticationError)
        assert "stopped early" in str(caught.value)
        # One attempt (and its one re-signing) before fanning out: not 20,000 failures.
        assert sum(emu.stats.requests.values()) <= 4
        assert report.failed == 1
        assert report.total - report.failed == len(report.not_attempted) < 20_000
        assert report.stopped_by is caught.value.cause
        assert emu.items() == {}


async def test_an_unknown_application_stops_the_run_with_the_cause() -> None:
    async with Emulator(tls=True, modes=EmulatorModes(unknown_application="error")) as emu:
        async with VoxKV(emu.credentials, emu.application_id + 1, base_url=emu.base_url,
                         ssl=emu.ssl_context) as kv:
            with pytest.raises(BulkAbortedError) as caught:
                await kv.delete_many((f"k:{i}" for i in range(5000)), concurrency=32)
        assert isinstance(caught.value.cause, ApplicationNotFoundError)
        assert sum(emu.stats.requests.values()) <= 2


async def test_unknown_outcomes_are_named_and_verify_settles_them() -> None:
    # The connection drops after the emulator applied the Set: the client cannot know.
    faults = Faults(drop_after=0.3, methods={"SetKeyValueItem"})
    async with Emulator(tls=True, seed=11, faults=faults) as emu, client(emu) as kv:
        report = await kv.set_many(pairs(200), concurrency=16,
                                   retry=RetryPolicy(max_attempts=1))
        unknown = report.outcome_unknown
        assert unknown
        assert len(unknown) == report.failed
        assert all(f.outcome_unknown and f.attempts == 1 for f in unknown)
        found = await report.verify(_applied_by(kv))
        assert found == len(unknown)  # every dropped answer hid an applied write
        assert report.failed == 0
        assert report.verified == found
        assert emu.items() == dict(pairs(200))

        again = await kv.set_many(pairs(200, "q"), concurrency=16, verify=True,
                                  retry=RetryPolicy(max_attempts=1))
        assert again.failed == 0
        assert again.verified > 0


def _applied_by(kv: VoxKV) -> Any:
    async def applied(failure: Any) -> bool:
        key, value = failure.item
        stored = await kv.get(key)
        return stored is not None and stored.value == value

    return applied


async def test_an_empty_retry_budget_slows_the_run_down_and_fails_nothing() -> None:
    faults = Faults(http_503=0.3, retry_after=0)
    retry = RetryPolicy(budget_capacity=10, retry_cost=5)
    async with Emulator(tls=True, seed=2, faults=faults) as emu, client(emu, retry=retry) as kv:
        report = await kv.set_many(pairs(300), concurrency=16)
        assert_store_matches(report, emu, dict(pairs(300)))
        assert kv.stats.budget_exhausted > 0


async def test_a_probe_is_a_single_request_while_the_server_is_down() -> None:
    timeouts = Timeouts(connect=0.5, attempt=1.0)
    async with Emulator(tls=True) as emu, client(emu, timeouts=timeouts) as kv:
        await emu.stop()
        report = BulkReport()
        with pytest.raises(BulkAbortedError):
            await kv.set_many(pairs(500), concurrency=32, outage_tolerance=2.5, report=report)
        # Before the breaker opened (1 s) each item backed off; then one probe at a time.
        assert kv.stats.errors["ConnectError"] < 32 * 8
        assert report.succeeded == 0
        assert report.pauses == 1
        assert report.failed + len(report.not_attempted) == report.total


async def test_throttled_attempts_do_not_count_toward_an_items_attempts() -> None:
    faults = Faults(code_340=0.5, http_503=0.0)
    async with Emulator(tls=True, seed=8, faults=faults) as emu, client(emu) as kv:
        report = await kv.set_many(pairs(200), concurrency=16, adaptive=False,
                                   retry=RetryPolicy(max_attempts=1))
        assert_store_matches(report, emu, dict(pairs(200)))
        assert report.throttled > 50
