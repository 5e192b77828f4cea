"""What a bulk run did: :class:`BulkReport`, :class:`BulkFailure`, :class:`BulkError`.

Accounting: every item taken from the input (the first :attr:`BulkReport.total`) ends up
exactly once in the report: succeeded, failed (with its exception), skipped (done by an
earlier run, per the checkpoint), not attempted (the run stopped before trying it), or,
after a cancel, unfinished (queued or in flight: it may or may not have been applied).
Items that fail validation fail without a request. A failure whose last attempt may have
been applied says so (:attr:`BulkFailure.outcome_unknown`);
:meth:`BulkReport.verify` reads those back and settles them. Pass
``report=BulkReport()`` to read all this after a cancel: the report is filled live.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs

from .._errors import VoxKVError

__all__ = [
    "DEFAULT_MAX_FAILURES",
    "BulkAbortedError",
    "BulkError",
    "BulkFailure",
    "BulkReport",
    "fresh_report",
]

#: Failures a report keeps by default; later ones are only counted (see ``on_failure``).
DEFAULT_MAX_FAILURES = 10_000


@attrs.frozen
class BulkFailure:
    """One input item that failed.

    Attributes:
        index: Its position in the input, from 0.
        item: The item exactly as the input gave it (a pair, a ``KeyValueItem``, a key).
        error: Why: a ``ValidationError`` (no request was made) or the exception of the
            last attempt once the item's retries gave up.
        outcome_unknown: Whether an attempt may have been applied although the item
            failed (a timeout after the request left, a connection dropped after
            sending, a gateway's 5xx): check it, or let :meth:`BulkReport.verify` do.
        attempts: Attempts made (0 when it failed validation).
    """

    index: int
    item: object = attrs.field(repr=False)  # it may hold a stored value
    error: Exception
    outcome_unknown: bool = False
    attempts: int = 0


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
        retried: Items sent again after a transient failure or a throttle (each time
            counts; ``kv.stats.retries`` counts them too).
        failures: The failed items, in completion order, up to ``max_failures``.
        failures_dropped: Failures counted but not kept, beyond ``max_failures``.
        unfinished: After a cancel, the ``(index, item)`` pairs that were queued or in
            flight: neither succeeded nor failed, and may or may not have been applied.
        cancelled: Whether the run was cancelled.
        skipped: Items skipped as done by an earlier run (``checkpoint=``).
        not_attempted: After an early stop (:attr:`stopped_by`), the ``(index, item)``
            pairs taken from the input but never tried. The rest of the input was not
            read.
        stopped_by: The error that stopped the run early (every other item would have
            met it too), or ``None``.
        throttled: Attempts the server answered with a throttle.
        pauses: Times the run paused because the server looked down.
        paused_seconds: Seconds spent paused.
        verified: Unknown-outcome failures that :meth:`verify` found applied (moved to
            succeeded).
        max_failures: How many failures to keep (``None``: all). Set it before the run.
        started_at: ``time.monotonic()`` at the start (``None`` before).
        finished_at: ``time.monotonic()`` at the end (``None`` while running).
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
    skipped: int = 0
    not_attempted: list[tuple[int, object]] = attrs.field(factory=list, repr=False)
    stopped_by: Exception | None = None
    throttled: int = 0
    pauses: int = 0
    paused_seconds: float = 0.0
    verified: int = 0
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
        return (self.failed == 0 and not self.cancelled and self.stopped_by is None
                and self.finished_at is not None)

    @property
    def outcome_unknown(self) -> list[BulkFailure]:
        """The kept failures whose last attempt may have been applied."""
        return [f for f in self.failures if f.outcome_unknown]

    def summary(self) -> str:
        """One line for logs and the CLI."""
        extra = [f"{self.retried} retried attempts"]
        if self.throttled:
            extra.append(f"{self.throttled} throttled")
        if self.pauses:
            extra.append(f"{self.pauses} pauses ({self.paused_seconds:.1f} s) for outages")
        if self.skipped:
            extra.append(f"{self.skipped} skipped as done before")
        if self.stopped_by is not None:
            extra.append(f"stopped early by {type(self.stopped_by).__name__}, "
                         f"{len(self.not_attempted)} not attempted")
        if self.cancelled:
            extra.append("cancelled")
        return (
            f"{self.operation}: {self.succeeded} succeeded, {self.failed} failed of "
            f"{self.total} in {self.elapsed:.2f} s ({self.throughput:.0f} items/s), "
            + ", ".join(extra)
        )

    async def verify(self, applied: Callable[[BulkFailure], Awaitable[bool]]) -> int:
        """Settle the unknown outcomes: read each back and count the applied as succeeded.

        Args:
            applied: Whether a failure's item is in fact applied; the operations pass a
                read-back (``set_many(verify=True)`` compares the stored value).

        Returns:
            How many were found applied (also added to :attr:`verified`).
        """
        found = 0
        for failure in self.outcome_unknown:
            if await applied(failure):
                self.failures.remove(failure)
                self.failed -= 1
                self.succeeded += 1
                found += 1
        self.verified += found
        return found

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

    def add_failure(self, failure: BulkFailure) -> None:
        """Count ``failure``, keeping it while fewer than ``max_failures`` are kept."""
        self.failed += 1
        if self.max_failures is None or len(self.failures) < self.max_failures:
            self.failures.append(failure)
        else:
            self.failures_dropped += 1


def fresh_report(report: BulkReport | None, operation: str) -> BulkReport:
    """The report a run fills: the caller's (``report=``, which must be fresh) or a new one."""
    if report is None:
        return BulkReport(operation)
    if report.started_at is not None:
        raise ValueError("report= must be a fresh BulkReport, not one from another run")
    report.operation = operation
    return report


class BulkAbortedError(VoxKVError):
    """A bulk run stopped early: it could not proceed, and every later item would fail too.

    Raised for authentication that fails after re-signing, a missing role (104), an
    unknown application, a certificate that does not verify, or a server unreachable
    for longer than ``outage_tolerance``. The report says what was done:
    ``report.succeeded`` items were written, the item that met the error is in
    ``report.failures``, ``report.not_attempted`` lists the items taken but never tried,
    and the rest of the input was not read.

    Attributes:
        report: The run's report.
        cause: The error that stopped it (also ``__cause__``).
    """

    def __init__(self, report: BulkReport, cause: VoxKVError) -> None:
        super().__init__(report, cause)
        self.report = report
        self.cause = cause
        self.__cause__ = cause

    def __str__(self) -> str:
        # Read when shown: the report goes on filling while in-flight items finish.
        report, cause = self.report, self.cause
        return (
            f"{report.operation} stopped early: {type(cause).__name__}: {cause}; "
            f"{report.succeeded} items succeeded, {len(report.not_attempted)} taken from "
            "the input but not attempted, the rest of the input not read"
        )
