"""Strict CSV: every record is parsed exactly, or rejected on its own lines.

The header (line 1) names the columns; ``key`` and ``value`` are required, ``ttl`` and
``expires_at`` optional, others are kept for the rejects file only. A quoted value may
span lines. Rules that keep one bad line from swallowing the next ones:

- a record must have exactly as many columns as the header;
- a record that spans lines and does not parse (a quote never closed before the end of
  the file or :data:`~._rows.MAX_LINE` bytes, text after a closing quote, a wrong column
  count) is taken to be an unterminated quote on its **first** line: that line is
  rejected and reading starts again at the next one;
- a record whose bytes are not UTF-8 is rejected with the offending line and column.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator
from typing import IO, Any

from ._rows import (
    MAX_LINE,
    META_FIELDS,
    BadRecord,
    Reject,
    Row,
    RowRules,
    kept_fields,
    origin_line,
    read_lines,
    undecodable,
    unwrap_raw,
)

__all__ = ["CsvInputError", "read_csv", "read_header"]


class CsvInputError(ValueError):
    """The CSV header is unusable: the whole file is refused (a usage error)."""


class _TooLong(Exception):
    """The record being read passed :data:`MAX_LINE` bytes."""


class _Feeder:
    """Physical lines for ``csv.reader``: counted, capped per record, with push-back."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self._lines = lines
        self.pushed: deque[tuple[int, bytes]] = deque()
        self.taken: list[tuple[int, bytes]] = []
        self._size = 0

    def start(self) -> None:
        self.taken = []
        self._size = 0

    def __iter__(self) -> _Feeder:
        return self

    def __next__(self) -> str:
        if self._size > MAX_LINE:
            raise _TooLong
        number, raw = self.pushed.popleft() if self.pushed else next(self._lines)
        self.taken.append((number, raw))
        if number < 0:  # one line over the limit on its own
            raise _TooLong
        self._size += len(raw)
        return raw.decode("utf-8", "surrogateescape")


def read_header(stream: IO[bytes]) -> list[str]:
    """The column names from line 1; :class:`CsvInputError` if unusable."""
    lines = read_lines(stream)
    number, raw = next(lines, (1, b""))
    if number < 0:
        raise CsvInputError(f"line 1: the CSV header is longer than {MAX_LINE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvInputError(f"line 1: the CSV header is {undecodable(raw, exc)}") from None
    try:
        names = next(csv.reader([text.rstrip("\r\n")], strict=True), [])
    except csv.Error as exc:
        raise CsvInputError(f"line 1: the CSV header does not parse: {exc}") from None
    if not {"key", "value"} <= set(names):
        raise CsvInputError('line 1: the CSV header needs "key" and "value" columns; '
                            f"it has {len(names)}: {', '.join(names[:10])}")
    if len(set(names)) != len(names):
        raise CsvInputError("line 1: the CSV header names a column twice")
    return names


def read_csv(stream: IO[bytes], header: list[str], rules: RowRules) -> Iterator[Row | Reject]:
    """Every record after the header (already read), as a row or a reject, in order."""
    feeder = _Feeder(read_lines(stream, first=2))
    reader = csv.reader(feeder, strict=True)
    ordinal = 0
    while True:
        feeder.start()
        try:
            fields = next(reader)
            problem = None
        except StopIteration:
            return
        except (csv.Error, _TooLong) as exc:
            fields, problem = [], _problem(exc)
        if not fields and problem is None:
            continue  # a blank line
        taken = feeder.taken
        if problem is None and len(fields) != len(header):
            problem = f"{len(fields)} columns where the header has {len(header)}"
        if problem is not None and len(taken) > 1:
            feeder.pushed.extendleft(reversed(taken[1:]))
            taken = taken[:1]
            problem = (f"unterminated quote: the record starting on this line does not "
                       f"parse ({problem}); only this line is rejected")
        yield _record(header, fields, taken, problem, ordinal, rules)
        ordinal += 1


def _problem(exc: Exception) -> str:
    if isinstance(exc, _TooLong):
        return f"a record longer than {MAX_LINE} bytes"
    return f"bad CSV: {exc}"


def _record(header: list[str], fields: list[str], taken: list[tuple[int, bytes]],
            problem: str | None, ordinal: int, rules: RowRules) -> Row | Reject:
    number = abs(taken[0][0]) if taken else 0
    raw = b"".join(r for _, r in taken)
    record: dict[str, Any] = {}
    try:
        if taken and taken[0][0] < 0:
            raise BadRecord(f"line longer than {MAX_LINE} bytes (not kept)")
        if problem is not None:
            raise BadRecord(problem)
        _check_utf8(taken)
        record = dict(zip(header, fields, strict=True))
        inner = unwrap_raw(record)
        if inner is not None:  # a reject that could not be parsed: parse it again
            record = _reparse(header, inner, record)
        return rules.row(record, ordinal, origin_line(record, number))
    except BadRecord as exc:
        keep = kept_fields(record, raw) if raw else {}
        return Reject(ordinal, origin_line(record, number), str(exc), keep, number)


def _check_utf8(taken: list[tuple[int, bytes]]) -> None:
    for number, raw in taken:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"line {number}: " if len(taken) > 1 else ""  # in a multi-line record
            raise BadRecord(where + undecodable(raw, exc)) from None


def _reparse(header: list[str], raw: bytes, outer: dict[str, Any]) -> dict[str, Any]:
    """A rejected record's raw text, parsed against the original columns."""
    columns = [name for name in header if name not in META_FIELDS]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(undecodable(raw, exc)) from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise BadRecord(f"bad CSV: {exc}") from None
    if len(rows) != 1 or len(rows[0]) != len(columns):
        got = len(rows[0]) if len(rows) == 1 else f"{len(rows)} records"
        raise BadRecord(f"{got} columns where the header has {len(columns)}")
    record = dict(zip(columns, rows[0], strict=True))
    record["_line"] = outer.get("_line", "")
    return record
