"""``voxkv export --prefix P``: a backup you can trust, or a warning that it may be short.

Every item under ``P`` is written as a JSON line, to a temporary file in the output's
folder that is fsynced and renamed over the output only at the end (standard output is
written as it goes). The walk is ``iter_items``' (:mod:`voxkv_async._listing`): pages
fetched concurrently at the server's rate, each checked against the one before, so keys
written or deleted under ``P`` meanwhile are detected and the walk re-anchors: every key
present throughout the walk is written exactly once. Those changes are reported; a place
where the walk could not re-anchor (keys there may be missing or repeated) makes the
export exit 1. A reader of standard output that goes away (``| head``) ends it quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from .._bulk._checkpoint_log import fsync_dir
from .._listing import ListingReport
from .._validation import check_key
from ._connection import EXIT_OK, EXIT_PARTIAL, UsageError, connected, is_stdio
from ._jobs import Bar, finish, run_job, show_progress
from ._pipes import EXIT_BROKEN_PIPE, stdout_gone

__all__ = ["run_export"]

# One encoder for every row: json.dumps(ensure_ascii=False) builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode


class _Output:
    """The output: standard output, or a temporary file renamed over the target at the end."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None
        if is_stdio(target):
            self.file: IO[bytes] = sys.stdout.buffer
            return
        folder = target.parent
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        self.tmp = Path(name)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Make the output durable: fsync and rename (a file), or flush (stdout)."""
        self.file.flush()
        if self.tmp is None:
            return
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.target)
        self.tmp = None
        fsync_dir(self.target.parent)

    def discard(self) -> None:
        """Remove the temporary file (after an error or an interruption)."""
        if self.tmp is not None:
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
            self.tmp = None


class _ExportJob:
    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.monotonic()
        self.args = args
        self.prefix = check_key(args.prefix, "--prefix")
        if args.json and is_stdio(args.output):
            raise UsageError("--json needs -o FILE: standard output carries the export")
        self.keys = 0
        self.bar = Bar(show_progress(args), None, "export", unit=" keys")
        self.drift: ListingReport | None = None
        self.broken_pipe = False
        self.output = _Output(args.output)

    async def run(self) -> None:
        try:
            await self._walk()
            self.output.commit()
        except BrokenPipeError:
            if self.output.tmp is not None:
                raise  # a file, not a pipe
            self.broken_pipe = True
            stdout_gone()

    async def _walk(self) -> None:
        async with connected(self.args) as kv:
            write, bar = self.output.file.write, self.bar
            async with contextlib.aclosing(kv.iter_items(self.prefix)) as listing:
                async for item in listing:
                    write(_encode({"key": item.key, "value": item.value,
                                   "expires_at": item.expires_at}).encode("utf-8") + b"\n")
                    self.keys += 1
                    bar.set(self.keys)
            self.drift = listing.report

    def close(self) -> None:
        """The bar closed, the temporary output removed unless it was renamed into place."""
        self.bar.close()
        self.output.discard()

    def finish(self, signum: int | None, exit_signal: int) -> int:
        self.bar.close()
        if self.broken_pipe:
            return EXIT_BROKEN_PIPE  # quietly: the reader has all it wanted
        drift = self.drift
        code = exit_signal if signum is not None else (
            EXIT_PARTIAL if drift is not None and drift.gaps else EXIT_OK)
        summary: dict[str, Any] = {
            "command": "export", "status": _status(code, signum), "exit_code": code,
            "prefix": self.prefix,
            "output": None if signum is not None else str(self.args.output),
            "target": str(self.args.output), "keys": self.keys,
            "drift": {"shifts": drift.shifts, "gaps": drift.gaps} if drift else None,
            "requests": drift.requests if drift else None,
            "elapsed": round(time.monotonic() - self.started, 3),
        }
        if drift is not None and (drift.shifts or drift.gaps):
            self.bar.write(_drift_warning(self.prefix, drift))
        return finish(self.args, summary, _line(summary, signum))


def _drift_warning(prefix: str, drift: ListingReport) -> str:
    if drift.gaps:
        return (f"voxkv export: warning: keys under {prefix!r} were added or deleted during "
                f"the walk and it lost its place {drift.gaps} time(s): keys there may be "
                "missing or repeated. Run it again when writes under the prefix have "
                "stopped.")
    return (f"voxkv export: note: keys under {prefix!r} were added or deleted during the "
            f"walk ({drift.shifts} time(s) seen); every key present throughout is in the "
            "export, the keys added or deleted meanwhile may or may not be.")


def _status(code: int, signum: int | None) -> str:
    if signum is not None:
        return "interrupted"
    return "ok" if code == EXIT_OK else "drift"


def _line(s: dict[str, Any], signum: int | None) -> str:
    if signum is not None:
        if s["output"] is None and is_stdio(s.get("target", "")):
            return f"interrupted after {s['keys']} keys: the output is incomplete"
        return (f"interrupted after {s['keys']} keys: nothing written (the output is "
                "only replaced at the end); run the same command again")
    rate = s["keys"] / s["elapsed"] if s["elapsed"] > 0 else 0.0
    where = "standard output" if s["output"] == "-" else s["output"]
    drifted = "; the walk lost its place (exit 1)" if s["status"] == "drift" else ""
    return (f"{s['keys']} keys written to {where} in {s['elapsed']:.1f} s "
            f"({rate:.0f} keys/s, {s['requests']} requests){drifted}")


async def run_export(args: argparse.Namespace) -> int:
    """The ``voxkv export`` handler."""
    return await run_job(_ExportJob(args), "export")
