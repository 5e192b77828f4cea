"""The options of a bulk run (:class:`BulkOptions`), checked into :class:`RunSettings`.

Every option is checked when the run starts, before any request: a bad one raises a
:class:`~voxkv_async.ValidationError` naming it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from .._errors import ApiError, RateLimitedError, ValidationError
from .._retry import RetryPolicy
from .pacing import AdaptiveRate
from .protocol import BulkClient
from .report import BulkFailure, BulkReport

__all__ = [
    "DEFAULT_ITEM_ATTEMPTS",
    "DEFAULT_OUTAGE_TOLERANCE",
    "BulkOptions",
    "CheckpointLike",
    "FailureSink",
    "ProgressCallback",
    "RunSettings",
]

#: Attempts per item for transient failures other than throttling, unless ``retry=`` says.
DEFAULT_ITEM_ATTEMPTS = 20
#: Seconds a run waits for an unreachable server before it gives up.
DEFAULT_OUTAGE_TOLERANCE = 300.0
# How long a retry waits at least while the client-wide retry budget is empty.
_BUDGET_WAIT = 1.0


class CheckpointLike(Protocol):
    """What a run needs of a checkpoint (see :class:`~voxkv_async.Checkpoint`)."""

    def is_done(self, index: int) -> bool:
        """Whether input item ``index`` was confirmed by an earlier run."""
        ...

    def mark_done(self, index: int) -> None:
        """Record input item ``index`` as confirmed."""
        ...

    async def flush(self) -> None:
        """Write what is pending durably."""
        ...


ProgressCallback = Callable[[BulkReport], object]
FailureSink = Callable[[BulkFailure], object]


class BulkOptions(TypedDict, total=False):
    """Options shared by ``set_many``, ``get_many`` and ``delete_many``.

    Attributes:
        concurrency: Worker tasks, i.e. requests in flight (default 64). Keep it at or
            below the client's ``Limits.max_connections``.
        rate_limit: At most this many requests per second (needs ``aiolimiter``, the
            ``bulk`` extra); ``None`` (default) for no fixed limit.
        adaptive: The :class:`AdaptiveRate` to use, ``True`` (default) for a new one,
            ``False`` for none. Dormant until the server first throttles; then it
            follows a server-side rate limit closely and ignores throttling that does
            not respond to the send rate (see :class:`AdaptiveRate`).
        retry: The retry policy of each item: ``max_attempts`` is how many attempts an
            item gets for transient failures other than throttling (default
            :data:`DEFAULT_ITEM_ATTEMPTS`, not the client's), ``base``/``max_wait`` its
            backoff. Throttled attempts do not count: the pacer slows the run instead.
            ``RetryPolicy.disabled()`` fails an item at its first transient error.
        timeout: Seconds for each attempt of each item (default: the client's
            ``Timeouts``).
        outage_tolerance: Seconds without any answer from the server after which the
            run gives up (default 300): until then it pauses and probes (see
            :class:`BulkAbortedError`).
        checkpoint: A :class:`~voxkv_async.Checkpoint` (or any object with
            ``is_done``/``mark_done``/``flush``): input items it records as done are
            skipped, and every item that succeeds is recorded, so a run over the same
            input can resume.
        verify: After the run, read back every failure whose outcome is unknown and
            count those found applied as succeeded (``set_many``: the stored value
            equals the item's; ``delete_many``: the key is gone). Default ``False``.
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
    retry: RetryPolicy | None
    timeout: float | None
    outage_tolerance: float
    checkpoint: CheckpointLike | None
    verify: bool
    progress: ProgressCallback | bool | None
    progress_interval: float
    report: BulkReport | None
    on_failure: FailureSink | None
    raise_on_error: bool


class RunSettings:
    """The checked options of one run, and the pacing they set up.

    Args:
        kv: The client (its retry policy and budget).
        options: What the caller passed.
    """

    def __init__(self, kv: BulkClient, options: BulkOptions) -> None:
        self.concurrency = _positive_int(options.get("concurrency", 64), "concurrency")
        # Items taken but not settled: enough that no worker waits for the producer,
        # small enough to bound memory and what a cancel leaves unfinished.
        self.capacity = 3 * self.concurrency
        self.progress = options.get("progress")
        self.progress_interval = options.get("progress_interval", 0.2)
        self.on_failure = options.get("on_failure")
        self.raise_on_error = options.get("raise_on_error", False)
        self.checkpoint = options.get("checkpoint")
        self.timeout = _optional_seconds(options.get("timeout"), "timeout")
        self.outage_tolerance = _seconds(
            options.get("outage_tolerance", DEFAULT_OUTAGE_TOLERANCE), "outage_tolerance")
        policy = options.get("retry")
        self.item_attempts = DEFAULT_ITEM_ATTEMPTS if policy is None else policy.max_attempts
        self._policy = policy or kv.retry_policy
        self._report = options.get("report")
        self._limiter = _limiter(options.get("rate_limit"))
        self.pacer = _adaptive(options.get("adaptive", True))

    @property
    def retry_cost(self) -> int:
        """Retry-budget tokens one retry of an item costs."""
        return self._policy.retry_cost

    @property
    def budget_wait(self) -> float:
        """The shortest wait of a retry while the retry budget is empty."""
        return _BUDGET_WAIT

    @property
    def max_retry_after(self) -> float:
        """The longest server-asked delay an item waits (``RetryPolicy.max_retry_after``)."""
        return self._policy.max_retry_after

    def backoff(self, failures: int) -> float:
        """Full jitter after ``failures`` transient failures of one item."""
        return _full_jitter(self._policy.base, failures, self._policy.max_wait)

    def throttle_backoff(self, throttles: int) -> float:
        """Full jitter after ``throttles`` throttles of one item that gave no delay."""
        return _full_jitter(self._policy.throttle_base, throttles, self._policy.max_wait)

    async def pace(self) -> None:
        """Wait for the pacer and the fixed rate limit, if any."""
        if self.pacer is not None:
            await self.pacer.acquire()
        if self._limiter is not None:
            await self._limiter.acquire()

    def tell_pacer(self, outcome: Exception | None) -> None:
        """Tell the pacer how an attempt it let through ended.

        A throttle (with the server's hint), any other answer (a success or an error
        envelope: the server took the request), or no answer at all.
        """
        pacer = self.pacer
        if pacer is None:
            return
        if outcome is None or (isinstance(outcome, ApiError)
                               and not isinstance(outcome, RateLimitedError)):
            pacer.on_success()
        elif isinstance(outcome, RateLimitedError):
            pacer.on_throttle(outcome.retry_after)
        else:
            pacer.on_error()

    def fresh_report(self, operation: str) -> BulkReport:
        """The report to fill: the caller's (which must be fresh) or a new one."""
        report = self._report
        if report is None:
            return BulkReport(operation)
        if report.started_at is not None:
            raise ValueError("report= must be a fresh BulkReport, not one from another run")
        report.operation = operation
        return report


def _full_jitter(base: float, n: int, cap: float) -> float:
    return random.uniform(0, min(cap, base * 2 ** (n - 1)))


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value < 1:
        raise ValidationError(name, "must be an int >= 1", repr(value))
    return value


def _seconds(value: object, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValidationError(name, "must be a number of seconds > 0", repr(value))
    return float(value)


def _optional_seconds(value: object, name: str) -> float | None:
    return None if value is None else _seconds(value, name)


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
