"""The engine through its public seams: the event stream, the retry policy, the clock.

A fake client (no sockets) on a virtual-time event loop (``_sim.run_virtual``): a run
that waits out a five-minute outage takes well under a second of real time, which only
works because the engine gives the loop's clock to its circuit breaker and to the holds
of keys.
"""

from __future__ import annotations

import asyncio

import pytest

from voxkv_async import (
    BulkAbortedError,
    BulkReport,
    ConnectError,
    Event,
    RetryPolicy,
    RetryScheduled,
    ServerError,
    ValidationError,
)
from voxkv_async._bulk import set_many
from voxkv_async._retry import RetryBudget

from ._sim import VirtualClock, run_virtual
from .test_engine_edges import FakeClient


def test_item_retries_are_events_that_stats_count() -> None:
    async def behave(key: str, n: int) -> None:
        if n == 1:
            raise ServerError("busy", code=2)

    async def main(clock: VirtualClock) -> tuple[FakeClient, list[Event]]:
        kv = FakeClient(behave)
        kv.retry_budget = RetryBudget(12)  # pays for two retries of cost 5
        seen: list[Event] = []
        kv.events.subscribe(seen.append)
        report = await set_many(kv, [(f"k{i}", "v") for i in range(4)], adaptive=False)
        assert report.succeeded == 4
        return kv, seen

    kv, seen = run_virtual(main)
    retries = [e for e in seen if isinstance(e, RetryScheduled)]
    assert sorted(e.item for e in retries if e.item is not None) == [0, 1, 2, 3]
    assert {(e.method, e.attempt) for e in retries} == {("SetKeyValueItem", 1)}
    assert all(isinstance(e.error, ServerError) for e in retries)
    assert [e.budget_allowed for e in retries].count(False) == 2  # the budget ran dry
    assert min(e.wait for e in retries if not e.budget_allowed) >= 1.0  # and slowed them
    assert kv.stats.retries == 4
    assert kv.stats.budget_exhausted == 2


def test_the_items_wait_the_retry_policys_own_backoff() -> None:
    async def behave(key: str, n: int) -> None:
        if n <= 3:
            raise ServerError("busy", code=2)

    async def main(clock: VirtualClock) -> list[Event]:
        kv = FakeClient(behave)
        kv.retry_policy = RetryPolicy(base=4.0, max_wait=5.0)
        seen: list[Event] = []
        kv.events.subscribe(seen.append)
        await set_many(kv, [("k", "v")], adaptive=False)
        return seen

    waits = [e.wait for e in run_virtual(main) if isinstance(e, RetryScheduled)]
    # Full jitter up to min(max_wait, base * 2**(n-1)), spread by up to 10 %.
    assert len(waits) == 3
    assert all(0 <= w <= 5.0 * 1.1 for w in waits)
    assert max(waits) > 1.0  # base 4 s, not the default 0.1 s


def test_an_outage_longer_than_the_tolerance_stops_on_the_virtual_clock() -> None:
    async def down(key: str, n: int) -> None:
        raise ConnectError("connection refused", sent=False)

    async def main(clock: VirtualClock) -> tuple[BulkReport, float]:
        kv = FakeClient(down)
        report = BulkReport()
        with pytest.raises(BulkAbortedError):
            await set_many(kv, [(f"k{i}", "v") for i in range(50)], concurrency=8,
                           outage_tolerance=300, report=report, adaptive=False)
        return report, clock.now

    report, ended = run_virtual(main)
    # Five minutes of virtual time: the breaker measured them on the loop's clock.
    assert 300 <= ended < 400
    assert report.pauses == 1
    assert report.paused_seconds >= 290
    assert report.succeeded == 0
    assert report.failed + len(report.not_attempted) == report.total
    assert report.total < 50  # the rest of the input was not read


def test_a_key_is_held_after_an_unknown_outcome_then_released() -> None:
    sent: list[tuple[float, str]] = []

    async def behave(key: str, n: int) -> None:
        sent.append((asyncio.get_running_loop().time(), key))
        if key == "a" and n == 1:
            raise ConnectError("reset after sending", sent=True)

    async def main(clock: VirtualClock) -> BulkReport:
        kv = FakeClient(behave)
        return await set_many(kv, [("a", "1"), ("b", "1"), ("a", "2")], adaptive=False,
                              retry=RetryPolicy.disabled(), unknown_outcome_delay=30)

    report = run_virtual(main)
    assert report.failed == 1
    assert report.succeeded == 2
    assert report.failures[0].outcome_unknown
    first_a, later_a = (at for at, key in sent if key == "a")
    assert later_a - first_a >= 30  # held, while "b" went at once
    assert next(at for at, key in sent if key == "b") < 1


@pytest.mark.parametrize(("option", "value", "says"), [
    ("unknown_outcome_delay", -1, ">= 0"),
    ("unknown_outcome_delay", "60", ">= 0"),
    ("rate_limit", True, "> 0"),
    ("outage_tolerance", 0, "> 0"),
])
def test_a_bad_option_is_refused_naming_it_before_any_request(
    option: str, value: object, says: str
) -> None:
    async def never(key: str, n: int) -> None:
        raise AssertionError("no request may be made")

    async def main(clock: VirtualClock) -> None:
        kv = FakeClient(never)
        with pytest.raises(ValidationError, match=option) as caught:
            await set_many(kv, [("k", "v")], **{option: value})  # type: ignore[arg-type]
        assert says in str(caught.value)
        assert repr(value) in str(caught.value)
        assert kv.calls == {}

    run_virtual(main)
