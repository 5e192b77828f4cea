"""voxkv export: atomic, counted, drift reported, round trips byte for byte."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from voxkv_async.cli._pipes import EXIT_BROKEN_PIPE

from .conftest import Voxkv, read_jsonl, summary, wait_for, write_jsonl


def seed(voxkv: Voxkv, n: int, prefix: str = "e:", value: str = "v") -> None:
    write_jsonl(voxkv.cwd / "seed.jsonl",
                [{"key": f"{prefix}{i:05d}", "value": f"{value}{i}"} for i in range(n)])
    assert voxkv.quick("import", "seed.jsonl").returncode == 0


def test_export_counts_and_writes_atomically(voxkv: Voxkv) -> None:
    seed(voxkv, 120)
    done = voxkv("export", "--prefix", "e:", "-o", "out.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    result = summary(done)
    assert result["keys"] == 120
    assert result["drift"] == {"shifts": 0, "gaps": 0}
    # Pages at 0, 49 and 98 and the empty one that ends it at 120, and those asked for
    # ahead (147, 196) if they were sent before the short page at 98 came back.
    assert 4 <= result["requests"] <= 6
    assert (voxkv.cwd / "out.jsonl").read_text().count("\n") == 120
    assert "120 keys written to out.jsonl" in done.stderr


def test_an_interrupted_export_leaves_the_old_file_alone(voxkv: Voxkv) -> None:
    seed(voxkv, 400)
    out = voxkv.cwd / "out.jsonl"
    out.write_text("the previous backup\n")
    voxkv.emu.set_faults(latency=0.05)
    proc = voxkv.start("export", "--prefix", "e:", "-o", "out.jsonl")
    wait_for(lambda: voxkv.emu.stats.requests["GetKeyValueItems"] >= 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out.read_text() == "the previous backup\n"
    assert sorted(p.name for p in voxkv.cwd.iterdir()) == ["out.jsonl", "seed.jsonl"]
    assert "nothing written" in err


def test_writes_during_the_walk_lose_no_key_present_throughout(voxkv: Voxkv) -> None:
    seed(voxkv, 5000)
    voxkv.emu.set_faults(latency=0.3)  # pages come in rounds: time to write behind them
    proc = voxkv.start("export", "--prefix", "e:", "-o", "out.jsonl", "--json")
    wait_for(lambda: voxkv.emu.stats.requests["GetKeyValueItems"] >= 3)
    # Keys added and deleted before the walk's place: the pages after it move.
    assert voxkv.quick("set", "e:00000a", "new").returncode == 0
    assert voxkv.quick("del", "e:00001").returncode == 0
    assert voxkv.quick("del", "e:00002").returncode == 0
    voxkv.emu.set_faults(latency=0.005)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["drift"]["shifts"] >= 1
    assert result["drift"]["gaps"] == 0
    exported = [row["key"] for row in read_jsonl(voxkv.cwd / "out.jsonl")]
    assert len(exported) == len(set(exported)) == result["keys"]
    present_throughout = {f"e:{i:05d}" for i in range(5000)} - {"e:00001", "e:00002"}
    assert present_throughout <= set(exported)
    assert "added or deleted during the walk" in err


def test_a_reader_that_goes_away_ends_the_export_quietly(voxkv: Voxkv) -> None:
    seed(voxkv, 3000, value="x" * 200)  # ~700 kB: more than a pipe holds
    export = subprocess.Popen(
        [sys.executable, "-m", "voxkv_async", "export", "--prefix", "e:", "-o", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=voxkv.env, cwd=voxkv.cwd)
    head = subprocess.Popen(["head", "-3"], stdin=export.stdout, stdout=subprocess.PIPE)
    assert export.stdout is not None
    assert export.stderr is not None
    export.stdout.close()  # head holds the only reading end
    lines, _ = head.communicate(timeout=60)
    err = export.stderr.read().decode()
    assert export.wait(timeout=60) == EXIT_BROKEN_PIPE == 141
    assert len(lines.splitlines()) == 3
    assert err == ""
    export.stderr.close()


def test_export_then_import_into_another_application_round_trips_bytes(voxkv: Voxkv) -> None:
    now = int(time.time())
    rows = [{"key": f"b:{i:03d}", "value": v, "expires_at": now + 3600 + i}
            for i, v in enumerate(["plain", "ж юникод", 'quo"te', "new\nline", "", "\\x"] * 5)]
    write_jsonl(voxkv.cwd / "in.jsonl", rows)
    assert voxkv.quick("import", "in.jsonl").returncode == 0
    assert voxkv("export", "--prefix", "b:", "-o", "a.jsonl").returncode == 0
    moved = voxkv.quick("import", "a.jsonl", "--application-id", "2")
    assert moved.returncode == 0, moved.stderr
    assert voxkv.quick("export", "--prefix", "b:", "-o", "b.jsonl",
                       "--application-id", "2").returncode == 0
    assert (voxkv.cwd / "a.jsonl").read_bytes() == (voxkv.cwd / "b.jsonl").read_bytes()
    assert voxkv.emu.dump()[2] == voxkv.emu.dump()[voxkv.emu.application_id]
