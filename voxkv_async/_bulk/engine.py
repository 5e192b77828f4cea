"""The engine of every bulk run: a producer, ``concurrency`` workers, a bounded queue.

One producer task pulls items from the input (a mapping, or a sync or async iterable)
onto a bounded :class:`asyncio.Queue`; the worker tasks take them off and make one call
each, under the client's retry policy. Memory is bounded by the queue, the workers and
the kept failures, never by the input's length: the report keeps counts, not the items
that succeeded.

Throttling: ``rate_limit`` caps requests per second with :mod:`aiolimiter`; the
:class:`AdaptiveRate` (on by default, dormant until the server first throttles) slows
the send rate down on HTTP 429 / code 340 / 416 and lets it grow back when throttling
stops. It sees every attempt through the client's attempt hook, so throttles the retry
policy absorbs count too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from .._errors import RateLimitedError, VoxKVError, shorten
from .._models import KeyValueItem
from .options import BulkOptions, make_adaptive, make_limiter, positive_int
from .progress import Progress
from .protocol import BulkClient
from .report import BulkFailure, BulkReport

__all__ = ["BulkRun", "describe_item"]

Source = Iterable[object] | AsyncIterable[object]


class BulkRun:
    """One bulk run: a producer, ``concurrency`` workers, a bounded queue, the report."""

    def __init__(
        self,
        kv: BulkClient,
        operation: str,
        prepare: Callable[[Any], Any],
        call: Callable[[int, Any], Awaitable[bool]],
        options: BulkOptions,
        on_take: Callable[[], object] | None = None,
    ) -> None:
        self.report = _fresh_report(options.get("report"), operation)
        self._kv = kv
        self._prepare = prepare
        self._call = call
        self._on_take = on_take
        self._workers = positive_int(options.get("concurrency", 64), "concurrency")
        self._limiter = make_limiter(options.get("rate_limit"))
        self._adaptive = make_adaptive(options.get("adaptive", True))
        self._on_failure = options.get("on_failure")
        self._raise = options.get("raise_on_error", False)
        self._progress = Progress(self.report, options.get("progress"),
                                   options.get("progress_interval", 0.2))
        # Twice the workers: enough that none waits on the producer, small enough to
        # bound what a cancel leaves unfinished.
        self._queue: asyncio.Queue[tuple[int, object] | None] = asyncio.Queue(
            2 * self._workers
        )
        self._inflight: dict[int, object] = {}
        self._offering: tuple[int, object] | None = None
        self._input_error: Exception | None = None
        self._retries_at_start = kv.stats.retries

    async def run(self, source: Source) -> None:
        """Run to the end of ``source``; the report is in :attr:`report`."""
        report = self.report
        report.started_at = time.monotonic()
        self._progress.total_hint(source)
        # Every attempt's outcome, retries included, feeds the adaptive rate: throttles
        # the retry policy absorbs are the earliest sign to slow down.
        unhook = self._kv.add_attempt_hook(self._observe) if self._adaptive else None
        failed = False
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._produce(source))
                for _ in range(self._workers):
                    tasks.create_task(self._work())
        except BaseException as exc:
            # Cancelled, or a callback of the caller's raised: either way the items in
            # the queue or in flight are listed, so every item is still accounted for.
            report.cancelled = isinstance(exc, asyncio.CancelledError)
            self._collect_unfinished()
            failed = True
            raise
        finally:
            if unhook is not None:
                unhook()
            report.retried = self._kv.stats.retries - self._retries_at_start
            report.finished_at = time.monotonic()
            # No final update after a failure: a raising callback would mask the error.
            self._progress.close(final_update=not failed)
        if self._input_error is not None:
            self._input_error.add_note(
                f"{report.operation}: the input failed after {report.total} items; "
                "those are all in the report"
            )
            raise self._input_error
        if self._raise:
            report.raise_for_errors()

    async def _produce(self, source: Source) -> None:
        iterator: Iterator[object] | AsyncIterator[object] = (
            aiter(source) if isinstance(source, AsyncIterable) else iter(source)
        )
        try:
            if isinstance(iterator, AsyncIterator):
                async for raw in iterator:
                    await self._offer(raw)
            else:
                for raw in iterator:
                    await self._offer(raw)
        except Exception as exc:  # noqa: BLE001 - kept and raised once the queue drains
            self._input_error = exc
        finally:
            await _close(iterator)
        for _ in range(self._workers):
            await self._queue.put(None)

    async def _offer(self, raw: object) -> None:
        index = self.report.total
        self.report.total += 1
        if self._on_take is not None:
            self._on_take()
        # Held here while put() waits, so a cancel there still finds it (unfinished).
        self._offering = (index, raw)
        await self._queue.put(self._offering)
        self._offering = None

    async def _work(self) -> None:
        while (entry := await self._queue.get()) is not None:
            index, raw = entry
            self._inflight[index] = raw
            await self._handle(index, raw)

    async def _handle(self, index: int, raw: object) -> None:
        try:
            prepared = self._prepare(raw)
        except (TypeError, ValueError) as exc:  # ValidationError: fail without a request
            self._fail(index, raw, exc)
            return
        try:
            await self._throttle()
            found = await self._call(index, prepared)
        except Exception as exc:  # noqa: BLE001 - any error is this item's failure
            self._fail(index, raw, exc)
            return
        report = self.report
        report.succeeded += 1
        if not found:
            report.missing += 1
        self._item_done(index)

    def _item_done(self, index: int) -> None:
        # Out of flight in the same step as its outcome is counted: a user callback that
        # raises next must not leave it both counted and unfinished.
        del self._inflight[index]
        self.report.retried = self._kv.stats.retries - self._retries_at_start
        self._progress.tick()

    async def _throttle(self) -> None:
        if self._adaptive is not None:
            await self._adaptive.acquire()
        if self._limiter is not None:
            await self._limiter.acquire()

    def _observe(self, outcome: VoxKVError | None) -> None:
        assert self._adaptive is not None
        if isinstance(outcome, RateLimitedError):
            self._adaptive.on_throttle()
        elif outcome is None:
            self._adaptive.on_success()

    def _fail(self, index: int, raw: object, error: Exception) -> None:
        error.add_note(f"{self.report.operation}: input item #{index} ({describe_item(raw)})")
        failure = BulkFailure(index, raw, error)
        self.report.add_failure(failure)
        self._item_done(index)
        if self._on_failure is not None:
            self._on_failure(failure)

    def _collect_unfinished(self) -> None:
        pending = sorted(self._inflight.items())
        while not self._queue.empty():
            entry = self._queue.get_nowait()
            if entry is not None:
                pending.append(entry)
        if self._offering is not None:
            pending.append(self._offering)
        self.report.unfinished = pending


async def _close(iterator: object) -> None:
    """Close a generator or async generator we were reading (no-op when exhausted)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def describe_item(raw: object) -> str:
    """A short, value-free description of an input item, for error notes."""
    key: object = raw
    if isinstance(raw, KeyValueItem):
        key = raw.key
    elif isinstance(raw, tuple | list) and raw:
        key = raw[0]
    return f"key {shorten(key)!r}" if isinstance(key, str) else type(raw).__name__


def _fresh_report(report: BulkReport | None, operation: str) -> BulkReport:
    if report is None:
        return BulkReport(operation)
    if report.started_at is not None:
        raise ValueError("report= must be a fresh BulkReport, not one from another run")
    report.operation = operation
    return report
