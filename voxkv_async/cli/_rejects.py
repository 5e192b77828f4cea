"""The rejects file: every row not written, in the input's format, ready to import again.

It is never the input file (refused up front) and is created only when the first reject
comes, so a run without rejects leaves any earlier file alone. Each reject keeps its
fields as read, plus ``_line`` (the line in the *original* input, kept across re-imports)
and ``_error`` (the latest reason); a record that could not be parsed is kept as its raw
text in ``_raw`` (``_raw_base64`` for bytes that are not UTF-8), which ``import`` parses
again. So ``voxkv import rejects.jsonl`` retries exactly those rows, and what still fails
lands in the next rejects file with its original line and its new reason.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ._connection import UsageError
from ._rows import META_FIELDS, Reject, Row

__all__ = ["Rejects", "check_distinct"]

# Rejects shown one by one on stderr; the others only go to the file (and are counted).
SHOWN = 20


def check_distinct(path: Path, name: str, others: dict[str, Path | None]) -> None:
    """Refuse ``path`` if it is the same file as one of ``others`` (by name or inode)."""
    for other_name, other in others.items():
        if other is None or str(other) == "-":
            continue
        same = path.resolve() == other.resolve()
        if not same and path.exists() and other.exists():
            same = os.path.samefile(path, other)
        if same:
            raise UsageError(f"{name} {path} is the {other_name} file: give another path")


class Rejects:
    """Writes rejected rows to ``path`` (if given) and shows the first few on stderr."""

    def __init__(self, path: Path | None, fmt: str, header: list[str] | None,
                 input_name: str, show: Callable[[str], None]) -> None:
        self.path = path
        self.count = 0
        self._fmt = fmt
        self._columns = [c for c in (header or ["key", "value"]) if c not in META_FIELDS]
        self._input = input_name
        self._show = show
        self._file: IO[str] | None = None
        self._csv: Any = None

    def reject(self, reject: Reject) -> None:
        """A record that was not sent (it did not parse or validate)."""
        where = reject.physical_line or reject.line
        self._add(where, reject.line, reject.error, reject.record)

    def failure(self, row: Row, error: BaseException) -> None:
        """A row the API did not take."""
        self._add(0, row.line, _one_line(error), row.record)

    def _add(self, physical: int, line: int, error: str, record: dict[str, Any]) -> None:
        self.count += 1
        if self.count <= SHOWN:
            where = f"{self._input}:{physical or line}"
            if physical and physical != line:
                where += f" (line {line} of the original input)"
            self._show(f"{where}: {error}")
        if self.path is None:
            return
        out = self._open()
        fields = {k: v for k, v in record.items() if k not in META_FIELDS}
        meta = {"_line": line, "_error": error}
        meta.update({k: record[k] for k in ("_raw", "_raw_base64") if record.get(k)})
        if self._csv is not None:
            row = {c: fields.get(c, "") for c in self._columns}
            self._csv.writerow({**row, **meta})
        else:
            out.write(json.dumps({**fields, **meta}, ensure_ascii=False) + "\n")

    def _open(self) -> IO[str]:
        if self._file is None:
            assert self.path is not None
            self._file = self.path.open("w", encoding="utf-8", newline="")
            if self._fmt == "csv":
                self._csv = csv.DictWriter(self._file, [*self._columns, *META_FIELDS],
                                           lineterminator="\n")
                self._csv.writeheader()
        return self._file

    def close(self) -> None:
        """Write everything out (fsynced) and say how many were not shown."""
        if self.count > SHOWN:
            self._show(f"... and {self.count - SHOWN} more rejected rows"
                       + (f" (all in {self.path})" if self.path else ""))
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")
