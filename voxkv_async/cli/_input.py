"""The input of a file job: opened once, read once, fingerprinted by the bytes it holds.

The path is opened once, and everything after goes through that one open file, never the
path again: a second open drains a pipe (``<(cmd)``, a named pipe, ``/dev/stdin`` fed by
a pipe) and, for a file replaced at its path meanwhile, reads another version.

- A **regular file** is hashed and its lines counted through the open file with
  ``pread`` (its read position untouched), so the fingerprint is of the very bytes then
  read as rows; those are hashed again as they are read, and :attr:`InputFile.changed`
  tells, at the end, whether they differed (the file rewritten in place during the run).
- A **pipe** (or any other file that is not regular) is only read as it comes: it has no
  line count and no fingerprint, so it cannot be checkpointed (see :func:`check_regular`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, cast

from .._bulk._checkpoint_log import Fingerprinter
from ._connection import UsageError, is_stdio
from ._jobs import open_input

__all__ = ["InputFile", "check_regular"]

_CHUNK = 1 << 20


def check_regular(path: Path, flag: str) -> None:
    """Refuse ``flag`` for an input that is not a regular file, before opening it.

    A pipe can be read once: a resumed run could neither read the rows again nor check
    that they are the same rows, so a checkpoint of it would resume blind.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # opening it says why, as for any input
    _refuse_unless_regular(path, mode, flag)


def _refuse_unless_regular(path: Path, mode: int, flag: str) -> None:
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"{flag} needs a regular file: {path} is {_kind(mode)}, which can be read "
            "only once, so a resumed run could not check that it reads the same rows; "
            "save it to a file first (or drop the flag)")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


class InputFile:
    """One input, open once: :attr:`stream` is what the rows are read from."""

    def __init__(self, path: Path, what: str = "input") -> None:
        self.path = path
        self._own = not is_stdio(path)
        raw = open_input(path, what)
        try:
            st: os.stat_result | None = os.fstat(raw.fileno())
        except OSError:  # a stream with no file under it (io.UnsupportedOperation)
            st = None
        self._mode = st.st_mode if st else 0
        #: Whether it is a regular file: hashed, counted and re-read by offset.
        self.regular = stat.S_ISREG(self._mode)
        self.size = st.st_size if st and self.regular else None
        self._raw = raw
        self._fingerprint: str | None = None
        self._hashing = _Hashing(raw) if self.regular else None
        # The row readers take a binary stream; _Hashing has the part of it they use.
        self.stream = cast(IO[bytes], self._hashing) if self._hashing else raw

    def require_regular(self, flag: str) -> None:
        """:func:`check_regular` for the file opened (the path may have changed since)."""
        _refuse_unless_regular(self.path, self._mode, flag)

    def fingerprint(self) -> str:
        """``sha256:<hex>:<size>`` of the bytes of the open file (regular files only)."""
        if self._fingerprint is None:
            fingerprint = Fingerprinter()
            for chunk in self._chunks():
                fingerprint.update(chunk)
            self._fingerprint = fingerprint.text()
        return self._fingerprint

    def count_lines(self) -> int | None:
        """Its lines (a last line without a newline counts); ``None`` for a pipe."""
        if not self.regular:
            return None
        n, last = 0, b"\n"
        for chunk in self._chunks():
            n += chunk.count(b"\n")
            last = chunk[-1:]
        return n + (last != b"\n")

    def _chunks(self) -> _Chunks:
        return _Chunks(self._raw.fileno())

    @property
    def changed(self) -> bool:
        """Whether the bytes read to the end differ from the fingerprint's.

        ``False`` when there was no fingerprint or the end was not reached.
        """
        hashing = self._hashing
        return (self._fingerprint is not None and hashing is not None and hashing.at_end
                and hashing.fingerprint.text() != self._fingerprint)

    def close(self) -> None:
        if self._own:
            self._raw.close()


class _Chunks:
    """The bytes of an open file by ``pread``, from offset 0, leaving its position alone."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __iter__(self) -> _Chunks:
        self._offset = 0
        return self

    def __next__(self) -> bytes:
        chunk = os.pread(self._fd, _CHUNK, self._offset)
        if not chunk:
            raise StopIteration
        self._offset += len(chunk)
        return chunk


class _Hashing:
    """A binary stream that hashes what is read through it (``readline`` and ``read``)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.fingerprint = Fingerprinter()
        self.at_end = False

    def _seen(self, data: bytes, asked: int) -> bytes:
        if data:
            self.fingerprint.update(data)
        elif asked != 0:
            self.at_end = True
        return data

    def readline(self, size: int = -1) -> bytes:
        return self._seen(self._raw.readline(size), size)

    def read(self, size: int = -1) -> bytes:
        return self._seen(self._raw.read(size), size)
