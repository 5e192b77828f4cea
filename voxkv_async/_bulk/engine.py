"""The engine of every bulk run: a producer, ``concurrency`` workers, and the items between.

One producer task pulls items from the input (a mapping, or a sync or async iterable),
checks each, and hands it on; ``concurrency`` worker tasks make one attempt per item at
a time. Memory is bounded by ``capacity`` (items taken but not settled), never by the
input's length: the report keeps counts, not the items that succeeded.

What happens to an attempt's outcome (:meth:`BulkRun._settle_attempt`):

- success: the item is done;
- a transient failure (connection, timeout, 5xx, throttle): the item goes back for a
  later attempt after a jittered backoff (a throttle's ``retry_after`` when given),
  instead of spending the client's retry policy on it; throttles feed the pacer
  (:class:`~voxkv_async._bulk.pacing.AdaptiveRate`) and outages the circuit breaker
  (:class:`~voxkv_async._bulk.breaker.Breaker`), which pauses the whole run;
- a permanent failure (validation, an argument the API refuses): the item fails;
- a hopeless one, which every other item would meet too (authentication after
  re-signing, permission, application not found, TLS verification): the run stops at
  once with :class:`BulkAbortedError`, the items not tried listed as not attempted.

Input order per key: an item whose key is already in progress is held until the earlier
one is settled, so the value applied last is always the last in the input.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from .._errors import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitedError,
    TLSVerificationError,
    VoxKVError,
    shorten,
)
from .._models import KeyValueItem
from .breaker import Breaker
from .options import RunSettings
from .progress import Progress
from .protocol import BulkClient
from .report import BulkAbortedError, BulkFailure

__all__ = ["HOPELESS", "BulkRun", "Item", "describe_item"]

Source = Iterable[object] | AsyncIterable[object]
#: Errors every later item would meet too: the run stops at the first.
HOPELESS = (AuthenticationError, PermissionDeniedError, ApplicationNotFoundError,
            TLSVerificationError)


class Item:
    """One input item between the input and its outcome."""

    __slots__ = ("attempts", "failures", "index", "key", "last_error", "maybe_applied",
                 "prepared", "raw")

    def __init__(self, index: int, raw: object, key: str, prepared: Any) -> None:
        self.index = index
        self.raw = raw
        self.key = key
        self.prepared = prepared
        self.attempts = 0
        self.failures = 0  # transient failures other than throttles: what the retry limit counts
        self.maybe_applied = False
        self.last_error: VoxKVError | None = None


class BulkRun:
    """One bulk run: producer, workers, per-key order, pacing, breaker, the report.

    Args:
        kv: The client.
        operation: The name in the report (``"set_many"`` ...).
        prepare: Checks one raw input item; returns ``(key, prepared)`` or raises
            ``ValueError``/``TypeError`` (the item fails without a request).
        attempt: Makes one attempt at an item (no retries); whether it found something
            (``False`` counts the item in ``report.missing``).
        settings: The checked options.
        on_take: Called for every item taken from the input, before anything else.
    """

    def __init__(
        self,
        kv: BulkClient,
        operation: str,
        prepare: Callable[[object], tuple[str, Any]],
        attempt: Callable[[Item], Awaitable[bool]],
        settings: RunSettings,
        on_take: Callable[[], object] | None = None,
    ) -> None:
        self.report = settings.fresh_report(operation)
        self._kv = kv
        self._prepare = prepare
        self._attempt = attempt
        self._s = settings
        self._on_take = on_take
        self._breaker = Breaker(tolerance=settings.outage_tolerance)
        self._progress = Progress(self.report, settings.progress, settings.progress_interval)
        self._ready: asyncio.Queue[Item | None] = asyncio.Queue()
        self._room = asyncio.Semaphore(settings.capacity)
        self._pending: dict[int, Item | tuple[int, object]] = {}
        self._held: dict[str, deque[Item]] = {}  # keys in progress -> later items held back
        self._inflight: set[int] = set()  # items whose attempt has started
        self._idle = asyncio.Event()
        self._idle.set()
        self._timers: dict[int, asyncio.TimerHandle] = {}  # items waiting to be sent again
        self._input_error: Exception | None = None
        self._stop: BulkAbortedError | None = None
        # Slow start: one attempt goes alone until the server has answered it, so a run
        # whose every call would be refused (a wrong key, an unknown application) stops
        # after one request instead of `concurrency`.
        self._first_sent = False
        self._answered = asyncio.Event()

    # --- the run ------------------------------------------------------------------------

    async def run(self, source: Source) -> None:
        """Run to the end of ``source`` (or to a stop); the report is in :attr:`report`."""
        report = self.report
        report.started_at = time.monotonic()
        self._progress.total_hint(source)
        failed = False
        try:
            async with asyncio.TaskGroup() as tasks:
                workers = [tasks.create_task(self._work()) for _ in range(self._s.concurrency)]
                await self._produce(source)
                await self._idle.wait()
                for _ in workers:
                    self._ready.put_nowait(None)
        except BaseException as exc:
            # Cancelled, or a callback of the caller's raised: the items taken but not
            # settled are listed, so every item is still accounted for.
            report.cancelled = isinstance(exc, asyncio.CancelledError)
            self._list_unfinished()
            failed = True
            raise
        finally:
            await self._end(failed)
        self._raise_if_stopped()

    async def _end(self, failed: bool) -> None:
        self._cancel_timers()
        self._breaker.close_for_good()
        if self._s.checkpoint is not None:
            await self._s.checkpoint.flush()
        report = self.report
        report.paused_seconds = self._breaker.paused_seconds
        report.pauses = self._breaker.openings
        report.finished_at = time.monotonic()
        # No final update after a failure: a raising callback would mask the error.
        self._progress.close(final_update=not failed)

    def _raise_if_stopped(self) -> None:
        if self._stop is not None:
            raise self._stop
        if self._input_error is not None:
            self._input_error.add_note(
                f"{self.report.operation}: the input failed after {self.report.total} items; "
                "those are all in the report"
            )
            raise self._input_error
        if self._s.raise_on_error:
            self.report.raise_for_errors()

    # --- the producer -------------------------------------------------------------------

    async def _produce(self, source: Source) -> None:
        iterator: Iterator[object] | AsyncIterator[object] = (
            aiter(source) if isinstance(source, AsyncIterable) else iter(source)
        )
        try:
            if isinstance(iterator, AsyncIterator):
                async for raw in iterator:
                    if not await self._take(raw):
                        break
            else:
                for raw in iterator:
                    if not await self._take(raw):
                        break
        except Exception as exc:  # noqa: BLE001 - kept and raised once the run drains
            self._input_error = exc
        finally:
            await _close(iterator)

    async def _take(self, raw: object) -> bool:
        """Take one input item in; ``False`` once the run has stopped."""
        if self._stop is not None:
            return False
        report = self.report
        index = report.total
        report.total += 1
        if self._on_take is not None:
            self._on_take()
        checkpoint = self._s.checkpoint
        if checkpoint is not None and checkpoint.is_done(index):
            report.skipped += 1
            return True
        # Held while waiting for room, so a cancel there still finds it (unfinished).
        self._pending[index] = (index, raw)
        self._idle.clear()
        await self._room.acquire()
        if self._stop is not None:  # stopped while this item waited for room
            self._room.release()
            if self._pending.pop(index, None) is not None:
                report.not_attempted.append((index, raw))
            return False
        try:
            key, prepared = self._prepare(raw)
        except (TypeError, ValueError) as exc:  # ValidationError: fail without a request
            self._fail_unsent(index, raw, exc)
            return True
        self._admit(Item(index, raw, key, prepared))
        return True

    def _admit(self, item: Item) -> None:
        self._pending[item.index] = item
        held = self._held.get(item.key)
        if held is None:
            self._held[item.key] = deque()
            self._ready.put_nowait(item)
        else:
            held.append(item)  # after the earlier item of this key is settled

    # --- the workers --------------------------------------------------------------------

    async def _work(self) -> None:
        while (item := await self._ready.get()) is not None:
            if self._stop is not None:
                continue  # the run is stopping: left for the not-attempted list
            await self._slow_start()
            probe = await self._breaker.admit()
            await self._s.pace()
            if self._stop is not None:
                continue
            item.attempts += 1
            self._inflight.add(item.index)
            try:
                found = await self._attempt(item)
            except Exception as exc:  # noqa: BLE001 - every error is this attempt's outcome
                self._inflight.discard(item.index)
                self._s.tell_pacer(exc)
                self._failed_attempt(item, exc, probe)
            else:
                self._inflight.discard(item.index)
                self._answered.set()
                self._breaker.on_success(probe)
                self._s.tell_pacer(None)
                self._succeed(item, found)

    async def _slow_start(self) -> None:
        if self._answered.is_set():
            return
        if not self._first_sent:
            self._first_sent = True
            return
        await self._answered.wait()

    def _failed_attempt(self, item: Item, exc: Exception, probe: bool) -> None:
        if not isinstance(exc, HOPELESS):
            self._answered.set()
        if not isinstance(exc, VoxKVError):
            self._breaker.on_no_verdict(probe)
            self._fail(item, exc)
            return
        item.last_error = exc
        item.maybe_applied = item.maybe_applied or exc.may_have_applied
        if isinstance(exc, HOPELESS):
            self._stop_run(item, exc)
        elif isinstance(exc, RateLimitedError):
            self._breaker.on_success(probe)  # the server is up: it answered
            self.report.throttled += 1
            self._retry_later(item, exc.retry_after or 0.0)
        elif self._stop is not None:  # the run stopped during this attempt
            self._fail(item, exc)
        elif exc.retryable:
            self._breaker.on_failure(exc, probe)
            self._retry_transient(item, exc)
        else:  # permanent: an argument the API refused, or one refused before sending
            if isinstance(exc, ApiError):
                self._breaker.on_success(probe)  # the server is up: it answered
            else:
                self._breaker.on_no_verdict(probe)
            self._fail(item, exc)

    def _retry_transient(self, item: Item, exc: VoxKVError) -> None:
        item.failures += 1
        if self._breaker.exhausted:
            tolerance = self._breaker.tolerance
            exc.add_note(f"gave up: no answer from the server for over {tolerance:g} s")
            self._stop_run(item, exc)
        elif item.failures >= self._s.item_attempts:
            exc.add_note(f"gave up after {item.attempts} attempts "
                         f"({item.failures} transient failures)")
            self._fail(item, exc)
        else:
            retry_after = getattr(exc, "retry_after", None)
            self._retry_later(item, retry_after or self._s.backoff(item.failures))

    def _retry_later(self, item: Item, delay: float) -> None:
        """Send ``item`` again after ``delay`` s, longer when the retry budget is empty."""
        self.report.retried += 1
        self._kv.stats.retries += 1
        if not self._kv.retry_budget.withdraw(self._s.retry_cost):
            # An empty client-wide budget slows the run down; it never fails items.
            self._kv.stats.budget_exhausted += 1
            delay = max(delay, self._s.budget_wait)
        if delay <= 0:
            self._ready.put_nowait(item)
            return
        loop = asyncio.get_running_loop()
        self._timers[item.index] = loop.call_later(
            delay * random.uniform(1.0, 1.1), self._requeue, item
        )

    def _requeue(self, item: Item) -> None:
        del self._timers[item.index]
        self._ready.put_nowait(item)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # --- outcomes -------------------------------------------------------------------------

    def _succeed(self, item: Item, found: bool) -> None:
        report = self.report
        report.succeeded += 1
        if not found:
            report.missing += 1
        checkpoint = self._s.checkpoint
        if checkpoint is not None:
            checkpoint.mark_done(item.index)
        self._settle(item)

    def _fail(self, item: Item, error: Exception) -> None:
        error.add_note(f"{self.report.operation}: input item #{item.index} "
                       f"({describe_item(item.raw)})")
        failure = BulkFailure(item.index, item.raw, error, outcome_unknown=item.maybe_applied,
                              attempts=item.attempts)
        self.report.add_failure(failure)
        self._settle(item)
        if self._s.on_failure is not None:
            self._s.on_failure(failure)

    def _fail_unsent(self, index: int, raw: object, error: Exception) -> None:
        error.add_note(f"{self.report.operation}: input item #{index} ({describe_item(raw)})")
        failure = BulkFailure(index, raw, error)
        self.report.add_failure(failure)
        self._release(index)
        if self._s.on_failure is not None:
            self._s.on_failure(failure)

    def _settle(self, item: Item) -> None:
        """The item's outcome is final: free its key for the next item of that key."""
        held = self._held.get(item.key)
        if held:
            self._ready.put_nowait(held.popleft())
        else:
            self._held.pop(item.key, None)
        self._release(item.index)

    def _release(self, index: int) -> None:
        # Out of pending in the same step as its outcome is counted: a user callback that
        # raises next must not leave it both counted and unfinished. (After a stop, the
        # items drained from pending are settled as not attempted already.)
        if self._pending.pop(index, None) is None:
            return
        self._room.release()
        if not self._pending:
            self._idle.set()
        self._progress.tick()

    def _stop_run(self, item: Item, cause: VoxKVError) -> None:
        """Fail ``item`` and stop the run: every later item would meet ``cause`` too.

        Items already tried fail with their last error; the others taken from the input
        are listed as not attempted; the rest of the input is not read.
        """
        self._fail(item, cause)
        if self._stop is not None:  # another worker already stopped it
            return
        self.report.stopped_by = cause
        self._stop = BulkAbortedError(self.report, cause)
        self._cancel_timers()
        for left in self._drain_pending():
            if isinstance(left, Item) and left.last_error is not None:
                self._fail(left, left.last_error)
            else:
                index, raw = (left.index, left.raw) if isinstance(left, Item) else left
                self.report.not_attempted.append((index, raw))
        self._idle.set()
        self._room.release()  # a producer waiting for room sees the stop
        self._breaker.close_for_good()  # and workers waiting out an outage do too
        self._answered.set()  # and those waiting for the first answer

    def _drain_pending(self) -> list[Item | tuple[int, object]]:
        """Every item taken and not in flight, out of the run, by input order."""
        left = sorted((i, e) for i, e in self._pending.items() if i not in self._inflight)
        for index, _ in left:
            del self._pending[index]
        self._held.clear()
        while not self._ready.empty():
            self._ready.get_nowait()
        return [entry for _, entry in left]

    def _list_unfinished(self) -> None:
        self.report.unfinished = sorted(
            (i, e.raw if isinstance(e, Item) else e[1]) for i, e in self._pending.items()
        )


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
