"""Bulk operations over streaming input: ``set_many``, ``get_many``, ``delete_many``.

How a run works: one producer task pulls items from the input (a mapping, or a sync or
async iterable) onto a bounded :class:`asyncio.Queue`; ``concurrency`` worker tasks take
them off and make one API call each, under the client's retry policy. Memory is bounded
by the queue, the workers and the kept failures, never by the input's length: the
report keeps counts, not the items that succeeded.

Accounting: every item taken from the input ends up exactly once in the report, as
succeeded or as failed (with its exception); items that fail validation fail without a
request. If the run is cancelled, the items that were queued or in flight are listed in
:attr:`BulkReport.unfinished` (they may or may not have been applied); every other item
taken from the input (the first :attr:`BulkReport.total`) succeeded or is in
:attr:`BulkReport.failures`. Pass ``report=BulkReport()`` to read this after a cancel:
the report is filled live.

Throttling: ``rate_limit`` caps requests per second with :mod:`aiolimiter`; the
:class:`AdaptiveRate` (on by default, dormant until the server first throttles) slows
the send rate down on HTTP 429 / code 340 / 416 and lets it grow back, CUBIC-style, when
throttling stops, as botocore's "adaptive" retry mode does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sized,
)
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import attrs

from ._errors import RateLimitedError, ValidationError, VoxKVError, shorten
from ._models import KeyValueItem
from ._validation import check_expiry, check_key

if TYPE_CHECKING:
    from ._client import VoxKV

__all__ = [
    "AdaptiveRate",
    "BulkError",
    "BulkFailure",
    "BulkOptions",
    "BulkReport",
    "delete_many",
    "get_many",
    "set_many",
]

_SET = "SetKeyValueItem"
#: Failures a report keeps by default; later ones are only counted (see ``on_failure``).
DEFAULT_MAX_FAILURES = 10_000

ItemLike = tuple[str, str] | KeyValueItem
SetInput = Mapping[str, str] | Iterable[ItemLike] | AsyncIterable[ItemLike]
KeysInput = Iterable[str] | AsyncIterable[str]


# --- the report ------------------------------------------------------------------------


@attrs.frozen
class BulkFailure:
    """One input item that failed.

    Attributes:
        index: Its position in the input, from 0.
        item: The item exactly as the input gave it (a pair, a ``KeyValueItem``, a key).
        error: Why: a ``ValidationError`` (no request was made) or the exception of the
            last attempt once the retry policy gave up.
    """

    index: int
    item: object = attrs.field(repr=False)  # it may hold a stored value
    error: Exception


class BulkError(ExceptionGroup[Exception]):
    """Every failure of a bulk run, raised at once by :meth:`BulkReport.raise_for_errors`.

    Attributes:
        report: The run's report. (Groups made from this one by ``split``, ``subgroup``
            or ``except*`` are plain ``ExceptionGroup`` s without it.)
    """

    report: BulkReport | None = None


@attrs.define(eq=False)
class BulkReport:
    """What a bulk run did. Filled live: readable while the run goes and after a cancel.

    Attributes:
        operation: ``"set_many"``, ``"get_many"`` or ``"delete_many"``.
        total: Items taken from the input so far.
        succeeded: Items whose call succeeded.
        failed: Items that failed (validation or the call).
        missing: Of the succeeded: keys not found (``get_many``) or not there to delete
            (``delete_many``).
        retried: Attempts the client's retry policy repeated during the run (read from
            ``kv.stats``: it includes other tasks' calls on the same client).
        failures: The failed items, in completion order, up to ``max_failures``.
        failures_dropped: Failures counted but not kept, beyond ``max_failures``.
        unfinished: After a cancel, the ``(index, item)`` pairs that were queued or in
            flight: neither succeeded nor failed, and may or may not have been applied.
        cancelled: Whether the run was cancelled.
        max_failures: How many failures to keep (``None``: all). Set it before the run.
        started_at, finished_at: ``time.monotonic()`` at start and end.
    """

    operation: str = ""
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    retried: int = 0
    failures: list[BulkFailure] = attrs.field(factory=list)
    failures_dropped: int = 0
    unfinished: list[tuple[int, object]] = attrs.field(factory=list, repr=False)
    cancelled: bool = False
    max_failures: int | None = DEFAULT_MAX_FAILURES
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> int:
        """Items finished: succeeded plus failed."""
        return self.succeeded + self.failed

    @property
    def elapsed(self) -> float:
        """Seconds from start to end (or to now, while running)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    @property
    def throughput(self) -> float:
        """Finished items per second."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Whether the run finished with no failure."""
        return self.failed == 0 and not self.cancelled and self.finished_at is not None

    def summary(self) -> str:
        """One line for logs and the CLI."""
        cut = " (cancelled)" if self.cancelled else ""
        return (
            f"{self.operation}: {self.succeeded} succeeded, {self.failed} failed of "
            f"{self.total} in {self.elapsed:.2f} s ({self.throughput:.0f} items/s), "
            f"{self.retried} retried attempts{cut}"
        )

    def raise_for_errors(self) -> None:
        """Raise a :class:`BulkError` (an ``ExceptionGroup``) of the kept failures, if any."""
        if not self.failed:
            return
        more = f"; {self.failures_dropped} more not kept" if self.failures_dropped else ""
        errors: list[Exception] = [f.error for f in self.failures] or [
            VoxKVError("the failures were not kept (max_failures=0)")
        ]
        error = BulkError(
            f"{self.operation}: {self.failed} of {self.total} items failed{more}", errors
        )
        error.report = self
        raise error

    def _add_failure(self, failure: BulkFailure) -> None:
        self.failed += 1
        if self.max_failures is None or len(self.failures) < self.max_failures:
            self.failures.append(failure)
        else:
            self.failures_dropped += 1


# --- adaptive send rate --------------------------------------------------------------


class AdaptiveRate:
    """A send rate that drops on throttling and grows back when it stops.

    Dormant (no pacing) until the first throttle. Then, like botocore's adaptive mode:
    a throttle sets ``rate = beta * min(measured send rate, rate)``; each success sets
    ``rate = scale * (t - K)**3 + W`` (CUBIC), where ``W`` is the rate at the last
    throttle, ``t`` the seconds since, and ``K`` when the curve gets back to ``W``;
    capped at twice the measured rate and floored at ``min_rate``. Share one between
    runs (``adaptive=`` argument) to carry what it learned over.

    Unlike botocore, and like TCP, throttles arriving within ``cooldown`` seconds of a
    decrease count as the same congestion event: the answers to requests already in
    flight at the old rate come back throttled together, and cutting the rate once per
    answer would drive it to the floor in one burst (0.7**64 at 64 in flight).

    Attributes:
        enabled: Whether a throttle has been seen (pacing is on).
        rate: The allowed send rate, requests/s (``inf`` while dormant).
        measured_rate: The smoothed rate of answers, requests/s.
        last_max_rate: ``W``: the rate in force at the last throttle.
        throttles: Throttle signals received.
    """

    def __init__(
        self,
        *,
        min_rate: float = 0.5,
        beta: float = 0.7,
        scale: float = 0.4,
        smoothing: float = 0.8,
        bucket: float = 0.5,
        cooldown: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_rate <= 0 or not 0 < beta < 1:
            raise ValueError("need min_rate > 0 and 0 < beta < 1")
        self.min_rate = min_rate
        self._beta = beta
        self._scale = scale
        self._smoothing = smoothing
        self._bucket = bucket
        self._cooldown = cooldown
        self._clock = clock
        self.enabled = False
        self.rate = math.inf
        self.measured_rate = 0.0
        self.last_max_rate = 0.0
        self.throttles = 0
        self._k = 0.0
        self._last_throttle = 0.0
        self._tokens = 0.0
        self._refilled = clock()
        self._first_seen: float | None = None
        self._last_bucket = 0.0
        self._count = 0
        self._answers = 0

    def __repr__(self) -> str:
        return (f"<AdaptiveRate enabled={self.enabled} rate={self.rate:.1f}/s "
                f"measured={self.measured_rate:.1f}/s throttles={self.throttles}>")

    def on_success(self) -> None:
        """An answer that was not a throttle."""
        now = self._measure()
        if not self.enabled:
            return
        cubic = self._scale * (now - self._last_throttle - self._k) ** 3 + self.last_max_rate
        self.rate = max(self.min_rate, min(cubic, 2 * max(self.measured_rate, self.min_rate)))

    def on_throttle(self) -> None:
        """A throttling answer (HTTP 429, code 340, 416)."""
        now = self._measure()
        self.throttles += 1
        if self.enabled and now - self._last_throttle < self._cooldown:
            return  # the same congestion event as the last decrease
        base = min(self.measured_rate, self.rate) if self.enabled else self.measured_rate
        base = max(base, self.min_rate)
        self.last_max_rate = base
        self._k = (base * (1 - self._beta) / self._scale) ** (1 / 3)
        self._last_throttle = now
        self.rate = max(self.min_rate, base * self._beta)
        self.enabled = True

    async def acquire(self) -> None:
        """Wait for a send token; tokens accrue at :attr:`rate`, one second's worth at most.

        Waiters re-check the bucket after each sleep rather than booking a future slot,
        so a rate that grows back takes effect at once for everyone already waiting.
        """
        while self.enabled:
            now = self._clock()
            self._tokens = min(max(self.rate, 1.0),
                               self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate)

    def _measure(self) -> float:
        """Count one answer into the smoothed rate (botocore's RateClocker); the time."""
        now = self._clock()
        if self._first_seen is None:
            self._first_seen = now
            self._last_bucket = math.floor(now / self._bucket) * self._bucket
        self._count += 1
        self._answers += 1
        bucket = math.floor(now / self._bucket) * self._bucket
        if bucket > self._last_bucket:
            # The first bucket is measured from the first answer, not from its start:
            # one answer late in a half-second bucket is not a rate of 2/s.
            span = max(bucket - max(self._last_bucket, self._first_seen), 0.05)
            current = self._count / span
            if self.measured_rate == 0.0:
                self.measured_rate = current
            else:
                s = self._smoothing
                self.measured_rate = current * s + self.measured_rate * (1 - s)
            self._count = 0
            self._last_bucket = bucket
        elif self.measured_rate == 0.0 and now > self._first_seen:
            # No full bucket yet: a throttle in the first half second must not collapse
            # the rate to the floor, so estimate from what has been seen.
            self.measured_rate = self._answers / (now - self._first_seen)
        return now


# --- options ---------------------------------------------------------------------------

ProgressCallback = Callable[[BulkReport], object]
FailureSink = Callable[[BulkFailure], object]


class BulkOptions(TypedDict, total=False):
    """Options shared by ``set_many``, ``get_many`` and ``delete_many``.

    Keys:
        concurrency: Worker tasks, i.e. requests in flight (default 64). Keep it at or
            below the client's ``Limits.max_connections``.
        rate_limit: At most this many requests per second (needs ``aiolimiter``, the
            ``bulk`` extra); ``None`` (default) for no fixed limit.
        adaptive: The :class:`AdaptiveRate` to use, ``True`` (default) for a new one,
            ``False`` for none. It finds the rate at which a server that throttles
            under load stops throttling; a server that throttles a share of requests
            whatever the rate makes it settle low (~10/s for 6 %): pass ``False`` there
            and let the retry policy absorb the throttles.
        progress: A callback given the live report, at most every
            ``progress_interval`` seconds and once at the end; or ``True`` for a
            ``tqdm`` progress bar on stderr (needs ``tqdm``, the ``bulk`` extra).
        progress_interval: Seconds between progress updates (default 0.2).
        report: A fresh :class:`BulkReport` to fill live (read it after a cancel, or
            set its ``max_failures`` first); by default a new one.
        on_failure: Called with each :class:`BulkFailure` as it happens, including
            those beyond ``max_failures``: a sink for rejects.
        raise_on_error: Raise :class:`BulkError` at the end if any item failed
            (default ``False``; the report is on the exception).
    """

    concurrency: int
    rate_limit: float | None
    adaptive: AdaptiveRate | bool
    progress: ProgressCallback | bool | None
    progress_interval: float
    report: BulkReport | None
    on_failure: FailureSink | None
    raise_on_error: bool


# --- the three operations ------------------------------------------------------------


async def set_many(
    kv: VoxKV,
    items: SetInput,
    *,
    ttl: int | None = None,
    expires_at: int | datetime | None = None,
    **options: Unpack[BulkOptions],
) -> BulkReport:
    """Set many items concurrently, streaming from ``items``; see :class:`BulkOptions`.

    Args:
        kv: The client.
        items: A mapping of key to value, or a sync or async iterable of ``(key, value)``
            pairs or :class:`KeyValueItem` s. Read lazily, never held whole.
        ttl: Seconds to live for items that carry no ``expires_at`` of their own.
        expires_at: Or their expiry (Unix seconds or an aware datetime).

    Returns:
        The report: every input item is counted as succeeded or failed.

    Raises:
        ValidationError: ``ttl``/``expires_at`` or an option is invalid (before any
            request; a bad *item* only fails that item).
        BulkError: With ``raise_on_error=True``, if any item failed.
        Exception: Whatever the input iterable raised, after the items already taken
            from it have finished (they are in the report).
    """
    check_expiry(ttl, expires_at)
    source: Iterable[object] | AsyncIterable[object] = (
        items.items() if isinstance(items, Mapping) else items
    )

    def prepare(raw: object) -> tuple[str, str]:
        key, value, own_expiry = _unpack(raw)
        if own_expiry is not None:
            return key, kv._set_body(key, value, None, own_expiry)
        return key, kv._set_body(key, value, ttl, expires_at)

    async def call(index: int, prepared: tuple[str, str]) -> bool:
        await kv._call(_SET, prepared[1], prepared[0])
        return True

    run = _Run(kv, "set_many", prepare, call, options)
    await run.run(source)
    return run.report


async def get_many(
    kv: VoxKV, keys: KeysInput, **options: Unpack[BulkOptions]
) -> list[KeyValueItem | None]:
    """Get many keys concurrently; the items in input order, ``None`` where missing.

    The machinery is bounded as in :func:`set_many`, but the returned list is as long as
    the input: for an unbounded stream, call it on chunks. A key that failed (see the
    report) is also ``None`` in the list unless ``raise_on_error`` (default ``True``
    here, since ``None`` alone cannot tell failed from missing) raises instead.
    """
    options.setdefault("raise_on_error", True)
    results: list[KeyValueItem | None] = []

    async def call(index: int, key: str) -> bool:
        item = await kv.get(key)
        results[index] = item
        return item is not None

    run = _Run(kv, "get_many", _check_key, call, options, on_take=lambda: results.append(None))
    await run.run(_keys_source(keys))
    return results


async def delete_many(
    kv: VoxKV, keys: KeysInput, **options: Unpack[BulkOptions]
) -> BulkReport:
    """Delete many keys concurrently; keys already absent count as succeeded and missing."""

    async def call(index: int, key: str) -> bool:
        return await kv.delete(key)

    run = _Run(kv, "delete_many", _check_key, call, options)
    await run.run(_keys_source(keys))
    return run.report


def _keys_source(keys: KeysInput) -> Iterable[object] | AsyncIterable[object]:
    if isinstance(keys, str | bytes):
        raise TypeError("keys must be an iterable of keys, not a single string")
    return keys


def _check_key(raw: object) -> str:
    return check_key(raw)


def _unpack(raw: object) -> tuple[str, str, int | None]:
    """``(key, value, own expires_at)`` of one input item; ``ValidationError`` if no item."""
    if isinstance(raw, KeyValueItem):
        return raw.key, raw.value, raw.expires_at
    if isinstance(raw, tuple | list) and len(raw) == 2:
        return raw[0], raw[1], None
    raise ValidationError(
        "item", "must be a (key, value) pair or a KeyValueItem", type(raw).__name__
    )


# --- the engine ------------------------------------------------------------------------


class _Run:
    """One bulk run: a producer, ``concurrency`` workers, a bounded queue, the report."""

    def __init__(
        self,
        kv: VoxKV,
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
        self._workers = _positive_int(options.get("concurrency", 64), "concurrency")
        self._limiter = _limiter(options.get("rate_limit"))
        self._adaptive = _adaptive(options.get("adaptive", True))
        self._on_failure = options.get("on_failure")
        self._raise = options.get("raise_on_error", False)
        self._progress = _Progress(self.report, options.get("progress"),
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

    async def run(self, source: Iterable[object] | AsyncIterable[object]) -> None:
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

    async def _produce(self, source: Iterable[object] | AsyncIterable[object]) -> None:
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
        error.add_note(f"{self.report.operation}: input item #{index} ({_describe(raw)})")
        failure = BulkFailure(index, raw, error)
        self.report._add_failure(failure)
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


def _describe(raw: object) -> str:
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


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value < 1:
        raise ValidationError(name, "must be an int >= 1", repr(value))
    return value


def _limiter(rate: float | None) -> Any:
    """An ``aiolimiter.AsyncLimiter`` allowing ``rate`` requests/s, bursts of 100 ms."""
    if rate is None:
        return None
    if not isinstance(rate, int | float) or not rate > 0:
        raise ValidationError("rate_limit", "must be a number > 0 (requests/s)", repr(rate))
    try:
        from aiolimiter import AsyncLimiter
    except ImportError as exc:
        raise ImportError(
            "rate_limit needs aiolimiter: pip install 'voxkv_async[bulk]'"
        ) from exc
    burst = max(1.0, rate / 10)
    return AsyncLimiter(burst, burst / rate)


def _adaptive(adaptive: AdaptiveRate | bool) -> AdaptiveRate | None:
    if isinstance(adaptive, AdaptiveRate):
        return adaptive
    return AdaptiveRate() if adaptive else None


class _Progress:
    """Throttled progress: a callback, or a tqdm bar, at most every ``interval`` s."""

    def __init__(self, report: BulkReport, progress: ProgressCallback | bool | None,
                 interval: float) -> None:
        self._report = report
        self._callback: ProgressCallback | None = None
        self._bar: Any = None
        self._interval = interval
        self._next = 0.0
        if callable(progress):
            self._callback = progress
        elif progress:
            self._bar = _tqdm(report.operation)
        self._active = self._callback is not None or self._bar is not None

    def total_hint(self, source: object) -> None:
        if self._bar is not None and isinstance(source, Sized):
            self._bar.total = len(source)

    def tick(self) -> None:
        if not self._active:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            self._emit()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(self._report)
        if self._bar is not None:
            self._bar.update(self._report.done - self._bar.n)

    def close(self, *, final_update: bool = True) -> None:
        if self._active and final_update:
            self._emit()
        if self._bar is not None:
            self._bar.close()


def _tqdm(description: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise ImportError(
            "progress=True needs tqdm: pip install 'voxkv_async[bulk]'"
        ) from exc
    return tqdm(desc=description, unit=" items", mininterval=0.2, smoothing=0.1)
