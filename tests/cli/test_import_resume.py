"""voxkv import --checkpoint: interrupted any way, resumed exactly (issue 12, problem 3)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

import pytest

from .conftest import Voxkv, summary, wait_for, write_jsonl

N = 3000


def big_file(voxkv: Voxkv, n: int = N, duplicates: bool = False) -> Path:
    keys = (i % (n - 500) if duplicates else i for i in range(n))
    return write_jsonl(voxkv.cwd / "in.jsonl",
                       [{"key": f"big:{k}", "value": f"value-{i}"} for i, k in enumerate(keys)])


def expected(path: Path) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        wanted[row["key"]] = row["value"]  # the last row of a key wins
    return wanted


def resume_args(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "voxkv"
    return words[1:]


def interrupt(voxkv: Voxkv, sig: int, *args: str, after: int = 300) -> tuple[int, str, str]:
    voxkv.emu.set_faults(latency=0.02)
    proc = voxkv.start("import", "in.jsonl", "--concurrency", "8", *args)
    wait_for(lambda: voxkv.sets() >= after)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    voxkv.emu.set_faults(latency=0.001)
    return proc.returncode, out, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_prints_a_summary_and_the_command_to_resume(
    voxkv: Voxkv, sig: int, code: int
) -> None:
    source = big_file(voxkv, duplicates=True)
    returncode, out, err = interrupt(voxkv, sig, "--checkpoint", "job.ckpt", "--json")
    assert returncode == code, err
    result = json.loads(out)
    assert result["status"] == "interrupted"
    assert result["exit_code"] == code
    assert result["written"] > 0
    assert result["not_done"] > 0
    assert result["written"] + result["failed"] + result["rejected"] + result["not_done"] == N
    assert result["checkpoint"] == "job.ckpt"
    assert "voxkv import: interrupted:" in err
    assert f"checkpoint kept: job.ckpt ({result['written']} rows" in err
    assert f"to resume: {result['resume']}" in err
    # The printed command resumes: the storage ends equal to the file (last rows win).
    before = voxkv.sets()
    done = voxkv.quick(*resume_args(result["resume"]))
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)
    assert resumed["skipped"] == result["written"]
    assert resumed["checkpoint_removed"] is True
    assert not (voxkv.cwd / "job.ckpt").exists()
    assert voxkv.emu.items() == expected(source)
    assert voxkv.sets() - before <= result["not_done"] + 200


def test_sigkill_then_resume_sends_only_the_rows_left(voxkv: Voxkv) -> None:
    source = big_file(voxkv)
    voxkv.emu.set_faults(latency=0.01)
    proc = voxkv.start("import", "in.jsonl", "--concurrency", "16", "--checkpoint", "k.ckpt")
    wait_for(lambda: voxkv.sets() >= 1200)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    voxkv.emu.set_faults(latency=0.001)
    left = N - len(voxkv.emu.items())
    before = voxkv.sets()
    done = voxkv.quick("import", "in.jsonl", "--concurrency", "16", "--checkpoint", "k.ckpt",
                       "--json")
    assert done.returncode == 0, done.stderr
    sent = voxkv.sets() - before
    print(f"resumed run: {sent} Set requests for {left} rows left")
    assert sent <= left + 200, (sent, left)
    assert voxkv.emu.items() == expected(source)
    assert summary(done)["skipped"] >= N - left - 200


def test_a_changed_file_is_refused_by_an_old_checkpoint(voxkv: Voxkv) -> None:
    source = big_file(voxkv)
    code, _, _ = interrupt(voxkv, signal.SIGINT, "--checkpoint", "c.ckpt")
    assert code == 130
    with source.open("a") as f:
        f.write(json.dumps({"key": "big:new", "value": "x"}) + "\n")
    before = voxkv.sets()
    done = voxkv.quick("import", "in.jsonl", "--checkpoint", "c.ckpt", "--json")
    assert done.returncode == 2
    assert "was made for another input" in done.stderr
    assert f"{source.resolve()} ({source.stat().st_size} bytes, jsonl)" in done.stderr
    assert summary(done)["status"] == "error"
    assert voxkv.sets() == before


def test_without_a_checkpoint_the_summary_says_how_to_rerun(voxkv: Voxkv) -> None:
    big_file(voxkv)
    code, _, err = interrupt(voxkv, signal.SIGINT)
    assert code == 130
    assert "no --checkpoint was given" in err
    assert "not done" in err


def test_failed_rows_are_retried_on_resume_and_rejects_are_rewritten(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": f"f:{i}", "value": "v"} for i in range(50)]
                + ["{broken"])
    done = voxkv.quick("import", "in.jsonl", "--checkpoint", "f.ckpt", "--rejects",
                       "rej.jsonl", "--json")
    assert done.returncode == 1
    assert summary(done)["checkpoint_removed"] is False
    again = voxkv.quick("import", "in.jsonl", "--checkpoint", "f.ckpt", "--rejects",
                        "rej.jsonl", "--json")
    result = summary(again)
    assert (result["skipped"], result["written"], result["rejected"]) == (50, 0, 1)
    assert (voxkv.cwd / "rej.jsonl").read_text().count("\n") == 1


def test_a_checkpoint_needs_a_file_not_stdin(voxkv: Voxkv) -> None:
    done = voxkv.quick("import", "-", "--checkpoint", "x.ckpt")
    assert done.returncode == 2
    assert "standard input cannot be read again" in done.stderr
