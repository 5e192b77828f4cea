"""What a bulk run did: :class:`BulkReport`, :class:`BulkFailure`, :class:`BulkError`.

Accounting: every item taken from the input ends up exactly once in the report, as
succeeded or as failed (with its exception); items that fail validation fail without a
request. If the run is cancelled, the items that were queued or in flight are listed in
:attr:`BulkReport.unfinished` (they may or may not have been applied); every other item
taken from the input (the first :attr:`BulkReport.total`) succeeded or is in
:attr:`BulkReport.failures`. Pass ``report=BulkReport()`` to read this after a cancel:
the report is filled live.
"""

from __future__ import annotations

import time

import attrs

from .._errors import VoxKVError

__all__ = ["DEFAULT_MAX_FAILURES", "BulkError", "BulkFailure", "BulkReport"]

#: Failures a report keeps by default; later ones are only counted (see ``on_failure``).
DEFAULT_MAX_FAILURES = 10_000


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

    def add_failure(self, failure: BulkFailure) -> None:
        """Count ``failure``, keeping it while fewer than ``max_failures`` are kept."""
        self.failed += 1
        if self.max_failures is None or len(self.failures) < self.max_failures:
            self.failures.append(failure)
        else:
            self.failures_dropped += 1
