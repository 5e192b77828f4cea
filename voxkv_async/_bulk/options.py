"""The options of a bulk run (:class:`BulkOptions`), checked into :class:`RunSettings`.

Checking only: what the values do is the engine's (pacing: :mod:`.gate`; retries:
:mod:`.retries`; per-key order: :mod:`.order`; the report: :mod:`.report`).

Every option is checked when the run starts, before any request: a bad one raises a
:class:`~voxkv_async.ValidationError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypedDict

from .._errors import ValidationError
from .._retry import RetryPolicy
from .pacing import AdaptiveRate
from .protocol import BulkClient
from .report import BulkFailure, BulkReport

__all__ = [
    "DEFAULT_ITEM_ATTEMPTS",
    "DEFAULT_OUTAGE_TOLERANCE",
    "DEFAULT_UNKNOWN_OUTCOME_DELAY",
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
#: Seconds a later item for a key waits after an attempt of unknown outcome ended:
#: longer than the server could still apply that attempt. The real API's bound is not
#: documented; 60 s is the usual read timeout of gateways in front of a service, and
#: six of the client's default attempt timeouts.
DEFAULT_UNKNOWN_OUTCOME_DELAY = 60.0


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
        unknown_outcome_delay: Seconds a later item for a key waits after an attempt
            of an earlier item of that key ended with its outcome unknown (a timeout
            after sending, a dropped connection, a gateway's 5xx), so that the earlier
            request, if the server still applies it, cannot land after the later one
            (default :data:`DEFAULT_UNKNOWN_OUTCOME_DELAY`, 60). Other keys go on
            meanwhile; ``0`` trusts that nothing lands late.
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
    unknown_outcome_delay: float
    checkpoint: CheckpointLike | None
    verify: bool
    progress: ProgressCallback | bool | None
    progress_interval: float
    report: BulkReport | None
    on_failure: FailureSink | None
    raise_on_error: bool


class RunSettings:
    """The checked options of one run: plain values, each checked before any request.

    Args:
        kv: The client (its retry policy is the items' default).
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
        self.report = options.get("report")
        self.timeout = _optional_seconds(options.get("timeout"), "timeout")
        self.outage_tolerance = _seconds(
            options.get("outage_tolerance", DEFAULT_OUTAGE_TOLERANCE), "outage_tolerance")
        self.unknown_outcome_delay = _seconds(
            options.get("unknown_outcome_delay", DEFAULT_UNKNOWN_OUTCOME_DELAY),
            "unknown_outcome_delay", zero=True)
        policy = options.get("retry")
        #: Attempts per item for transient failures other than throttles.
        self.item_attempts = DEFAULT_ITEM_ATTEMPTS if policy is None else policy.max_attempts
        #: The policy whose waits space an item's attempts.
        self.policy = policy or kv.retry_policy
        self.rate_limit = _rate(options.get("rate_limit"))
        self.pacer = _adaptive(options.get("adaptive", True))


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value < 1:
        raise ValidationError(name, "must be an int >= 1", repr(value))
    return value


def _seconds(value: object, name: str, *, zero: bool = False) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not (
            value >= 0 if zero else value > 0):
        raise ValidationError(name, f"must be a number of seconds {'>=' if zero else '>'} 0",
                              repr(value))
    return float(value)


def _optional_seconds(value: object, name: str) -> float | None:
    return None if value is None else _seconds(value, name)


def _rate(rate: object) -> float | None:
    if rate is None:
        return None
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        raise ValidationError("rate_limit", "must be a number > 0 (requests/s)", repr(rate))
    return float(rate)


def _adaptive(adaptive: AdaptiveRate | bool) -> AdaptiveRate | None:
    if isinstance(adaptive, AdaptiveRate):
        return adaptive
    return AdaptiveRate() if adaptive else None
