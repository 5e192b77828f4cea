"""voxkv import --checkpoint over real processes: bound to its destination, one run at a
time, a deleted or zeroed checkpoint never taken for what it is not (issue 18, B, C, F)."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from voxkv_async import Checkpoint

from .conftest import Voxkv, summary, wait_for
from .test_import_resume import N, big_file, expected, interrupt


def started(voxkv: Voxkv, *args: str, after: int = 300) -> subprocess.Popen[str]:
    """``voxkv import in.jsonl ARGS`` running slowly, once ``after`` rows were sent."""
    voxkv.emu.set_faults(latency=0.02)
    proc = voxkv.start("import", "in.jsonl", "--concurrency", "8", *args)
    wait_for(lambda: voxkv.sets() >= after)
    return proc


# --- B: the destination -------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "value", "field"), [
    ("--application-id", "2", "application_id"),
    ("--ttl", "60", "ttl"),
    ("--account-id", "424242", "account"),
])
def test_a_resume_into_another_destination_is_refused(voxkv: Voxkv, flag: str, value: str,
                                                      field: str) -> None:
    source = big_file(voxkv)
    code, _, _ = interrupt(voxkv, signal.SIGINT, "--checkpoint", "c.ckpt")
    assert code == 130
    before = voxkv.sets()
    done = voxkv("import", "in.jsonl", "--checkpoint", "c.ckpt", flag, value, "--json")
    assert done.returncode == 2, done.stderr
    assert "was made for another destination" in done.stderr
    assert f"{field} " in done.stderr.split("destination:", 1)[1]
    assert summary(done)["status"] == "error"
    assert voxkv.sets() == before
    # The same destination resumes (the environment gave the application id first).
    same = voxkv.quick("import", "in.jsonl", "--checkpoint", "c.ckpt", "--application-id",
                       str(voxkv.emu.application_id), "--json")
    assert same.returncode == 0, same.stderr
    assert voxkv.emu.items() == expected(source)


def test_a_checkpoint_that_records_no_destination_is_refused(voxkv: Voxkv) -> None:
    source = big_file(voxkv)
    fingerprint = f"{Checkpoint.file_fingerprint(source)}:jsonl"
    with Checkpoint.open(voxkv.cwd / "old.ckpt", fingerprint) as old:  # an older version's
        old.mark_done(0)
    done = voxkv("import", "in.jsonl", "--checkpoint", "old.ckpt")
    assert done.returncode == 2, done.stderr
    assert "records no destination" in done.stderr
    assert voxkv.sets() == 0


# --- C: one run at a time, and the order of a key's rows across kills --------------------------


def test_a_second_run_on_the_same_checkpoint_is_refused_while_the_first_runs(
    voxkv: Voxkv,
) -> None:
    source = big_file(voxkv)
    first = started(voxkv, "--checkpoint", "c.ckpt")
    second = voxkv("import", "in.jsonl", "--checkpoint", "c.ckpt", "--json")
    assert second.returncode == 2, second.stderr
    assert f"c.ckpt is in use by process {first.pid}" in second.stderr
    assert summary(second)["status"] == "error"
    voxkv.emu.set_faults(latency=0.001)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert voxkv.sets() == N  # one run's worth
    assert voxkv.emu.items() == expected(source)
    assert not (voxkv.cwd / "c.ckpt.lock").exists()


def test_kill_and_resume_with_duplicate_keys_ends_with_the_last_rows(voxkv: Voxkv) -> None:
    """SIGKILL three times, each leaving a lock behind; the last row of every key wins."""
    source = big_file(voxkv, duplicates=True)
    for after in (300, 1100, 1900):
        proc = started(voxkv, "--checkpoint", "k.ckpt", "--concurrency", "16", after=after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert (voxkv.cwd / "k.ckpt.lock").exists()  # a dead process's: free
    voxkv.emu.set_faults(latency=0.001)
    done = voxkv("import", "in.jsonl", "--checkpoint", "k.ckpt", "--json")
    assert done.returncode == 0, done.stderr
    assert summary(done)["skipped"] >= 1500
    assert voxkv.emu.items() == expected(source)


# --- F: a checkpoint deleted mid-run, or all zeros ---------------------------------------------


def test_a_checkpoint_deleted_mid_run_is_not_said_to_be_kept(voxkv: Voxkv) -> None:
    big_file(voxkv)
    proc = started(voxkv, "--checkpoint", "d.ckpt", "--json")
    (voxkv.cwd / "d.ckpt").unlink()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "checkpoint kept" not in err
    assert "checkpoint d.ckpt is GONE: it was deleted or replaced during the run" in err
    result = json.loads(out)
    assert (result["checkpoint_kept"], result["checkpoint_removed"]) == (False, False)
    assert not (voxkv.cwd / "d.ckpt").exists()


def test_an_all_zero_checkpoint_is_refused_as_damage(voxkv: Voxkv) -> None:
    big_file(voxkv)
    zeros = bytes(8192)
    (voxkv.cwd / "z.ckpt").write_bytes(zeros)
    done = voxkv("import", "in.jsonl", "--checkpoint", "z.ckpt", "--json")
    assert done.returncode == 2, done.stderr
    assert "is damaged: 8192 bytes, all zero" in done.stderr
    assert "remove it to start over" in done.stderr
    assert voxkv.sets() == 0
    assert (voxkv.cwd / "z.ckpt").read_bytes() == zeros
