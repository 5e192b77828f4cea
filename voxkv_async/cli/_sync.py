"""``voxkv sync FILE --prefix P``: make the keys under ``P`` equal to a file.

Four phases: list what is stored under ``P`` (``iter_items``: pages fetched concurrently,
keys present throughout listed exactly once even under concurrent writes), read the file and plan
(:mod:`._plan`), then, unless ``--dry-run``, write the rows that differ (``set_many``)
and, with ``--delete``, delete the keys the file does not have (``delete_many``). Nothing
is written before the whole plan is known, so ``--dry-run`` and the ``--max-delete``
guard see exactly what would happen. A sync is its own resume: run it again after an
interruption and it writes only what still differs. Standard input is spooled to a
temporary file first, since the file is read twice (to plan, then to write). One
:class:`~voxkv_async.AdaptiveRate` paces the listing, the writes and the deletions, so
what the listing learned of the server's limit carries over to the writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._bulk import AdaptiveRate, BulkAbortedError, BulkFailure, BulkReport
from .._client import VoxKV
from .._listing import ListingReport
from .._validation import TTL_MAX, check_key
from ._connection import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    UsageError,
    connected,
    is_stdio,
)
from ._csvrows import CsvInputError, read_csv, read_header
from ._jobs import Bar, finish, open_input, run_job, show_progress
from ._plan import Plan, Planner
from ._rejects import Rejects, check_distinct
from ._rows import Reject, Row, RowRules, read_jsonl

__all__ = ["run_sync"]

# Rows planned between two yields to the event loop (so Ctrl-C is seen while planning).
_YIELD_EVERY = 5000


class _SyncJob:
    """One ``voxkv sync``: its input, plan and outcome."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.monotonic()
        self.args = args
        self.prefix = check_key(args.prefix, "--prefix")
        self.max_delete = _max_delete(args.max_delete)
        _check_flags(args)
        self.fmt = "csv" if args.format == "csv" or (
            args.format is None and Path(args.file).suffix.lower() == ".csv") else "jsonl"
        self.stdin_copy: IO[bytes] | None = None
        self.path = self._input_path()
        self.header = self._header()
        self.rules = RowRules(prefix=self.prefix)
        self.bar = Bar(False, None, "sync")
        self.rejects = Rejects(args.rejects, self.fmt, self.header, str(args.file), _say)
        # Held for the whole job, closed by close().
        self.spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.planner = Planner(self.spool)
        self.plan: Plan | None = None
        self.phase = "listing"
        self.refused = False
        self.writes = BulkReport(max_failures=0)
        self.deletes = BulkReport(max_failures=0)
        self.delete_failures = 0
        self.aborted: BulkAbortedError | None = None
        self.pacer = AdaptiveRate()  # one for the whole job: see the module docstring
        self.listing: ListingReport | None = None

    def _input_path(self) -> Path:
        if not is_stdio(self.args.file):
            path: Path = self.args.file
            open_input(path).close()  # readable, or a usage error now
            return path
        self.stdin_copy = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by close()
            prefix="voxkv-sync-", suffix=".in")
        shutil.copyfileobj(sys.stdin.buffer, self.stdin_copy)
        self.stdin_copy.flush()
        return Path(self.stdin_copy.name)

    def _header(self) -> list[str] | None:
        if self.fmt != "csv":
            return None
        with self.path.open("rb") as stream:
            try:
                return read_header(stream)
            except CsvInputError as exc:
                raise UsageError(f"{self.args.file}: {exc}") from None

    def _records(self, stream: IO[bytes]) -> Iterator[Row | Reject]:
        if self.header is None:
            return read_jsonl(stream, self.rules)
        read_header(stream)
        return read_csv(stream, self.header, self.rules)

    # --- the phases ----------------------------------------------------------------------

    async def run(self) -> None:
        async with connected(self.args) as kv:
            await self._list(kv)
            self.plan = await self._plan()
            self._show_plan(self.plan)
            if self.args.dry_run or self._refuse(self.plan):
                return
            try:
                await self._apply(kv, self.plan)
            except BulkAbortedError as exc:
                self.aborted = exc
                return
            self.phase = "done"

    async def _list(self, kv: VoxKV) -> None:
        bar = Bar(show_progress(self.args), None, "listing", unit=" keys")
        stored, listing = self.planner.stored, kv.iter_items(self.prefix, adaptive=self.pacer)
        self.listing = listing.report
        try:
            async with contextlib.aclosing(listing):
                async for item in listing:
                    stored(item)
                    bar.set(listing.report.listed)
        finally:
            bar.close()
        self.planner.stored_done()

    async def _plan(self) -> Plan:
        self.phase = "planning"
        with self.path.open("rb") as stream:
            for n, record in enumerate(self._records(stream), 1):
                if isinstance(record, Reject):
                    self.rejects.reject(record)
                else:
                    self.planner.row(record)
                if n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        return self.planner.finish()

    def _refuse(self, plan: Plan) -> bool:
        limit = self.max_delete(plan.stored)
        if self.args.delete and plan.delete > limit and not self.args.yes:
            _say(f"voxkv sync: the plan deletes {plan.delete} keys, more than --max-delete "
                 f"{self.args.max_delete} ({limit} keys): check the file and the prefix, "
                 "then run again with --yes (or a higher --max-delete)")
            self.refused = True
        return self.refused

    async def _apply(self, kv: VoxKV, plan: Plan) -> None:
        deleting = plan.delete if self.args.delete else 0
        self.bar = Bar(show_progress(self.args), plan.writes + deleting, "sync")
        self.phase = "writing"
        args = self.args
        with self.path.open("rb") as stream:
            await kv.set_many(self._to_write(stream), ttl=args.ttl,
                              concurrency=args.concurrency, rate_limit=args.rate,
                              adaptive=self.pacer, outage_tolerance=args.give_up_after,
                              report=self.writes,
                              progress=self._progress, on_failure=self._write_failed)
        if deleting:
            self.phase = "deleting"
            await kv.delete_many(self.planner.deletions(), concurrency=args.concurrency,
                                 rate_limit=args.rate, report=self.deletes, adaptive=self.pacer,
                                 outage_tolerance=args.give_up_after,
                                 progress=self._progress, on_failure=self._delete_failed)

    def _to_write(self, stream: IO[bytes]) -> Iterator[Row]:
        writes = self.planner.writes
        for record in self._records(stream):
            if isinstance(record, Row) and writes(record.ordinal):
                yield record

    def _progress(self, _: BulkReport) -> None:
        self.bar.set(self.writes.done + self.deletes.done)

    def _write_failed(self, failure: BulkFailure) -> None:
        row = failure.item
        assert isinstance(row, Row)
        self.rejects.failure(row, failure.error)

    def _delete_failed(self, failure: BulkFailure) -> None:
        self.delete_failures += 1
        if self.delete_failures <= 20:
            self.bar.write(f"voxkv sync: delete {failure.item!r}: "
                           f"{type(failure.error).__name__}: {failure.error}")

    def _show_plan(self, plan: Plan) -> None:
        kept = "" if self.args.delete else " (kept: no --delete)"
        verb = "to delete" if self.args.delete else "not in the file"
        _say(f"voxkv sync: plan for {self.prefix!r} ({plan.stored} stored, {plan.rows} rows"
             f", {self.rejects.count} rejected): {plan.add} to add, {plan.update} to "
             f"update, {plan.unchanged} unchanged, {plan.delete} {verb}{kept}"
             + (f"; {plan.duplicates} duplicate rows (the last wins)" if plan.duplicates
                else ""))
        for action, keys in plan.samples.items():
            if keys and action != "unchanged":
                more = ", ..." if len(keys) < getattr(plan, action) else ""
                _say(f"  {action}: {', '.join(keys)}{more}")

    # --- the outcome -----------------------------------------------------------------

    def finish(self, signum: int | None, exit_signal: int) -> int:
        self.bar.close()
        self.rejects.close()
        plan = self.plan
        failed = self.writes.failed + self.deletes.failed + self.rejects.count
        code = (exit_signal if signum is not None else EXIT_ABORTED if self.aborted
                else EXIT_USAGE if self.refused else EXIT_PARTIAL if failed else EXIT_OK)
        summary: dict[str, Any] = {
            "command": "sync", "status": _status(code, self.args.dry_run),
            "exit_code": code, "prefix": self.prefix, "input": str(self.args.file),
            "dry_run": self.args.dry_run, "phase": self.phase,
            "plan": plan.to_json() if plan else None,
            "written": self.writes.succeeded, "write_failed": self.writes.failed,
            "deleted": self.deletes.succeeded, "delete_failed": self.deletes.failed,
            "rejected": self.rejects.count,
            "listing": None if self.listing is None else {
                "requests": self.listing.requests, "shifts": self.listing.shifts,
                "gaps": self.listing.gaps},
            "rejects": str(self.args.rejects) if self.rejects.count and self.args.rejects
            else None,
            "error": f"{type(self.aborted.cause).__name__}: {self.aborted.cause}"
            if self.aborted else None,
            "elapsed": round(time.monotonic() - self.started, 3),
        }
        if signum is not None or self.aborted:
            what = "interrupted" if signum is not None else f"could not proceed: {summary['error']}"
            _say(f"voxkv sync: {what} while {self.phase}; run the same command again: a sync "
                 "writes only what still differs")
        return finish(self.args, summary, _line(summary))

    def close(self) -> None:
        self.bar.close()
        self.spool.close()
        if self.stdin_copy is not None:
            self.stdin_copy.close()


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _check_flags(args: argparse.Namespace) -> None:
    if args.ttl is not None and not 1 <= args.ttl <= TTL_MAX:
        raise UsageError(f"--ttl must be 1..{TTL_MAX} seconds (90 days); got {args.ttl}")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1; got {args.concurrency}")
    if args.rejects is not None:
        if is_stdio(args.rejects):
            raise UsageError("--rejects needs a file path, not '-'")
        check_distinct(args.rejects, "--rejects", {"input": args.file})


def _max_delete(text: str) -> Any:
    """``--max-delete``: ``N`` keys, or ``P%`` of the stored keys; a function of stored."""
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 <= share <= 100:
                raise ValueError
            return lambda stored: int(stored * share / 100)
        count = int(text)
        if count < 0:
            raise ValueError
        return lambda stored: count
    except ValueError:
        raise UsageError(f"--max-delete must be a count (>= 0) or a share like 10%; got "
                         f"{text!r}") from None


def _status(code: int, dry_run: bool) -> str:
    if code == EXIT_OK:
        return "planned" if dry_run else "ok"
    return {EXIT_PARTIAL: "partial", EXIT_USAGE: "refused", EXIT_ABORTED: "aborted"}.get(
        code, "interrupted")


def _line(s: dict[str, Any]) -> str:
    plan = s["plan"]
    if s["dry_run"] and plan:
        return (f"dry run: {plan['add']} to add, {plan['update']} to update, "
                f"{plan['delete']} to delete, {plan['unchanged']} unchanged; nothing sent")
    if s["status"] == "refused":
        return "nothing sent: the plan needs --yes"
    parts = [f"{s['written']} written", f"{s['deleted']} deleted"]
    if plan:
        parts.append(f"{plan['unchanged']} unchanged")
    parts += [f"{s['write_failed'] + s['delete_failed']} failed", f"{s['rejected']} rejected"]
    rejects = f"; rejects in {s['rejects']}" if s["rejects"] else ""
    return ", ".join(parts) + f" in {s['elapsed']:.1f} s{rejects}"


async def run_sync(args: argparse.Namespace) -> int:
    """The ``voxkv sync`` handler."""
    return await run_job(_SyncJob(args), "sync")
