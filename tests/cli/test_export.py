"""voxkv export: atomic, counted, drift reported, round trips byte for byte."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import AsyncIterator

from voxkv_async import KeyInfo
from voxkv_async.cli._export import Drift, drift_of
from voxkv_async.cli._keytable import KeyTable

from .conftest import Voxkv, summary, wait_for, write_jsonl


def seed(voxkv: Voxkv, n: int, prefix: str = "e:") -> None:
    write_jsonl(voxkv.cwd / "seed.jsonl",
                [{"key": f"{prefix}{i:05d}", "value": f"v{i}"} for i in range(n)])
    assert voxkv.quick("import", "seed.jsonl").returncode == 0


def test_export_counts_and_writes_atomically(voxkv: Voxkv) -> None:
    seed(voxkv, 120)
    done = voxkv("export", "--prefix", "e:", "-o", "out.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    result = summary(done)
    assert result["keys"] == 120
    assert result["drift"] == {"appeared": 0, "vanished": 0, "expired": 0, "repeated": 0}
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


def test_writes_during_the_walk_are_reported_as_drift(voxkv: Voxkv) -> None:
    seed(voxkv, 1000)
    voxkv.emu.set_faults(latency=0.1)  # 2 s of walk: time to write behind it
    proc = voxkv.start("export", "--prefix", "e:", "-o", "out.jsonl", "--json")
    wait_for(lambda: voxkv.emu.stats.requests["GetKeyValueItems"] >= 3)
    # A key before the walk's offset (it shifts the rest: one item is listed twice)
    # and a key deleted behind it (one is skipped).
    assert voxkv.quick("set", "e:00000a", "new").returncode == 0
    assert voxkv.quick("del", "e:00001").returncode == 0
    voxkv.emu.set_faults(latency=0.005)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    drift = json.loads(out)["drift"]
    # The new key was never written out; so was, if the deletion shifted the pages
    # between two fetches, the item it pushed back past the walk's offset.
    assert drift["appeared"] in (1, 2)
    assert drift["vanished"] == 1
    assert "changed during the walk" in err
    assert "Run it again" in err


async def test_keys_that_expired_during_the_walk_are_not_drift() -> None:
    written = KeyTable(columns=1)  # key hash -> expires_at, as the walk records them
    for key, expires_at in [("k:gone", 100), ("k:kept", 500), ("k:deleted", 500),
                            ("k:twice", 500), ("k:twice", 500)]:
        written.add(hash(key), expires_at)

    async def listed_after() -> AsyncIterator[KeyInfo]:
        for key in ("k:kept", "k:twice", "k:new"):
            yield KeyInfo(key, 500)

    drift = await drift_of(written, listed_after(), now=200)
    assert drift == Drift(appeared=1, vanished=1, expired=1, repeated=1)


def test_export_then_import_into_another_application_round_trips_bytes(voxkv: Voxkv) -> None:
    now = int(time.time())
    rows = [{"key": f"b:{i:03d}", "value": v, "expires_at": now + 3600 + i}
            for i, v in enumerate(["plain", "ж юникод", 'quo"te', "new\nline", "", "\\x"] * 5)]
    write_jsonl(voxkv.cwd / "in.jsonl", rows)
    assert voxkv.quick("import", "in.jsonl").returncode == 0
    assert voxkv("export", "--prefix", "b:", "-o", "a.jsonl").returncode == 0
    voxkv.emu.add_application(2)
    moved = voxkv.quick("import", "a.jsonl", "--application-id", "2")
    assert moved.returncode == 0, moved.stderr
    assert voxkv.quick("export", "--prefix", "b:", "-o", "b.jsonl",
                       "--application-id", "2").returncode == 0
    assert (voxkv.cwd / "a.jsonl").read_bytes() == (voxkv.cwd / "b.jsonl").read_bytes()
    assert voxkv.emu.dump()[2] == voxkv.emu.dump()[voxkv.emu.application_id]
