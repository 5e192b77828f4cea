"""``voxkv export --prefix P``: a backup you can trust, or a warning that it may be short.

Every item under ``P`` is written as a JSON line, to a temporary file in the output's
folder that is fsynced and renamed over the output only at the end (standard output is
written as it goes). The walk pages by offset, so keys written or deleted under ``P``
meanwhile can make it skip or repeat items; to find out, the keys under ``P`` are listed
again afterwards and compared with what was written (by 8-byte key hashes: 16 bytes per
key with the expiry). Keys that vanished because they expired are not drift. Any other
difference is reported and the export exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

import attrs

from .._bulk._checkpoint_log import fsync_dir
from .._models import KeyInfo
from .._validation import check_key
from ._connection import EXIT_OK, EXIT_PARTIAL, UsageError, connected, is_stdio
from ._jobs import Bar, finish, run_job, show_progress
from ._keytable import KeyTable

__all__ = ["Drift", "drift_of", "run_export"]


@attrs.define
class Drift:
    """How the keys under the prefix after the walk differ from what was written."""

    appeared: int = 0
    vanished: int = 0
    expired: int = 0
    repeated: int = 0

    @property
    def any(self) -> bool:
        return bool(self.appeared or self.vanished or self.repeated)


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
        self.written = KeyTable(columns=1)  # key hash -> expires_at
        self.bar = Bar(show_progress(args), None, "export", unit=" keys")
        self.drift: Drift | None = None
        self.output = _Output(args.output)

    async def run(self) -> None:
        async with connected(self.args) as kv:
            write = self.output.file.write
            async for item in kv.iter_items(self.prefix):
                write(json.dumps({"key": item.key, "value": item.value,
                                  "expires_at": item.expires_at},
                                 ensure_ascii=False).encode("utf-8") + b"\n")
                self.written.add(hash(item.key), item.expires_at or 0)
                self.bar.set(len(self.written))
            self.drift = await self._check(kv.iter_keys(self.prefix))
        self.output.commit()

    async def _check(self, keys: AsyncIterator[KeyInfo]) -> Drift:
        """List the keys again and compare them with what was written."""
        return await drift_of(self.written, keys, int(time.time()))

    def close(self) -> None:
        """The bar closed, the temporary output removed unless it was renamed into place."""
        self.bar.close()
        self.output.discard()

    def finish(self, signum: int | None, exit_signal: int) -> int:
        self.bar.close()
        drift = self.drift
        code = exit_signal if signum is not None else (
            EXIT_PARTIAL if drift is not None and drift.any else EXIT_OK)
        summary: dict[str, Any] = {
            "command": "export", "status": _status(code, signum), "exit_code": code,
            "prefix": self.prefix,
            "output": None if signum is not None else str(self.args.output),
            "target": str(self.args.output),
            "keys": len(self.written), "drift": attrs.asdict(drift) if drift else None,
            "elapsed": round(time.monotonic() - self.started, 3),
        }
        if drift is not None and drift.any:
            self.bar.write(
                f"voxkv export: warning: the keys under {self.prefix!r} changed during the "
                f"walk ({drift.appeared} appeared, {drift.vanished} vanished, "
                f"{drift.repeated} listed twice): paging by offset may have skipped or "
                "repeated items, so the export may be short. Run it again when writes "
                "under the prefix have stopped.")
        return finish(self.args, summary, _line(summary, signum))


async def drift_of(written: KeyTable, keys: AsyncIterator[KeyInfo], now: int) -> Drift:
    """How ``keys`` (listed after the walk) differ from ``written`` (key hash -> expiry).

    A written key no longer listed is drift unless its expiry has passed by ``now``.
    """
    written.freeze()
    seen = bytearray(len(written))
    drift = Drift(repeated=sum(1 for _ in written.repeats()))
    async for info in keys:
        slot = written.find(hash(info.key))
        if slot < 0:
            drift.appeared += 1
            continue
        for same in written.run_of(slot):
            seen[same] = 1
    expiries = written.columns[0]
    for slot, flag in enumerate(seen):
        if not flag:
            if 0 < expiries[slot] <= now:
                drift.expired += 1
            else:
                drift.vanished += 1
    return drift


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
    drifted = "; the listing drifted (exit 1)" if s["status"] == "drift" else ""
    expired = s["drift"]["expired"] if s["drift"] else 0
    note = f"; {expired} expired during the walk" if expired else ""
    return (f"{s['keys']} keys written to {where} in {s['elapsed']:.1f} s "
            f"({rate:.0f} keys/s){note}{drifted}")



async def run_export(args: argparse.Namespace) -> int:
    """The ``voxkv export`` handler."""
    return await run_job(_ExportJob(args), "export")
