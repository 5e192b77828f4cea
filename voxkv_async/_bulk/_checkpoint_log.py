"""The forms of a :class:`~voxkv_async.Checkpoint`: a compact set in memory, a log on disk.

In memory, :class:`DoneSet`: a low-water mark (every index below it is done) and a
bitmap of the done indexes from ``base`` (a multiple of 8, at most the low-water mark)
on: one bit per index between the oldest gap and the newest mark.

On disk, an append-only log of lines, each sealed with its CRC-32 (``<payload> <crc>``):

- ``H {json}``: the header (format, version, fingerprint, source, created, and the
  destination if one was given);
- ``D 0-99,104,106-180``: indexes marked done since the previous record;
- ``S <low-water> <base> <base64 zlib bitmap>``: a snapshot, after a compaction.

A line whose CRC does not match is a torn write if nothing valid follows it (the tail of
a crash, dropped on open), and damage otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT",
    "VERSION",
    "DoneSet",
    "Fingerprinter",
    "LogDamaged",
    "fsync_dir",
    "header_record",
    "read_log",
    "same_file",
    "seal",
    "write_all",
    "write_atomically",
]

FORMAT = "voxkv-checkpoint"
VERSION = 1
# Leading bytes of the bitmap dropped once the low-water mark has passed this many.
_TRIM_BYTES = 64 * 1024


class LogDamaged(ValueError):
    """The log cannot be read: the message says where and why."""


class DoneSet:
    """A set of non-negative ints that fill in mostly in order: low-water mark + bitmap."""

    __slots__ = ("base", "bits", "count", "lwm")

    def __init__(self) -> None:
        self.lwm = 0
        self.base = 0
        self.bits = bytearray()
        self.count = 0

    def __contains__(self, index: int) -> bool:
        if index < self.lwm:
            return True
        offset = index - self.base
        byte = offset >> 3
        return byte < len(self.bits) and bool(self.bits[byte] >> (offset & 7) & 1)

    def add(self, index: int) -> bool:
        """Add ``index``; whether it was new."""
        if index < self.lwm:
            return False
        offset = index - self.base
        byte = offset >> 3
        bits = self.bits
        if byte >= len(bits):
            bits.extend(bytes(byte + 1 - len(bits)))
        mask = 1 << (offset & 7)
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        self.count += 1
        if index == self.lwm:
            self._advance()
        return True

    def _advance(self) -> None:
        bits, lwm, base = self.bits, self.lwm, self.base
        while True:
            offset = lwm - base
            byte = offset >> 3
            if byte >= len(bits):
                break
            if offset & 7 == 0 and bits[byte] == 0xFF:
                lwm += 8
            elif bits[byte] >> (offset & 7) & 1:
                lwm += 1
            else:
                break
        self.lwm = lwm
        full = (lwm - base) >> 3
        if full >= _TRIM_BYTES:
            del bits[:full]
            self.base = base + 8 * full

    def snapshot(self) -> str:
        """The ``S`` record's payload."""
        blob = base64.b64encode(zlib.compress(bytes(self.bits), 6)).decode("ascii")
        return f"S {self.lwm} {self.base} {blob}"

    def restore(self, body: str) -> None:
        """Load an ``S`` record's body (what follows ``S ``)."""
        lwm_text, base_text, blob = body.split(" ")
        lwm, base = int(lwm_text), int(base_text)
        bits = bytearray(zlib.decompress(base64.b64decode(blob, validate=True)))
        if not 0 <= base <= lwm or base % 8:
            raise ValueError(f"bad low-water mark {lwm} / base {base}")
        first, shift = (lwm - base) >> 3, (lwm - base) & 7
        above = sum(b.bit_count() for b in bits[first:])
        if first < len(bits):  # bits of the first byte below lwm are counted in lwm
            above -= (bits[first] & ((1 << shift) - 1)).bit_count()
        self.lwm, self.base, self.bits, self.count = lwm, base, bits, lwm + above


# --- the log -------------------------------------------------------------------------------


def seal(payload: str) -> bytes:
    """One log line: ``payload``, a space, its CRC-32 in hex, a newline."""
    data = payload.encode("utf-8")
    return data + b" %08x\n" % zlib.crc32(data)


def _unseal(raw: bytes) -> str | None:
    """The payload of one sealed line, or ``None`` if its CRC does not match."""
    data, sep, crc = raw.rpartition(b" ")
    if not sep or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(data):
            return None
        return data.decode("utf-8")
    except ValueError:
        return None


def header_record(fingerprint: str, source: str, created: int,
                  destination: dict[str, str] | None = None) -> bytes:
    """The sealed ``H`` line."""
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                              "fingerprint": fingerprint, "source": source, "created": created}
    if destination is not None:
        header["destination"] = destination
    return seal("H " + json.dumps(header, ensure_ascii=False))


def format_ranges(indexes: list[int]) -> str:
    """``[3, 1, 2, 7]`` as ``"1-3,7"`` (sorts ``indexes`` in place)."""
    indexes.sort()
    parts: list[str] = []
    start = prev = indexes[0]
    for i in indexes[1:]:
        if i != prev + 1:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = i
        prev = i
    parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)


def _parse_ranges(text: str) -> Iterator[int]:
    for part in text.split(","):
        first, _, last = part.partition("-")
        lo = int(first)
        hi = int(last) if last else lo
        if lo < 0 or hi < lo:
            raise ValueError(f"bad range {part!r}")
        yield from range(lo, hi + 1)


def read_log(data: bytes, done: DoneSet, name: str) -> tuple[dict[str, Any] | None, int]:
    """Replay ``data`` into ``done``: ``(header, length of the good prefix)``.

    ``(None, 0)`` for an empty (0-byte) log. Raises :class:`LogDamaged` for anything but
    a torn tail: a line that fails its CRC with valid lines after it, a bad record, no
    header (a log is created whole, header first, by a rename: bytes without a header,
    even all zeros, are damage, never a new log).
    """
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    header: dict[str, Any] | None = None
    end = 0
    for number, raw in enumerate(complete, 1):
        payload = _unseal(raw)
        if payload is None:
            if tail.strip(b"\0") or any(_unseal(r) is not None for r in complete[number:]):
                raise LogDamaged(f"{name} is damaged at line {number}")
            break  # the torn tail of a crash: everything after it is debris
        if number == 1:
            header = _read_header(payload, name)
        else:
            _apply(payload, done, name, number)
        end += len(raw) + 1
    if header is None and data:
        if not data.strip(b"\0"):
            raise LogDamaged(f"{name} is damaged: {len(data)} bytes, all zero (the file "
                             "system lost its content, e.g. in a power loss)")
        raise LogDamaged(f"{name} is not a voxkv checkpoint")
    return header, end


def _read_header(payload: str, name: str) -> dict[str, Any]:
    kind, _, body = payload.partition(" ")
    try:
        header = json.loads(body) if kind == "H" else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise LogDamaged(f"{name} is not a voxkv checkpoint")
    if header.get("version") != VERSION:
        raise LogDamaged(f"{name} has format version {header.get('version')!r}; "
                         f"this version of voxkv_async reads version {VERSION}")
    return header


def _apply(payload: str, done: DoneSet, name: str, number: int) -> None:
    kind, _, body = payload.partition(" ")
    try:
        if kind == "D":
            for index in _parse_ranges(body):
                done.add(index)
        elif kind == "S":
            done.restore(body)
        else:
            raise ValueError(f"unknown record kind {kind!r}")
    except (ValueError, zlib.error) as exc:
        raise LogDamaged(f"{name}: record {number} cannot be read ({exc})") from None


# --- files ---------------------------------------------------------------------------------


class Fingerprinter:
    """``sha256:<hex>:<size>`` of bytes given in pieces: a file's fingerprint."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._digest.update(data)
        self.size += len(data)

    def text(self) -> str:
        return f"sha256:{self._digest.hexdigest()}:{self.size}"


def write_atomically(path: Path, data: bytes) -> int:
    """Replace ``path`` by ``data``: a temporary file, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return len(data)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` names the open file ``fd`` (not deleted, not replaced)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (where the platform allows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
