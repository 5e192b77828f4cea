"""Rejects never regress a key (issue 18, item 2).

A row that fails, followed by a later row of its key that is written, is *superseded*: it
is left out of the rejects file (importing it again would put the older value back), the
same way with or without ``--checkpoint``, and across kills and resumes.
"""

from __future__ import annotations

import csv
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from voxkv_async import BulkFailure
from voxkv_async._validation import TTL_MAX
from voxkv_async.cli._import import _Feed
from voxkv_async.cli._rejects import Rejects
from voxkv_async.cli._rows import Reject, Row

from .conftest import Voxkv, read_jsonl, summary, wait_for, write_jsonl


def fails() -> dict[str, int]:
    """An expiry the server refuses (over 90 days ahead) for the next ~55 s, which the
    local check lets through (it allows 60 s of slack for clock skew): the row is sent,
    and fails."""
    return {"expires_at": int(time.time()) + TTL_MAX + 55}


def dup_file(voxkv: Voxkv, n: int = 1500) -> Path:
    """Rows ``s:i``; every 50th key also has an earlier row that fails (superseded), and
    five keys have only a row that fails (kept in the rejects)."""
    rows: list[dict[str, Any]] = []
    bad = fails()
    for i in range(n):
        if i % 50 == 0:
            rows.append({"key": f"dup:{i}", "value": "old", **bad})
        if i % 50 == 25:
            rows.append({"key": f"dup:{i - 25}", "value": "new"})
        rows.append({"key": f"s:{i}", "value": f"v{i}"})
    rows += [{"key": f"lone:{j}", "value": "only", **bad} for j in range(5)]
    rows.append({"key": "dup:bad", "value": 7})  # rejected while reading...
    rows.append({"key": "dup:bad", "value": "fixed"})  # ...superseded
    return write_jsonl(voxkv.cwd / "in.jsonl", rows)


LONE = {f"lone:{j}" for j in range(5)}


def check_outcome(voxkv: Voxkv, result: dict[str, Any]) -> None:
    assert {r["key"] for r in read_jsonl(voxkv.cwd / "rej.jsonl")} == LONE
    items = voxkv.emu.items()
    assert {k: v for k, v in items.items() if k.startswith("dup:")} == {
        **{f"dup:{i}": "new" for i in range(0, 1500, 50)}, "dup:bad": "fixed"}
    assert not LONE & items.keys()
    assert result["exit_code"] == 1
    assert result["rejects"] == "rej.jsonl"


@pytest.mark.parametrize("checkpoint", [[], ["--checkpoint", "s.ckpt"]])
def test_superseded_rows_are_left_out_of_the_rejects(voxkv: Voxkv,
                                                     checkpoint: list[str]) -> None:
    dup_file(voxkv)
    done = voxkv("import", "in.jsonl", "--rejects", "rej.jsonl", "--json", *checkpoint)
    result = summary(done)
    check_outcome(voxkv, result)
    assert (result["failed"], result["rejected"], result["superseded"]) == (35, 1, 31)
    assert "31 of them superseded" in done.stderr
    # Following the printed advice does not regress any key.
    assert "voxkv import rej.jsonl" in done.stderr
    fixed = [{k: v for k, v in r.items() if k != "expires_at"}
             for r in read_jsonl(voxkv.cwd / "rej.jsonl")]
    write_jsonl(voxkv.cwd / "rej.jsonl", fixed)
    assert voxkv.quick("import", "rej.jsonl").returncode == 0
    assert all(v == "new" for k, v in voxkv.emu.items().items()
               if k.startswith("dup:") and k != "dup:bad")


def test_superseded_rows_are_left_out_across_kills_and_resumes(voxkv: Voxkv) -> None:
    dup_file(voxkv)
    voxkv.emu.set_faults(latency=0.02)
    for after in (200, 700):
        proc = voxkv.start("import", "in.jsonl", "--concurrency", "8", "--checkpoint",
                           "s.ckpt", "--rejects", "rej.jsonl")
        wait_for(lambda after=after: voxkv.sets() >= after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    voxkv.emu.set_faults(latency=0.001)
    done = voxkv("import", "in.jsonl", "--checkpoint", "s.ckpt", "--rejects", "rej.jsonl",
                 "--json")
    check_outcome(voxkv, summary(done))


def test_only_superseded_failures_make_a_complete_run(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": "k", "value": "old", **fails()},
                                         {"key": "k", "value": "new"}])
    (voxkv.cwd / "rej.jsonl").write_text("an earlier run's\n")
    done = voxkv.quick("import", "in.jsonl", "--rejects", "rej.jsonl", "--checkpoint",
                       "c.ckpt", "--json")
    result = summary(done)
    assert done.returncode == 0, done.stderr
    assert (result["failed"], result["superseded"], result["rejects"]) == (1, 1, None)
    assert result["checkpoint_removed"] is True
    assert not (voxkv.cwd / "rej.jsonl").exists()  # it held only the superseded row
    assert voxkv.emu.items() == {"k": "new"}


# --- the order of the marks -----------------------------------------------------------------------


class _Marks:
    """A checkpoint that records the order of its marks."""

    def __init__(self) -> None:
        self.marks: list[int] = []

    def is_done(self, index: int) -> bool:
        return False

    def mark_done(self, index: int) -> None:
        self.marks.append(index)


def test_a_superseded_row_is_recorded_before_the_row_that_supersedes_it() -> None:
    """What survives a crash is a prefix of the marks: were the later row of a key marked
    first, a crash between the two would leave it done and the earlier one not, and a
    resumed run would send the earlier (older) value last."""
    old, new = Row("k", "old", None, 3), Row("k", "new", None, 9)
    marks = _Marks()
    feed = _Feed(iter([old, new]), Rejects(None, "jsonl", None, "in", print),
                 marks)  # type: ignore[arg-type]
    assert list(feed) == [old, new]
    feed.on_failure(BulkFailure(0, old, ValueError("refused")))
    feed.mark_done(1)
    assert marks.marks == [3, 9]


def test_a_rejected_row_is_superseded_only_by_a_later_written_row() -> None:
    rejects = Rejects(None, "jsonl", None, "in", lambda _: None)
    rejects.reject(Reject(5, 6, "bad", {"key": "k", "value": 1}))
    assert rejects.written("k", 2) == []  # an earlier row: the reject is the last
    assert rejects.written("other", 9) == []
    assert rejects.written("k", 7) == [5]
    assert (rejects.count, rejects.superseded, rejects.kept) == (1, 1, 0)


def test_csv_rejects_are_rewritten_without_the_superseded_rows(voxkv: Voxkv) -> None:
    far = fails()["expires_at"]
    (voxkv.cwd / "in.csv").write_text(
        "key,value,expires_at,note\n"
        f'k,"old\nvalue",{far},first\n'  # a value over two lines, superseded
        f"lone,only,{far},kept\n"
        "k,new,,last\n", encoding="utf-8")
    done = voxkv.quick("import", "in.csv", "--rejects", "rej.csv", "--json")
    result = summary(done)
    assert (result["failed"], result["superseded"], result["exit_code"]) == (2, 1, 1)
    with (voxkv.cwd / "rej.csv").open(encoding="utf-8", newline="") as f:
        kept = list(csv.DictReader(f))
    assert [(r["key"], r["value"], r["note"], r["_line"]) for r in kept] == [
        ("lone", "only", "kept", "4")]
    assert voxkv.emu.items() == {"k": "new"}
