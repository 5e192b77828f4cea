"""Durable progress of a bulk run: :class:`Checkpoint`, so a rerun skips what was done.

A checkpoint is the set of done input indexes (0-based positions in the input), bound to
the input by a fingerprint. It costs little: in memory a low-water mark plus one bit per
index between the oldest gap and the newest mark (~125 KB per million items at worst, a
few bytes when items finish in order); on disk a log of range records, compacted into a
snapshot once it passes 256 KB (see :mod:`._checkpoint_log` for the format).

Writes are coalesced on one background thread: a write (append + fsync) starts when
``flush_every`` marks are pending, or ``flush_interval`` seconds after the first pending
mark, and never while the previous one runs (marks made meanwhile go in the next). The
event loop only appends to a list. Records are written in marking order, so what survives
a crash is a prefix of the marks; a torn last record fails its CRC and is dropped on open.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from ._checkpoint_errors import (
    CheckpointCorruptError,
    CheckpointDestinationError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointMismatchError,
)
from ._checkpoint_lock import CheckpointLock
from ._checkpoint_log import (
    DoneSet,
    Fingerprinter,
    LogDamaged,
    format_ranges,
    fsync_dir,
    header_record,
    read_log,
    same_file,
    seal,
    write_all,
    write_atomically,
)

__all__ = [
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointDestinationError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
]

# The log is compacted into one snapshot once it is this long.
_COMPACT_BYTES = 256 * 1024


class Checkpoint:
    """Which input items of a bulk run are done, durably. Open one with :meth:`open`.

    Pass it as ``set_many(items, checkpoint=cp)``: the items it records as done are
    skipped (counted in ``report.skipped``, never sent), each success is marked, and the
    run flushes it at its end, on a cancel and on any error. Run the same input again
    with the same checkpoint and only the items not recorded as done are sent.

    **The input must be deterministic**: the same items in the same order on every run,
    since an item is known only by its position. Bind the checkpoint to the input with a
    fingerprint that changes whenever the input may (a file's hash, a snapshot id, a
    date); :meth:`open` refuses a checkpoint made under another fingerprint::

        async with Checkpoint.open("load.ckpt", "orders-2026-06-01") as cp:
            report = await kv.set_many(orders_of("2026-06-01"), checkpoint=cp)
        if report.ok:
            cp.remove()   # all done: the next load starts afresh

    Guarantees: a mark, once written, is fsynced; a crash loses at most the marks not yet
    written (fewer than ``flush_every`` plus those made during one fsync, or
    ``flush_interval`` seconds' worth), and those items are sent again (Set is
    idempotent). What survives is always a prefix of the marks in the order they were
    made. Not thread-safe: use it from the event loop of the bulk run.

    **One run at a time**: an open checkpoint is locked (``flock`` on ``<path>.lock``);
    another :meth:`open` of it, in any process, raises :class:`CheckpointLockedError`
    until :meth:`close`. A dead process's lock is free (not on Windows).

    Attributes:
        path: The checkpoint file.
        fingerprint, source: The input it is bound to, and a description of it.
        destination: Where the input is written, if given to :meth:`open` (or recorded).
        resumed_done: How many indexes were already done when it was opened.
    """

    def __init__(self, path: Path, fingerprint: str, source: str, *,
                 flush_every: int = 64, flush_interval: float = 0.2) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.source = source
        self.destination: dict[str, str] | None = None
        self.resumed_done = 0
        self._lock = CheckpointLock(path)
        self._on_disk = True
        self._flush_every = max(1, flush_every)
        self._flush_interval = flush_interval
        self._done = DoneSet()
        self._pending: list[int] = []
        self._log_bytes = 0
        self._fd: int | None = None
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._last: concurrent.futures.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None
        self._fd_lock = threading.Lock()

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], fingerprint: str, *,
             source: str | None = None, destination: Mapping[str, str] | None = None,
             flush_every: int = 64, flush_interval: float = 0.2) -> Self:
        """Open (or create) the checkpoint at ``path`` for the input named by ``fingerprint``.

        A missing or empty (0-byte) file starts a new checkpoint. An existing one
        resumes, after checking its fingerprint (and destination) and dropping a torn
        last record; a file with no valid header (all zero bytes, say) is damage.

        Args:
            path: The checkpoint file.
            fingerprint: Names the input exactly (see the class docs).
            source: A human description of the input, quoted when a later run with
                another fingerprint is refused (default: the fingerprint).
            destination: Where the items go, and what changes how they are stored
                (``{"application_id": "7", "ttl": "3600"}``): recorded, and on resume any
                difference (or none recorded) raises :class:`CheckpointDestinationError`.
            flush_every: Write once this many marks are pending (default 64).
            flush_interval: Or this many seconds after the first pending mark (0.2).

        Raises:
            CheckpointMismatchError: The file was made for another fingerprint.
            CheckpointDestinationError: It was made for another ``destination``.
            CheckpointLockedError: Another run (any process) has it open.
            CheckpointCorruptError: The file is not a checkpoint or is damaged inside.
            OSError: It cannot be read or written.
        """
        if not isinstance(fingerprint, str) or not fingerprint:
            raise ValueError("fingerprint must be a non-empty str")
        cp = cls(Path(path), fingerprint, source or fingerprint,
                 flush_every=flush_every, flush_interval=flush_interval)
        cp.destination = dict(destination) if destination is not None else None
        cp._lock.acquire()
        try:
            cp._load(destination is not None)
        except BaseException:
            cp.close()
            raise
        return cp

    @staticmethod
    def file_fingerprint(path: str | os.PathLike[str]) -> str:
        """``sha256:<hex>:<size>`` of a file's bytes: any change to the file changes it."""
        fingerprint = Fingerprinter()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                fingerprint.update(chunk)
        return fingerprint.text()

    def _load(self, check_destination: bool = False) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        try:
            header, good = read_log(data, self._done, f"checkpoint {self.path}")
        except LogDamaged as exc:
            raise CheckpointCorruptError(f"{exc}: remove it to start over") from None
        if header is None:
            self._log_bytes = write_atomically(self.path, self._header())
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            return
        if header.get("fingerprint") != self.fingerprint:
            raise CheckpointMismatchError(
                self.path, str(header.get("fingerprint")), str(header.get("source")),
                self.fingerprint, self.source)
        self._check_destination(header.get("destination"), check_destination)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        if good < len(data):  # a torn last record: cut it off before appending
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
        self._log_bytes = good
        self.resumed_done = self._done.count

    def _check_destination(self, recorded: object, check: bool) -> None:
        kept = recorded if isinstance(recorded, dict) else None
        if not check:  # keep what is recorded, for the snapshots' headers
            self.destination = kept
        elif recorded != self.destination:
            assert self.destination is not None
            raise CheckpointDestinationError(self.path, self.fingerprint, self.source,
                                             kept, self.destination)

    def _header(self) -> bytes:
        return header_record(self.fingerprint, self.source, int(time.time()),
                             self.destination)

    # --- the done set ----------------------------------------------------------------

    @property
    def done_count(self) -> int:
        """How many indexes are done, including those recorded by earlier runs."""
        return self._done.count

    @property
    def low_water_mark(self) -> int:
        """Every index below this one is done."""
        return self._done.lwm

    def is_done(self, index: int) -> bool:
        """Whether input item ``index`` is recorded as done."""
        return index in self._done

    def mark_done(self, index: int) -> None:
        """Record input item ``index`` as done; it is written in the background.

        Raises:
            CheckpointError: An earlier background write failed (disk full...): a run
                whose checkpoint cannot be written must not go on as if resumable.
        """
        self._raise_error()
        if index < 0 or not self._done.add(index):
            return
        pending = self._pending
        pending.append(index)
        if len(pending) >= self._flush_every:
            self._kick()
        elif len(pending) == 1 and self._timer is None:
            self._arm_timer()

    # --- writing ---------------------------------------------------------------------

    async def flush(self) -> None:
        """Write and fsync every mark made so far (bulk runs await it at their end)."""
        if self._pending and self._fd is not None:
            self._submit()
        last = self._last
        if last is not None:
            with contextlib.suppress(Exception):  # a failed write is in self._error
                await asyncio.wrap_future(last)
        self._raise_error()

    def flush_sync(self) -> None:
        """:meth:`flush` for code outside the event loop: blocks until written."""
        if self._pending and self._fd is not None:
            self._submit()
        if self._last is not None:
            concurrent.futures.wait([self._last])
        self._raise_error()

    def _arm_timer(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: written at flush
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._flush_interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._pending:
            self._kick()

    def _kick(self) -> None:
        """Write the pending marks now, unless a write runs (its end chains the next)."""
        if self._last is not None and not self._last.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            concurrent.futures.wait([self._submit()])
            return
        self._submit().add_done_callback(lambda _: _call_soon(loop, self._after_write))

    def _after_write(self) -> None:
        if len(self._pending) >= self._flush_every:
            self._kick()
        elif self._pending and self._timer is None:
            self._arm_timer()

    def _submit(self) -> concurrent.futures.Future[None]:
        """Queue the pending marks, or a compacting snapshot, on the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        record = seal("D " + format_ranges(batch)) if batch else b""
        snapshot: bytes | None = None
        if self._log_bytes + len(record) > _COMPACT_BYTES:
            snapshot = self._header() + seal(self._done.snapshot())
            self._log_bytes = len(snapshot)
        else:
            self._log_bytes += len(record)
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="voxkv-checkpoint")
        self._last = self._writer.submit(self._write, record, snapshot)
        return self._last

    def _write(self, record: bytes, snapshot: bytes | None) -> None:
        """On the writer thread: append ``record``, or replace the log by ``snapshot``."""
        try:
            with self._fd_lock:
                if self._fd is None:
                    return
                if snapshot is not None:
                    write_atomically(self.path, snapshot)
                    os.close(self._fd)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                elif record:
                    write_all(self._fd, record)
                    os.fsync(self._fd)
        except BaseException as exc:
            self._error = exc
            raise

    def _raise_error(self) -> None:
        if self._error is not None:
            raise CheckpointError(
                f"checkpoint {self.path} cannot be written: {self._error}") from self._error

    # --- closing ---------------------------------------------------------------------

    @property
    def on_disk(self) -> bool:
        """Whether :attr:`path` names the file this checkpoint writes (or, once closed,
        did when it was closed): ``False`` if it was deleted or replaced meanwhile."""
        with self._fd_lock:
            if self._fd is not None:
                self._on_disk = same_file(self.path, self._fd)
        return self._on_disk

    def close(self) -> None:
        """Write what is pending, close the file and release the lock. Idempotent."""
        try:
            self._close_log()
        finally:
            self._lock.release()

    def _close_log(self) -> None:
        try:
            if self._fd is not None:
                self.flush_sync()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
            _ = self.on_disk  # noted while the file is open, for after
            with self._fd_lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def remove(self) -> None:
        """Close and delete the checkpoint file: the input is done, start afresh."""
        try:
            with contextlib.suppress(CheckpointError):
                self._close_log()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fsync_dir(self.path.parent)
        finally:  # deleted while still locked: no run can open it half removed
            self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            await self.flush()
        finally:
            self.close()

    def __repr__(self) -> str:
        return (f"<Checkpoint {str(self.path)!r} done={self._done.count} "
                f"low_water_mark={self._done.lwm}>")


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run ``callback`` on ``loop`` from another thread, unless the loop is gone."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
