"""``voxkv import`` and ``voxkv export``: whole files in and out of the storage.

``import FILE`` reads JSON Lines (``{"key": .., "value": .., "expires_at": ..}``, the
last optional; other fields ignored) or CSV with a ``key,value`` header (by extension,
or ``--format``). Bad rows are reported as ``FILE:LINE: problem`` and skipped; good
rows still go through. ``--rejects OUT`` receives every failed row in the input's
format with an added ``error`` field/column, so ``voxkv import OUT`` re-runs just those.
Exit codes: 0 every row written, 1 some row failed, 2 bad usage or a failed call.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

import attrs

from .._bulk import BulkFailure, BulkReport
from .._models import KeyValueItem
from ._connection import UsageError, add_command, connected, item_json

__all__ = ["register_files"]

# Failures printed to stderr one by one; the rest go only to the rejects file.
_SHOWN_FAILURES = 20


def register_files(subparsers: Any) -> None:
    """Add ``import`` and ``export``."""
    p = add_command(subparsers, "import",
                    "set every row of FILE (JSON Lines or CSV with key,value header)", _import)
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("jsonl", "csv"),
                   help="the file's format (default: by extension; .csv is CSV)")
    p.add_argument("--ttl", type=int, help="seconds to live for rows without expires_at")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    p.add_argument("--rate", type=float, metavar="N", help="at most N requests per second")
    p.add_argument("--rejects", type=Path, metavar="OUT",
                   help="write failed rows here, in the input's format, with their error")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    p = add_command(subparsers, "export",
                    "write every item whose key starts with PREFIX as JSON Lines", _export)
    p.add_argument("--prefix", required=True)
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")


async def _export(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        out: TextIO = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
        try:
            async for item in kv.iter_items(args.prefix):
                out.write(json.dumps(item_json(item), ensure_ascii=False) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
    return 0


# --- import ---------------------------------------------------------------------------


@attrs.frozen
class _Row(KeyValueItem):
    """An item read from the import file, with where it came from (for rejects)."""

    line: int = 0
    record: dict[str, Any] = attrs.field(factory=dict, eq=False)


class _BadRow(ValueError):
    """A row that cannot be an item; carries what to write to the rejects file."""

    def __init__(self, line: int, problem: str, record: dict[str, Any]) -> None:
        self.line = line
        self.record = record
        super().__init__(problem)


def _row_from(record: dict[str, Any], line: int) -> _Row:
    key, value, expires_at = record.get("key"), record.get("value"), record.get("expires_at")
    if not isinstance(key, str) or not isinstance(value, str):
        raise _BadRow(line, 'needs string fields "key" and "value"', record)
    if expires_at in (None, ""):
        expires_at = None
    else:
        try:
            expires_at = int(expires_at)
        except (TypeError, ValueError):
            raise _BadRow(line, '"expires_at" is not Unix seconds', record) from None
    return _Row(key, value, expires_at, line, record)


def _read_jsonl(lines: IO[str]) -> Iterator[_Row | _BadRow]:
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield _BadRow(number, f"not JSON: {exc.msg}", {"line": number, "raw": text.rstrip()})
            continue
        if not isinstance(record, dict):
            yield _BadRow(number, "not a JSON object", {"line": number, "raw": text.rstrip()})
            continue
        try:
            yield _row_from(record, number)
        except _BadRow as bad:
            yield bad


def _read_csv(lines: IO[str]) -> Iterator[_Row | _BadRow]:
    reader = csv.DictReader(lines)
    if not reader.fieldnames or not {"key", "value"} <= set(reader.fieldnames):
        raise UsageError('CSV input needs a header line with "key" and "value" columns')
    try:
        for record in reader:
            try:
                yield _row_from(dict(record), reader.line_num)
            except _BadRow as bad:
                yield bad
    except csv.Error as exc:
        yield _BadRow(reader.line_num, f"bad CSV: {exc}", {})


class _Rejects:
    """Failed rows, written in the input's format with an ``error`` field, and shown."""

    def __init__(self, path: Path | None, fmt: str, source: Path,
                 fieldnames: list[str] | None) -> None:
        self.count = 0
        self._source = source
        self._file: TextIO | None = path.open("w", encoding="utf-8", newline="") if path else None
        self._csv: csv.DictWriter[str] | None = None
        if self._file is not None and fmt == "csv":
            names = [*(fieldnames or ["key", "value"])]
            if "error" not in names:
                names.append("error")
            self._csv = csv.DictWriter(self._file, names, extrasaction="ignore")
            self._csv.writeheader()

    def add(self, line: int, record: dict[str, Any], error: str) -> None:
        self.count += 1
        if self.count <= _SHOWN_FAILURES:
            print(f"{self._source}:{line}: {error}", file=sys.stderr)
        if self._file is None:
            return
        if self._csv is not None:
            self._csv.writerow({**record, "error": error})
        else:
            self._file.write(json.dumps({**record, "error": error}, ensure_ascii=False) + "\n")

    def failure(self, failure: BulkFailure) -> None:
        row = failure.item
        assert isinstance(row, _Row)  # the import feeds only rows
        self.add(row.line, row.record, _one_line(failure.error))

    def close(self) -> None:
        if self.count > _SHOWN_FAILURES:
            print(f"... and {self.count - _SHOWN_FAILURES} more failed rows", file=sys.stderr)
        if self._file is not None:
            self._file.close()


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "csv" if args.file.suffix.lower() == ".csv" else "jsonl"


def _csv_header(path: Path) -> list[str] | None:
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f), None)


async def _import(args: argparse.Namespace) -> int:
    fmt = _format_of(args)
    header = _csv_header(args.file) if fmt == "csv" else None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    rejects = _Rejects(args.rejects, fmt, args.file, header)
    try:
        with args.file.open(encoding="utf-8", newline="") as lines:
            rows = (_read_csv if fmt == "csv" else _read_jsonl)(lines)
            async with connected(args) as kv:
                report = await kv.set_many(
                    _good_rows(rows, rejects), ttl=args.ttl,
                    concurrency=args.concurrency, rate_limit=args.rate,
                    progress=progress, on_failure=rejects.failure,
                    report=BulkReport(max_failures=0),
                )
    finally:
        rejects.close()
    bad = rejects.count - report.failed
    print(f"{report.summary()}; {bad} bad rows skipped", file=sys.stderr)
    return 1 if rejects.count else 0


def _good_rows(rows: Iterator[_Row | _BadRow], rejects: _Rejects) -> Iterator[_Row]:
    """The rows that parsed; the others go straight to the rejects."""
    for row in rows:
        if isinstance(row, _BadRow):
            rejects.add(row.line, row.record, f"bad row: {row}")
        else:
            yield row
