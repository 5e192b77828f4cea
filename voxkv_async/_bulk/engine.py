"""The engine of every bulk run: a producer, ``concurrency`` workers, and the items between.

A producer task pulls items from the input and checks each; ``concurrency`` workers make
one attempt per item at a time. Memory is bounded by ``capacity`` (items taken but not
settled), never by the input's length: the report keeps counts, not the items.

What happens to an attempt's outcome (``BulkRun._failed_attempt``):

- success: the item is done;
- a transient failure (connection, timeout, 5xx, throttle): the item goes back for a
  later attempt after the retry policy's own wait (:mod:`.retries`), instead of
  spending the client's retry policy on it; throttles feed the pacer (:mod:`.gate`) and
  outages the circuit breaker (:class:`~voxkv_async._bulk.breaker.Breaker`), which
  pauses the whole run;
- a permanent failure (validation, an argument the API refuses): the item fails;
- a hopeless one, which every other item would meet too (authentication after
  re-signing, permission, application not found, TLS verification): the run stops at
  once with :class:`BulkAbortedError`, the items not tried listed as not attempted.

Input order per key (:mod:`.order`): a later item for a key in progress waits until the
earlier one is settled, and after an attempt of unknown outcome until it can no longer
land, so the value applied last is always the last in the input.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from .._errors import ApiError, RateLimitedError, VoxKVError
from .breaker import Breaker, SlowStart
from .gate import SendGate
from .items import HOPELESS, Item, Later, close_input, describe_item, index_and_raw, next_item
from .options import RunSettings
from .order import KeyOrder
from .progress import Progress
from .protocol import BulkClient
from .report import BulkAbortedError, BulkFailure, fresh_report
from .retries import ItemRetries

__all__ = ["BulkRun"]

Source = Iterable[object] | AsyncIterable[object]


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
        clock: Monotonic seconds for the breaker and the holds of keys: by default the
            event loop's, so a virtual-time loop drives the whole run.
    """

    def __init__(
        self,
        kv: BulkClient,
        operation: str,
        prepare: Callable[[object], tuple[str, Any]],
        attempt: Callable[[Item], Awaitable[bool]],
        settings: RunSettings,
        on_take: Callable[[], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.report = fresh_report(settings.report, operation)
        self._prepare = prepare
        self._attempt = attempt
        self._s = settings
        self._on_take = on_take
        self._clock = clock or asyncio.get_running_loop().time
        self._breaker = Breaker(tolerance=settings.outage_tolerance, clock=self._clock)
        self._gate = SendGate(settings.pacer, settings.rate_limit)
        self._retries = ItemRetries(kv, operation, settings.policy)
        self._progress = Progress(self.report, settings.progress, settings.progress_interval)
        self._ready: asyncio.Queue[Item | None] = asyncio.Queue()
        self._room = asyncio.Semaphore(settings.capacity)
        self._pending: dict[int, Item | tuple[int, object]] = {}
        # Reads change nothing: an unknown outcome of one leaves nothing to land late.
        hold = 0.0 if operation == "get_many" else settings.unknown_outcome_delay
        self._order = KeyOrder(self._ready.put_nowait, hold)
        self._inflight: set[int] = set()  # items whose attempt has started
        self._idle = asyncio.Event()
        self._idle.set()
        self._later = Later(self._ready.put_nowait)  # items waiting to be sent again
        self._input_error: Exception | None = None
        self._stop: BulkAbortedError | None = None
        self._producer: asyncio.Task[None] | None = None
        self._start = SlowStart()

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
                # A task of its own: a stop cancels it, even while the input is slow.
                self._producer = tasks.create_task(self._produce(source))
                await asyncio.wait([self._producer])
                await self._idle.wait()
                for _ in workers:
                    self._ready.put_nowait(None)
        except BaseException as exc:
            # Cancelled, or a callback of the caller's raised: the items taken but not
            # settled are listed, so every item is still accounted for.
            report.cancelled = isinstance(exc, asyncio.CancelledError)
            report.unfinished = self._take_pending()
            failed = True
            if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                raise exc.exceptions[0] from None  # the caller's own, not a TaskGroup's
            raise
        finally:
            await self._end(failed)
        self._raise_if_stopped()

    async def _end(self, failed: bool) -> None:
        self._later.cancel_all()
        self._order.clear()
        self._breaker.close_for_good()
        if self._pending and not failed:  # a stop raced an item: it was never tried
            self.report.not_attempted.extend(self._take_pending())
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
            while True:
                try:  # only the input's own errors: a callback's must not pass for them
                    raw = await next_item(iterator)
                except StopAsyncIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - kept and raised once drained
                    self._input_error = exc
                    return
                if not await self._take(raw):
                    return
        finally:
            await close_input(iterator)

    async def _take(self, raw: object) -> bool:
        """Take one input item in; ``False`` once the run has stopped."""
        report = self.report
        index = report.total
        report.total += 1
        if self._stop is not None:
            report.not_attempted.append((index, raw))
            return False
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
        item = Item(index, raw, key, prepared)
        self._pending[index] = item
        self._order.admit(item)
        return True

    # --- the workers --------------------------------------------------------------------

    async def _work(self) -> None:
        while (item := await self._ready.get()) is not None:
            if self._stop is not None:
                continue  # the run is stopping: left for the not-attempted list
            await self._start.wait()
            probe = await self._breaker.admit()
            await self._gate.wait()
            if self._stop is not None:
                self._gate.not_sent()  # the slot it took is given back
                continue
            item.attempts += 1
            self._inflight.add(item.index)
            try:
                found = await self._attempt(item)
            except Exception as exc:  # noqa: BLE001 - every error is this attempt's outcome
                self._inflight.discard(item.index)
                self._gate.ended(exc)
                self._failed_attempt(item, exc, probe)
            except BaseException:  # cancelled: no answer will come
                self._gate.not_sent()
                raise
            else:
                self._inflight.discard(item.index)
                self._start.answered()
                self._breaker.on_success(probe)
                self._gate.ended(None)
                self._succeed(item, found)

    def _failed_attempt(self, item: Item, exc: Exception, probe: bool) -> None:
        if not isinstance(exc, HOPELESS):
            self._start.answered()
        if not isinstance(exc, VoxKVError):
            self._breaker.on_no_verdict(probe)
            self._fail(item, exc)
            return
        item.last_error = exc
        if exc.may_have_applied:
            item.maybe_applied = True
            self._order.unknown_outcome(item, self._clock())
        if isinstance(exc, HOPELESS):
            self._stop_run(item, exc)
        elif self._stop is not None:  # the run stopped during this attempt
            self._fail(item, exc)
        elif isinstance(exc, RateLimitedError):
            self._breaker.on_success(probe)  # the server is up: it answered
            self.report.throttled += 1
            item.throttles += 1
            self._retry_later(item, exc)
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
            self._retry_later(item, exc)

    def _retry_later(self, item: Item, exc: VoxKVError) -> None:
        """Send ``item`` again after the retry policy's wait (see :mod:`.retries`)."""
        self.report.retried += 1
        self._later.add(item, self._retries.delay(item, exc))

    # --- outcomes -------------------------------------------------------------------------

    def _succeed(self, item: Item, found: bool) -> None:
        report = self.report
        report.succeeded += 1
        if not found:
            report.missing += 1
        self._settle(item)
        # After settling: a checkpoint that raises must not leave the item both counted
        # and pending.
        checkpoint = self._s.checkpoint
        if checkpoint is not None:
            checkpoint.mark_done(item.index)

    def _fail(self, item: Item, error: Exception) -> None:
        self._notify(self._record_failure(item, error))

    def _record_failure(self, item: Item, error: Exception) -> BulkFailure:
        error.add_note(f"{self.report.operation}: input item #{item.index} "
                       f"({describe_item(item.raw)})")
        failure = BulkFailure(item.index, item.raw, error, outcome_unknown=item.maybe_applied,
                              attempts=item.attempts)
        self.report.add_failure(failure)
        self._settle(item)
        return failure

    def _notify(self, failure: BulkFailure) -> None:
        # Last: the item is counted already, so a callback that raises loses nothing.
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
        self._order.settle(item, self._clock())
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
        are listed as not attempted; the rest of the input is not read. Every outcome is
        recorded before any ``on_failure`` callback runs.
        """
        if self._stop is not None:  # another worker already stopped it
            self._fail(item, cause)
            return
        self.report.stopped_by = cause
        self._stop = BulkAbortedError(self.report, cause)
        self._later.cancel_all()
        failures = [self._record_failure(item, cause)]
        for left in self._drain_pending():
            if isinstance(left, Item) and left.last_error is not None:
                failures.append(self._record_failure(left, left.last_error))
            else:
                self.report.not_attempted.append(index_and_raw(left))
        self._idle.set()
        self._room.release()  # a producer waiting for room sees the stop
        self._breaker.close_for_good()  # and workers waiting out an outage do too
        self._start.answered()  # and those waiting for the first answer
        if self._producer is not None:
            self._producer.cancel()  # even while it waits on a slow input
        for failure in failures:
            self._notify(failure)

    def _drain_pending(self) -> list[Item | tuple[int, object]]:
        """Every item taken and not in flight, out of the run, by input order."""
        left = sorted((i, e) for i, e in self._pending.items() if i not in self._inflight)
        for index, _ in left:
            del self._pending[index]
        self._order.clear()
        while not self._ready.empty():
            self._ready.get_nowait()
        return [entry for _, entry in left]

    def _take_pending(self) -> list[tuple[int, object]]:
        """Every item still pending, as ``(index, raw)`` by input order, out of the run."""
        left = sorted(index_and_raw(e) for e in self._pending.values())
        self._pending.clear()
        return left
