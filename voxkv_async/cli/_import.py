"""``voxkv import FILE``: set every row of a file, resumably, never losing a bad row.

The rows are read lazily (JSON Lines or CSV, see :mod:`._rows` and :mod:`._csvrows`) and
streamed to ``set_many``; a record that cannot be a row is rejected on the spot and the
rest goes on. With ``--checkpoint PATH`` each row confirmed written is recorded by its
ordinal (see :class:`~voxkv_async.Checkpoint`), so running the same command again after
any interruption sends only the rows not confirmed before. The checkpoint is bound to
the SHA-256 of the bytes read (through the one open file, see :mod:`._input`: a pipe is
refused, since it cannot be read again) and to the destination (endpoint, account,
application, ``--ttl``); it is locked while in use, and removed once every row is written.

A row superseded by a later row of its key that was written (or recorded written) is
left out of the rejects file: importing it again would put back the older value (see
:mod:`._rejects`). The rows of one key are recorded in input order, so a resumed run
never finds a later row of a key done and an earlier one not.

Duplicate keys: the engine applies the rows of one key in input order, so the last row
wins; they are counted from 8-byte key hashes kept for the rows sent (8 MB per million
rows, sorted once at the end).
"""

from __future__ import annotations

import argparse
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._bulk import BulkAbortedError, BulkFailure, BulkReport
from .._bulk.checkpoint import Checkpoint, CheckpointLockedError
from .._validation import TTL_MAX
from ._connection import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_PARTIAL,
    UsageError,
    connected,
    is_stdio,
)
from ._csvrows import CsvInputError, read_csv, read_header
from ._destination import destination_of
from ._input import InputFile, check_regular
from ._jobs import Bar, command_line, finish, run_job, show_progress
from ._keytable import count_repeats
from ._rejects import Rejects, check_distinct
from ._rows import Reject, Row, RowRules, read_jsonl, read_lines

__all__ = ["run_import"]


class _Feed:
    """The rows ``set_many`` gets, and the checkpoint it marks (by row ordinal).

    Rejects go to the rejects file; rows a checkpoint records as done are skipped. The
    engine knows items by their index in what it was fed, the checkpoint by their
    ordinal in the file: this maps one to the other for the rows in flight. It is the
    engine's checkpoint even without ``--checkpoint``: each row written is told to the
    rejects file, which then leaves out the earlier rows of its key.
    """

    def __init__(self, records: Iterator[Row | Reject], rejects: Rejects,
                 checkpoint: Checkpoint | None) -> None:
        self._records = records
        self._rejects = rejects
        self._checkpoint = checkpoint
        self._in_flight: dict[int, Row] = {}
        self._hashes = array("q")
        self.read = 0
        self.rejected = 0
        self.skipped = 0

    def __iter__(self) -> Iterator[Row]:
        checkpoint = self._checkpoint
        for record in self._records:
            self.read += 1
            if isinstance(record, Reject):
                self.rejected += 1
                self._rejects.reject(record)
            elif checkpoint is not None and checkpoint.is_done(record.ordinal):
                self.skipped += 1
                self._rejects.written(record.key, record.ordinal)  # by an earlier run
            else:
                self._in_flight[len(self._hashes)] = record
                self._hashes.append(hash(record.key))
                yield record

    # --- the engine's checkpoint protocol ------------------------------------------------

    def is_done(self, index: int) -> bool:
        return False  # the rows done before were never fed

    def mark_done(self, index: int) -> None:
        row = self._in_flight.pop(index, None)
        if row is None:
            return
        # The earlier rows of this key that failed are superseded: a resumed run must
        # not send them again. Recorded *before* this row: what survives a crash is a
        # prefix of the marks, so a resumed run never finds this row done and an
        # earlier one of its key not (it would send the older value last).
        superseded = self._rejects.written(row.key, row.ordinal)
        if self._checkpoint is not None:
            for ordinal in superseded:
                self._checkpoint.mark_done(ordinal)
            self._checkpoint.mark_done(row.ordinal)

    async def flush(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint.flush()

    def on_failure(self, failure: BulkFailure) -> None:
        self._in_flight.pop(failure.index, None)
        row = failure.item
        assert isinstance(row, Row)  # the feed yields only rows
        self._rejects.failure(row, failure.error)

    def duplicates(self) -> int:
        """Rows sent whose key an earlier row sent had too."""
        return count_repeats(self._hashes)


class _ImportJob:
    """One ``voxkv import``: its input, rejects, checkpoint, and outcome."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.monotonic()
        self.args = args
        self.path: Path = args.file
        self.fmt = _format_of(args)
        _check_flags(args)
        self.checkpoint: Checkpoint | None = None
        self.input = InputFile(self.path)
        self.stream = self.input.stream
        try:
            self.header = self._read_header()
            self.checkpoint = self._open_checkpoint()
        except BaseException:
            self._close_inputs()
            raise
        progress = show_progress(args)
        lines = self.input.count_lines() if progress else None
        total = None if lines is None else max(0, lines - (self.header is not None))
        self.bar = Bar(progress, total, "import")
        self.rejects = Rejects(args.rejects, self.fmt, self.header, str(self.path),
                               self.bar.write)
        self.rules = RowRules()
        records = (read_csv(self.stream, self.header, self.rules) if self.header is not None
                   else read_jsonl(self.stream, self.rules))
        self.feed = _Feed(records, self.rejects, self.checkpoint)
        self.report = BulkReport(max_failures=0)
        self.aborted: BulkAbortedError | None = None

    def _read_header(self) -> list[str] | None:
        if self.fmt != "csv":
            return None
        try:
            return read_header(self.stream)
        except CsvInputError as exc:
            raise UsageError(f"{self.path}: {exc}") from None

    def _open_checkpoint(self) -> Checkpoint | None:
        path: Path | None = self.args.checkpoint
        if path is None:
            return None
        self.input.require_regular("--checkpoint")  # a pipe now, if not when checked
        # The format is part of it: the same bytes read as CSV have other rows.
        fingerprint = f"{self.input.fingerprint()}:{self.fmt}"
        source = f"{self.path.resolve()} ({self.input.size} bytes, {self.fmt})"
        try:
            return Checkpoint.open(path, fingerprint, source=source,
                                   destination=destination_of(self.args))
        except CheckpointLockedError as exc:
            raise UsageError(str(exc)) from None

    async def run(self) -> None:
        args = self.args
        async with connected(args) as kv:
            try:
                await kv.set_many(
                    self.feed, ttl=args.ttl, concurrency=args.concurrency,
                    rate_limit=args.rate, report=self.report,
                    outage_tolerance=args.give_up_after,
                    progress=self._progress, progress_interval=0.2,
                    on_failure=self.feed.on_failure, checkpoint=self.feed)
            except BulkAbortedError as exc:
                self.aborted = exc

    def _progress(self, report: BulkReport) -> None:
        self.bar.set(self.feed.skipped + self.feed.rejected + report.done)

    # --- the outcome -------------------------------------------------------------------

    def finish(self, signum: int | None, exit_signal: int) -> int:
        """Say what was done (and how to resume); the exit code."""
        feed, report = self.feed, self.report
        stopped = signum is not None or self.aborted is not None
        rest = self._count_rest() if stopped else 0
        if not stopped:
            self.bar.set_total(feed.read)  # the line count was an estimate
        self.bar.close()
        self.rejects.close()
        not_done = feed.read - feed.rejected - feed.skipped - report.done + (rest or 0)
        # Superseded rows do not count: the file's last row of their key is written.
        complete = (not_done == 0 and not self.input.changed
                    and report.failed + feed.rejected == self.rejects.superseded)
        code = (exit_signal if signum is not None else EXIT_ABORTED if self.aborted
                else EXIT_OK if complete else EXIT_PARTIAL)
        removed = self._settle_checkpoint(complete and not stopped)
        summary = self._summary(code, not_done, rest, removed)
        self._explain(summary, signum)
        return finish(self.args, summary, _line(summary))

    def _summary(self, code: int, not_done: int, rest: int | None,
                 removed: bool) -> dict[str, Any]:
        feed, report, aborted, checkpoint = self.feed, self.report, self.aborted, self.checkpoint
        return {
            "command": "import", "status": _status(code), "exit_code": code,
            "input": str(self.path), "format": self.fmt, "rows": feed.read + (rest or 0),
            "written": report.succeeded, "failed": report.failed,
            "rejected": feed.rejected, "skipped": feed.skipped,
            "superseded": self.rejects.superseded,
            "duplicates": feed.duplicates(), "not_done": not_done,
            "rest_of_input_unread": rest is None, "input_changed": self.input.changed,
            "rejects": str(self.args.rejects) if self.rejects.kept and self.args.rejects
            else None,
            "checkpoint": str(checkpoint.path) if checkpoint else None,
            "checkpoint_removed": removed,
            "checkpoint_kept": bool(checkpoint and not removed and checkpoint.on_disk),
            "error": f"{type(aborted.cause).__name__}: {aborted.cause}" if aborted else None,
            "resume": None if code == EXIT_OK else self._resume_hint(),
            "elapsed": round(time.monotonic() - self.started, 3),
        }

    def _count_rest(self) -> int | None:
        """Records after the last one read (``None`` for a pipe: it is not read on)."""
        if not self.input.regular:
            return None
        if self.header is not None:
            return sum(1 for _ in read_csv(self.stream, self.header, self.rules))
        return sum(1 for n, raw in read_lines(self.stream) if n < 0 or raw.strip())

    def _settle_checkpoint(self, all_done: bool) -> bool:
        if self.checkpoint is None:
            return False
        if all_done:
            self.checkpoint.remove()
            return True
        self.checkpoint.close()
        return False

    def _resume_hint(self) -> str:
        if self.checkpoint is None:
            return ("no --checkpoint was given: a rerun sends every row again (Set is "
                    "idempotent); add --checkpoint PATH to make the job resumable")
        return command_line(self.args)

    def _explain(self, summary: dict[str, Any], signum: int | None) -> None:
        say = self.bar.write
        if signum is not None:
            say(f"voxkv import: interrupted: {summary['written']} written, "
                f"{summary['failed']} failed, {summary['rejected']} rejected, "
                f"{summary['not_done']} not done")
        elif self.aborted is not None:
            say(f"voxkv import: could not proceed: {summary['error']}")
        if summary["input_changed"]:
            say(f"voxkv import: {self.path} changed while it was read (rewritten in place): "
                "the rows sent may mix two versions; run again once it no longer changes")
        self._explain_checkpoint(summary)
        if summary["exit_code"] == EXIT_PARTIAL and summary["rejects"]:
            say(f"voxkv import: the rows not written are in {summary['rejects']}, each with "
                f"its line and error: fix them and run: voxkv import {summary['rejects']}")
        elif summary["exit_code"] not in (EXIT_OK, EXIT_PARTIAL):
            say(f"voxkv import: to resume: {summary['resume']}")

    def _explain_checkpoint(self, summary: dict[str, Any]) -> None:
        checkpoint = self.checkpoint
        if checkpoint is None or summary["checkpoint_removed"]:
            return
        if summary["checkpoint_kept"]:
            self.bar.write(f"voxkv import: checkpoint kept: {checkpoint.path} "
                           f"({checkpoint.done_count} rows recorded as written)")
        else:
            self.bar.write(f"voxkv import: checkpoint {checkpoint.path} is GONE: it was "
                           "deleted or replaced during the run, so the "
                           f"{checkpoint.done_count} rows it recorded as written are not "
                           "recorded anywhere: the same command sends every row again")

    def close(self) -> None:
        self.bar.close()
        self._close_inputs()

    def _close_inputs(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.close()
        self.input.close()


def _check_flags(args: argparse.Namespace) -> None:
    if args.ttl is not None and not 1 <= args.ttl <= TTL_MAX:
        raise UsageError(f"--ttl must be 1..{TTL_MAX} seconds (90 days); got {args.ttl}")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1; got {args.concurrency}")
    if args.checkpoint is not None and is_stdio(args.file):
        raise UsageError("--checkpoint needs a file: standard input cannot be read again "
                         "to resume")
    if args.rejects is not None:
        if is_stdio(args.rejects):
            raise UsageError("--rejects needs a file path, not '-'")
        check_distinct(args.rejects, "--rejects", {"input": args.file,
                                                   "checkpoint": args.checkpoint})
    if args.checkpoint is not None:
        check_distinct(args.checkpoint, "--checkpoint", {"input": args.file})
        check_regular(args.file, "--checkpoint")  # before opening: a pipe is not drained


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "csv" if Path(args.file).suffix.lower() == ".csv" else "jsonl"


def _status(code: int) -> str:
    return {EXIT_OK: "ok", EXIT_PARTIAL: "partial", EXIT_ABORTED: "aborted"}.get(
        code, "interrupted")


def _line(s: dict[str, Any]) -> str:
    parts = [f"{s['written']} written", f"{s['failed']} failed", f"{s['rejected']} rejected"]
    if s["superseded"]:
        parts.append(f"{s['superseded']} of them superseded (a later row of the key was "
                     "written: not in the rejects file)")
    if s["skipped"]:
        parts.append(f"{s['skipped']} skipped (written before)")
    if s["duplicates"]:
        parts.append(f"{s['duplicates']} duplicate keys (the last row wins)")
    if s["not_done"] or s["rest_of_input_unread"]:
        unread = " + the unread rest of the input" if s["rest_of_input_unread"] else ""
        parts.append(f"{s['not_done']} not done{unread}")
    rate = s["written"] / s["elapsed"] if s["elapsed"] > 0 else 0.0
    tail = f" in {s['elapsed']:.1f} s ({rate:.0f} rows/s)"
    if s["rejects"]:
        tail += f"; rejects in {s['rejects']}"
    if s["checkpoint_removed"]:
        tail += "; every row written: checkpoint removed"
    return ", ".join(parts) + tail


async def run_import(args: argparse.Namespace) -> int:
    """The ``voxkv import`` handler."""
    return await run_job(_ImportJob(args), "import")
