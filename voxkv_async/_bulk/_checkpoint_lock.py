"""The lock that keeps two runs off one checkpoint: ``flock`` on ``<checkpoint>.lock``.

A file beside the log, not the log itself, because the log is replaced by a rename at
each compaction and a lock on the replaced file would exclude no one. ``flock`` because
the kernel releases it when its process ends, however it ends (SIGKILL, a crash): a lock
left by a dead run is simply free, with no pid or age guessing. The lock file holds the
holder's pid, for the message only.

The lock file is removed when the lock is released. A run that opened it just before the
removal then locks a file no longer at the path: after locking, it checks that the path
still names the file it locked, and tries again if not; so at any time at most one
process holds the lock of the file at the path.

Where there is no ``fcntl`` (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ._checkpoint_errors import CheckpointLockedError
from ._checkpoint_log import same_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["CheckpointLock"]

_ATTEMPTS = 20


class CheckpointLock:
    """An exclusive lock on ``<checkpoint path>.lock``, held until :meth:`release`."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        real = checkpoint.resolve()  # two symlinks to one checkpoint share its lock
        self.path = real.with_name(real.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; :class:`CheckpointLockedError` if another process holds it."""
        if fcntl is None:
            return
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise CheckpointLockedError(self.checkpoint, holder) from None
            if same_file(self.path, fd):
                self._fd = fd
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return
            os.close(fd)  # removed by the run that held it: lock the new one
        raise CheckpointLockedError(self.checkpoint, None)

    def release(self) -> None:
        """Remove the lock file and release the lock. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if same_file(self.path, fd):
                os.unlink(self.path)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    return None
