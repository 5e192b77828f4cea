"""Rows of an input file: what ``import`` and ``sync`` send, or reject with a reason.

A row is one record of the input: a non-blank line of JSON Lines, or a record of a CSV
file after its header (a quoted CSV value may span lines). Each record gets an
**ordinal**, its 0-based position among the records, which depends only on the file's
bytes: it is what a checkpoint records. A record becomes a :class:`Row` (an item to set)
or a :class:`Reject` (its line number, the reason, and what to write to the rejects file);
bad records never stop the reading.

Fields: ``key`` and ``value`` (strings), optional ``ttl`` (seconds, 1..7,776,000) or
``expires_at`` (Unix seconds, in the future and at most 90 days ahead, with
:data:`CLOCK_SLACK` seconds of slack for clock skew). Fields starting with ``_`` are not
data: ``_line`` and ``_error`` are what a rejects file adds (the original line is kept),
``_raw`` / ``_raw_base64`` carry a record that could not be parsed, re-parsed as it was.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from .._errors import ValidationError
from .._models import KeyValueItem
from .._validation import TTL_MAX, check_key, check_value

__all__ = [
    "CLOCK_SLACK",
    "MAX_LINE",
    "META_FIELDS",
    "BadRecord",
    "Reject",
    "Row",
    "RowRules",
    "read_jsonl",
    "undecodable",
]

#: Seconds an ``expires_at`` may lie beyond 90 days from now (our clock may lag the
#: server's); the server may still refuse such a row, which is then reported as failed.
CLOCK_SLACK = 60
#: The longest line (or CSV record) read, in bytes; a longer one is rejected.
MAX_LINE = 1 << 20
#: Fields that rejects files add, which ``import`` and ``sync`` do not send.
META_FIELDS = ("_line", "_error", "_raw", "_raw_base64")


@attrs.frozen
class Row(KeyValueItem):
    """An item read from the input, with where it came from.

    Attributes:
        ordinal: Its position among the input's records, from 0.
        line: The line reported for it (a rejects file's ``_line``: the original line).
        record: Its fields as read, written back to the rejects file if it fails.
        explicit_expiry: Whether the row gave ``expires_at`` (``sync`` compares it).
    """

    ordinal: int = 0
    line: int = 0
    record: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    explicit_expiry: bool = False


@attrs.frozen
class Reject:
    """A record that cannot be sent: its line, why, and its fields for the rejects file."""

    ordinal: int
    line: int
    error: str
    record: dict[str, Any] = attrs.field(factory=dict, repr=False)
    physical_line: int = 0


class BadRecord(ValueError):
    """One record's problem; the message is the reason written to the rejects file."""


@attrs.frozen
class RowRules:
    """How records are checked: the clock for expiries, and ``sync``'s key prefix."""

    now: int = attrs.field(factory=lambda: int(time.time()))
    prefix: str | None = None
    clock: Callable[[], float] = time.time

    def row(self, record: dict[str, Any], ordinal: int, line: int) -> Row:
        """The row of a parsed ``record``; :class:`BadRecord` if it is not one."""
        key = _text(record, "key")
        value = _text(record, "value")
        try:
            check_key(key)
            check_value(value)
        except ValidationError as exc:
            raise BadRecord(str(exc)) from None
        if self.prefix is not None and not key.startswith(self.prefix):
            raise BadRecord(f"key {key!r} does not start with the prefix {self.prefix!r}")
        ttl = _seconds(record, "ttl")
        expires_at = _seconds(record, "expires_at")
        if ttl is not None and expires_at is not None:
            raise BadRecord('give "ttl" or "expires_at", not both')
        if ttl is not None:
            if not 1 <= ttl <= TTL_MAX:
                raise BadRecord(f"ttl must be 1..{TTL_MAX} seconds (90 days); got {ttl}")
            expires_at = int(self.clock()) + ttl
        elif expires_at is not None:
            self._check_expires_at(expires_at)
        return Row(key, value, expires_at, ordinal, line, record,
                   explicit_expiry=ttl is None and expires_at is not None)

    def _check_expires_at(self, expires_at: int) -> None:
        if expires_at <= self.now:
            raise BadRecord(f"expires_at {expires_at} is in the past (now is {self.now}): "
                            "the key would vanish at once")
        latest = self.now + TTL_MAX + CLOCK_SLACK
        if expires_at > latest:
            raise BadRecord(f"expires_at {expires_at} is more than 90 days ahead (the "
                            f"latest is {latest}, now + {TTL_MAX} s + {CLOCK_SLACK} s)")


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise BadRecord(f'needs a "{name}" field')
    if not isinstance(value, str):
        raise BadRecord(f'"{name}" must be a string, got {type(value).__name__}')
    return value


def _seconds(record: dict[str, Any], name: str) -> int | None:
    """An optional whole-seconds field: an int, or ASCII digits (a CSV cell)."""
    value = record.get(name)
    if value is None or value == "":
        return None
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    shown = repr(value[:20]) if isinstance(value, str) else type(value).__name__
    raise BadRecord(f'"{name}" must be whole seconds, got {shown}')


def origin_line(record: dict[str, Any], line: int) -> int:
    """The line to report: a rejects file's ``_line`` (the original one), else ``line``."""
    given = record.get("_line")
    if type(given) is int and given > 0:
        return given
    if isinstance(given, str) and given.isascii() and given.isdigit():
        return int(given)
    return line


def undecodable(raw: bytes, error: UnicodeDecodeError) -> str:
    """The reason for a line that is not UTF-8 (its bytes are not echoed)."""
    return (f"not UTF-8: byte 0x{raw[error.start]:02x} at column {error.start + 1} "
            f"({error.reason})")


def raw_record(raw: bytes) -> dict[str, Any]:
    """The rejects-file fields that carry an unparsed record as it was."""
    try:
        return {"_raw": raw.decode("utf-8").rstrip("\r\n")}
    except UnicodeDecodeError:
        return {"_raw_base64": base64.b64encode(raw).decode("ascii")}


def unwrap_raw(record: dict[str, Any]) -> bytes | None:
    """The original bytes of a rejected record carried in ``_raw``/``_raw_base64``."""
    raw = record.get("_raw")
    if isinstance(raw, str) and raw:
        return raw.encode("utf-8", "surrogatepass")
    encoded = record.get("_raw_base64")
    if isinstance(encoded, str) and encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadRecord('"_raw_base64" is not base64') from None
    return None


# --- JSON Lines ----------------------------------------------------------------------------


def read_lines(stream: IO[bytes], first: int = 1) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each physical line, numbered from ``first``; a line
    over :data:`MAX_LINE` bytes comes as ``b""`` numbered ``-n`` (rejected, not kept)."""
    number = first - 1
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while (more := stream.readline(MAX_LINE)) and not more.endswith(b"\n"):
                pass
            yield -number, b""
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw


def read_jsonl(stream: IO[bytes], rules: RowRules) -> Iterator[Row | Reject]:
    """Every record of a JSON Lines stream, as a row or a reject, in input order."""
    ordinal = 0
    for number, raw in read_lines(stream):
        if number > 0 and not raw.strip():
            continue
        yield jsonl_record(raw, ordinal, number, rules)
        ordinal += 1


def jsonl_record(raw: bytes, ordinal: int, number: int, rules: RowRules) -> Row | Reject:
    """One line of JSON Lines (``number < 0``: a line that was too long)."""
    if number < 0:
        return Reject(ordinal, -number, f"line longer than {MAX_LINE} bytes (not kept)",
                      {}, -number)
    record: dict[str, Any] = {}
    try:
        record = _json_object(raw)
        line = origin_line(record, number)
        inner = unwrap_raw(record)
        if inner is not None:  # a reject that could not be parsed: parse it again
            kept = record
            record = _json_object(inner)
            record["_line"] = kept.get("_line", line)
        return rules.row(record, ordinal, line)
    except BadRecord as exc:
        return Reject(ordinal, origin_line(record, number), str(exc),
                      kept_fields(record, raw), number)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(undecodable(raw, exc)) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise BadRecord("not JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadRecord(f"not a JSON object (a JSON {type(record).__name__})")
    return record


def kept_fields(record: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """What a reject keeps: its fields; for a record never parsed, its raw text."""
    if not record:
        return raw_record(raw.rstrip(b"\r\n"))
    kept: dict[str, Any] = {k: record[k] for k in ("_line", "_raw", "_raw_base64")
                            if k in record}
    return kept if kept.get("_raw") or kept.get("_raw_base64") else record
