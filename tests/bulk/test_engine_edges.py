"""The bulk engine's edges, on a fake client: stops, callbacks, checkpoints, hints.

Regression tests for what a fresh review proved: items lost when a throttle came back
after a stop or when ``on_failure`` raised during one, a stop that waited for a slow
input, an item counted twice when the checkpoint raised, ``verify`` skipped under
``raise_on_error``, throttles with no hint resent at once, the pacer's in-flight count
left high. Every test checks the accounting: each item taken ends exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest

from voxkv_async import (
    AdaptiveRate,
    AuthenticationError,
    BulkAbortedError,
    BulkError,
    BulkReport,
    EventStream,
    KeyValueItem,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Stats,
)
from voxkv_async._bulk import set_many
from voxkv_async._commands import Command, Commands
from voxkv_async._retry import RetryBudget
from voxkv_async._wire import GET, SET, RequestBuilder

Behaviour = Callable[[str, int], Awaitable[None]]


class FakeClient:
    """A ``BulkClient`` whose every write runs ``behave(key, attempt_number)`` first.

    It runs the commands bulk builds (``_commands``) itself, on a dict, as a server would.
    """

    def __init__(self, behave: Behaviour) -> None:
        self.stats = Stats()
        self.events = EventStream()
        self.events.subscribe(self.stats)
        self.retry_policy = RetryPolicy(throttle_base=0.05)
        self.retry_budget = RetryBudget(500)
        self.store: dict[str, str] = {}
        self.calls: dict[str, int] = {}
        self._behave = behave
        self._commands = Commands(RequestBuilder(1))

    async def _execute(self, command: Command[Any], options: Any) -> Any:
        key = command.key
        if command.method == SET:
            self.calls[key] = self.calls.get(key, 0) + 1
            await self._behave(key, self.calls[key])
            self.store[key] = value = dict(parse_qsl(command.body))["value"]
            return KeyValueItem(key, value)
        if command.method == GET:
            value = self.store.get(key)
            return None if value is None else KeyValueItem(key, value)
        return self.store.pop(key, None) is not None


def accounted(report: BulkReport) -> int:
    return (report.succeeded + report.failed + report.skipped + len(report.not_attempted)
            + len(report.unfinished))


def refused_after_the_first(delay: float, other: Exception) -> Behaviour:
    """k0 succeeds (ending the slow start); "bad" is refused; the rest fail with ``other``."""

    async def behave(key: str, n: int) -> None:
        if key == "k0":
            return
        if key == "bad":
            await asyncio.sleep(0.01)
            raise AuthenticationError("refused", code=100)
        await asyncio.sleep(delay)  # still in flight when the stop comes
        raise other

    return behave


ITEMS = [("k0", "v"), ("bad", "v"), *((f"k{i}", "v") for i in range(1, 6))]


@pytest.mark.parametrize("late", [RateLimitedError("slow down", code=340),
                                  ServerError("busy", code=2)])
async def test_answers_after_a_stop_fail_their_items_instead_of_losing_them(
    late: Exception,
) -> None:
    kv = FakeClient(refused_after_the_first(0.05, late))
    report = BulkReport()
    with pytest.raises(BulkAbortedError):
        await set_many(kv, ITEMS, concurrency=8, report=report, adaptive=False)
    assert accounted(report) == report.total == len(ITEMS)
    assert report.succeeded == 1


async def test_on_failure_raising_during_a_stop_loses_nothing() -> None:
    async def behave(key: str, n: int) -> None:
        if key == "k0":
            return
        await asyncio.sleep(0.01 if key == "bad" else 0.2)
        if key == "bad":
            raise AuthenticationError("refused", code=100)

    def sink(failure: object) -> None:
        raise RuntimeError("sink full")

    report = BulkReport()
    with pytest.raises(RuntimeError, match="sink full"):
        await set_many(FakeClient(behave), ITEMS, concurrency=8, report=report,
                       on_failure=sink, adaptive=False)
    assert accounted(report) == report.total


async def test_a_stop_does_not_wait_for_a_slow_input() -> None:
    async def behave(key: str, n: int) -> None:
        if key != "k0":
            raise AuthenticationError("refused", code=100)

    async def slow_input() -> AsyncIterator[tuple[str, str]]:
        yield "k0", "v"
        yield "bad", "v"
        await asyncio.sleep(3600)  # the next item never comes
        yield "never", "v"

    report = BulkReport()
    async with asyncio.timeout(5):
        with pytest.raises(BulkAbortedError):
            await set_many(FakeClient(behave), slow_input(), report=report, adaptive=False)
    assert accounted(report) == report.total == 2


async def test_a_checkpoint_that_raises_counts_no_item_twice() -> None:
    class BrokenCheckpoint:
        marked = 0

        def is_done(self, index: int) -> bool:
            return False

        def mark_done(self, index: int) -> None:
            self.marked += 1
            if self.marked == 5:
                raise OSError("disk full")

        async def flush(self) -> None:
            return None

    async def behave(key: str, n: int) -> None:
        await asyncio.sleep(0.001)

    report = BulkReport()
    with pytest.raises(OSError, match="disk full"):
        await set_many(FakeClient(behave), [(f"k{i}", "v") for i in range(40)],
                       concurrency=4, report=report, checkpoint=BrokenCheckpoint())
    assert accounted(report) == report.total


async def test_verify_runs_before_raise_on_error() -> None:
    async def behave(key: str, n: int) -> None:
        if key == "k1":
            raise ServerError("gateway", status=502)  # may have been applied

    kv = FakeClient(behave)
    kv.store["k1"] = "b"  # ...and it was
    report = await set_many(kv, [("k0", "a"), ("k1", "b")], retry=RetryPolicy(max_attempts=1),
                            verify=True, raise_on_error=True)
    assert report.failed == 0
    assert report.verified == 1

    kv.store.clear()  # not applied this time: the error is raised after the read-back
    with pytest.raises(BulkError):
        await set_many(kv, [("k1", "b")], retry=RetryPolicy(max_attempts=1), verify=True,
                       raise_on_error=True)


async def test_a_throttle_without_a_hint_backs_off() -> None:
    start = asyncio.get_running_loop().time()

    async def behave(key: str, n: int) -> None:
        if asyncio.get_running_loop().time() - start < 0.5:
            raise RateLimitedError("rate limit exceeded", code=340)

    kv = FakeClient(behave)
    report = await set_many(kv, [("k", "v")], adaptive=False)
    assert report.succeeded == 1
    assert kv.calls["k"] < 15  # jittered, doubling from throttle_base: not a spin


async def test_a_server_asked_delay_is_capped_by_max_retry_after() -> None:
    async def behave(key: str, n: int) -> None:
        if n == 1:
            raise RateLimitedError("later", code=429, status=429, retry_after=3600)

    kv = FakeClient(behave)
    kv.retry_policy = RetryPolicy(max_retry_after=0.2)
    async with asyncio.timeout(5):
        report = await set_many(kv, [("k", "v")], adaptive=False)
    assert report.succeeded == 1


async def test_the_pacer_is_told_of_every_slot_it_gave() -> None:
    pacer = AdaptiveRate()
    kv = FakeClient(refused_after_the_first(0.05, ServerError("busy", code=2)))
    with pytest.raises(BulkAbortedError):
        await set_many(kv, ITEMS, concurrency=8, adaptive=pacer)
    assert pacer.in_flight == 0  # a shared pacer sizes its settling by this count
