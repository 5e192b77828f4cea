"""The rejects file: every row not written, in the input's format, ready to import again.

It is never the input file (refused up front) and is created only when the first reject
comes, so a run without rejects leaves any earlier file alone. Each reject keeps its
fields as read, plus ``_line`` (the line in the *original* input, kept across re-imports)
and ``_error`` (the latest reason); a record that could not be parsed is kept as its raw
text in ``_raw`` (``_raw_base64`` for bytes that are not UTF-8), which ``import`` parses
again. So ``voxkv import rejects.jsonl`` retries exactly those rows, and what still fails
lands in the next rejects file with its original line and its new reason.

**Superseded rows are left out.** A row (failed, or rejected while reading) whose key a
later row of the input wrote, in this run or one a checkpoint recorded, is not offered
for re-import: importing it would put the older value back over the newer one. It is
still shown and counted (:attr:`Rejects.superseded`). Rejects are written as they come
and a later row of their key may be written after; the file is rewritten once at the end
without the superseded ones (removed if none is left), so memory holds only the keys of
the rejects, never their values.
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
        #: Rejects left out: a later row of their key was written.
        self.superseded = 0
        self._by_key: dict[str, list[tuple[int, int]]] = {}  # key -> [(ordinal, number)]
        self._dropped: set[int] = set()  # their numbers among the records written
        self._fmt = fmt
        self._columns = [c for c in (header or ["key", "value"]) if c not in META_FIELDS]
        self._input = input_name
        self._show = show
        self._file: IO[str] | None = None
        self._csv: Any = None

    @property
    def kept(self) -> int:
        """The rejects offered for re-import (not superseded)."""
        return self.count - self.superseded

    def reject(self, reject: Reject) -> None:
        """A record that was not sent (it did not parse or validate)."""
        key = reject.record.get("key")
        if isinstance(key, str):
            self._note(key, reject.ordinal)
        where = reject.physical_line or reject.line
        self._add(where, reject.line, reject.error, reject.record)

    def failure(self, row: Row, error: BaseException) -> None:
        """A row the API did not take."""
        self._note(row.key, row.ordinal)
        self._add(0, row.line, _one_line(error), row.record)

    def written(self, key: str, ordinal: int) -> list[int]:
        """Row ``ordinal`` of ``key`` is written: the ordinals of the earlier rejects of
        ``key``, now superseded (left out of the file)."""
        earlier = self._by_key.get(key) if self._by_key else None
        if not earlier:
            return []
        gone = [(o, n) for o, n in earlier if o < ordinal]
        if len(gone) == len(earlier):
            del self._by_key[key]
        else:
            earlier[:] = [(o, n) for o, n in earlier if o >= ordinal]
        self.superseded += len(gone)
        self._dropped.update(n for _, n in gone)
        return [o for o, _ in gone]

    def _note(self, key: str, ordinal: int) -> None:
        self._by_key.setdefault(key, []).append((ordinal, self.count))

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
        """Write everything out (fsynced, without the superseded rows) and say how many
        were not shown."""
        if self.count > SHOWN:
            self._show(f"... and {self.count - SHOWN} more rejected rows"
                       + (f" (all in {self.path})" if self.path else ""))
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        if self._dropped:
            self._rewrite()

    def _rewrite(self) -> None:
        """The file again without the superseded records (removed if none is left)."""
        assert self.path is not None
        if not self.kept:
            self.path.unlink()
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with self.path.open(encoding="utf-8", newline="") as old, \
                tmp.open("w", encoding="utf-8", newline="") as new:
            if self._csv is not None:
                reader, writer = csv.reader(old), csv.writer(new, lineterminator="\n")
                writer.writerow(next(reader))  # the header
                for number, fields in enumerate(reader):
                    if number not in self._dropped:
                        writer.writerow(fields)
            else:
                for number, line in enumerate(old):  # json.dumps leaves no raw \r or \n
                    if number not in self._dropped:
                        new.write(line)
            new.flush()
            os.fsync(new.fileno())
        os.replace(tmp, self.path)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")
