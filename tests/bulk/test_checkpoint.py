"""Checkpoint: the done set, its log on disk, torn tails, fingerprints, cost, crashes."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voxkv_async._bulk.checkpoint import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointMismatchError,
)


def done_set(cp: Checkpoint, upto: int) -> set[int]:
    return {i for i in range(upto) if cp.is_done(i)}


def test_marks_survive_reopen_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    marks = list(range(5000))
    random.Random(1).shuffle(marks)
    kept = set(marks[:3000])
    with Checkpoint.open(path, "fp") as cp:
        for i in marks[:3000]:
            cp.mark_done(i)
        assert cp.done_count == 3000
    with Checkpoint.open(path, "fp") as again:
        assert again.resumed_done == 3000
        assert done_set(again, 6000) == kept
        assert again.low_water_mark == min(set(range(5001)) - kept)


def test_low_water_mark_and_gaps(tmp_path: Path) -> None:
    with Checkpoint.open(tmp_path / "cp", "fp") as cp:
        for i in [0, 1, 2, 4, 5, 100]:
            cp.mark_done(i)
        assert cp.low_water_mark == 3
        assert not cp.is_done(3)
        assert cp.is_done(4)
        assert cp.is_done(100)
        cp.mark_done(3)
        assert cp.low_water_mark == 6
        cp.mark_done(3)  # twice: counted once
        assert cp.done_count == 7


def test_a_checkpoint_of_another_input_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "sha256:aaa:10", source="a.jsonl (10 bytes)") as cp:
        cp.mark_done(0)
    with pytest.raises(CheckpointMismatchError) as caught:
        Checkpoint.open(path, "sha256:bbb:11", source="a.jsonl (11 bytes)")
    message = str(caught.value)
    assert "a.jsonl (10 bytes)" in message
    assert "a.jsonl (11 bytes)" in message
    assert "sha256:aaa:10" in message
    assert "sha256:bbb:11" in message
    assert isinstance(caught.value, ValueError)


def test_a_torn_last_record_is_dropped_and_appending_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp", flush_every=1) as cp:
        for i in range(10):
            cp.mark_done(i)
    good = path.read_bytes()
    with path.open("ab") as f:
        f.write(b"D 10-19 1234")  # a record cut short by a crash: no CRC, no newline
    with Checkpoint.open(path, "fp") as cp:
        assert done_set(cp, 30) == set(range(10))
        assert path.read_bytes() == good  # the debris is cut off before appending
        cp.mark_done(10)
    with Checkpoint.open(path, "fp") as cp:
        assert done_set(cp, 30) == set(range(11))


def test_a_full_line_with_a_bad_crc_at_the_end_is_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp", flush_every=1) as cp:
        cp.mark_done(0)
    with path.open("ab") as f:
        f.write(b"D 1-5 00000000\n\0\0\0")
    with Checkpoint.open(path, "fp") as cp:
        assert done_set(cp, 10) == {0}


def test_damage_before_the_last_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp", flush_every=1) as cp:
        for i in range(5):
            cp.mark_done(i)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"D", b"X")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CheckpointCorruptError, match="damaged at line 3"):
        Checkpoint.open(path, "fp")
    path.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointCorruptError, match="not a voxkv checkpoint"):
        Checkpoint.open(path, "fp")


def test_an_empty_file_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    path.write_bytes(b"")
    with Checkpoint.open(path, "fp") as cp:
        assert cp.done_count == 0
        cp.mark_done(0)
    with Checkpoint.open(path, "fp") as cp:
        assert cp.is_done(0)


def test_compaction_keeps_the_file_small_and_the_set_exact(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    # Every third index stays a gap: the low-water mark never moves.
    marked = [i for i in range(300_000) if i % 3]
    with Checkpoint.open(path, "fp", flush_every=500) as cp:
        for i in marked:
            cp.mark_done(i)
    assert path.stat().st_size < 300 * 1024
    with Checkpoint.open(path, "fp") as cp:
        assert cp.done_count == len(marked)
        assert cp.low_water_mark == 0
        assert done_set(cp, 300_010) == set(marked)


def test_in_order_marks_trim_the_bitmap(tmp_path: Path) -> None:
    with Checkpoint.open(tmp_path / "cp", "fp", flush_every=10_000) as cp:
        for i in range(1_000_000):
            cp.mark_done(i)
        assert cp.low_water_mark == 1_000_000
        assert len(cp._done.bits) < 70_000
    with Checkpoint.open(tmp_path / "cp", "fp") as cp:
        assert cp.done_count == 1_000_000
        assert cp.is_done(999_999)
        assert not cp.is_done(1_000_000)


async def test_marks_are_written_in_the_background_within_the_interval(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp"
    cp = Checkpoint.open(path, "fp", flush_every=1000, flush_interval=0.05)
    try:
        cp.mark_done(0)
        cp.mark_done(1)
        await asyncio.sleep(0.3)
        # Read by another opener, as after a crash: the marks are on disk already.
        other = Checkpoint(path, "fp", "fp")
        other._load()
        assert other.is_done(1)
        other.close()
        for i in range(2, 2002):  # past flush_every: written without waiting
            cp.mark_done(i)
        await cp.flush()
        assert b"2-" in path.read_bytes()
    finally:
        cp.close()


async def test_many_marks_are_all_recorded_compactly(tmp_path: Path) -> None:
    # What marking costs in time is measured by benchmarks/file_jobs.py (import with and
    # without --checkpoint); here: 200,000 marks in input order are all durable, and the
    # log stays compact (runs of done rows, not a line per row).
    n = 200_000
    path = tmp_path / "cp"
    async with Checkpoint.open(path, "fp") as cp:
        for i in range(n):
            cp.mark_done(i)
            if i % 64 == 0:
                await asyncio.sleep(0)  # let the loop run the write callbacks
        await cp.flush()
    assert path.stat().st_size < n  # under a byte a mark
    async with Checkpoint.open(path, "fp") as again:
        assert again.done_count == n
        assert again.low_water_mark == n
        assert not again.is_done(n)


def test_remove_deletes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    cp = Checkpoint.open(path, "fp")
    cp.mark_done(3)
    cp.remove()
    assert not path.exists()


def test_file_fingerprint_changes_with_any_byte(tmp_path: Path) -> None:
    f = tmp_path / "in"
    f.write_bytes(b"abc\n")
    first = Checkpoint.file_fingerprint(f)
    f.write_bytes(b"abd\n")
    assert Checkpoint.file_fingerprint(f) != first
    assert first.startswith("sha256:")
    assert first.endswith(":4")


_CRASHER = textwrap.dedent("""
    import asyncio, sys
    from voxkv_async._bulk.checkpoint import Checkpoint

    async def main():
        cp = Checkpoint.open(sys.argv[1], "fp", flush_every=16)
        i = 0
        while True:
            cp.mark_done(i)
            i += 1
            if i % 1000 == 0:
                await cp.flush()
                print(i, flush=True)   # every mark below i is durable now
            if i % 16 == 0:
                await asyncio.sleep(0)

    asyncio.run(main())
""")


def test_sigkill_keeps_a_prefix_of_the_marks(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    proc = subprocess.Popen([sys.executable, "-c", _CRASHER, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    confirmed = 0
    for line in proc.stdout:
        confirmed = int(line)
        if confirmed >= 20_000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with Checkpoint.open(path, "fp") as cp:
        lwm = cp.low_water_mark
        assert lwm >= confirmed
        assert cp.done_count == lwm  # a prefix: no holes below, nothing above
