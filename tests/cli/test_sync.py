"""voxkv sync: plan, dry run, --delete, the delete guard, idempotence (issue 12, problem 9)."""

from __future__ import annotations

import signal
import time

from .conftest import Voxkv, summary, wait_for, write_jsonl


def store(voxkv: Voxkv, items: dict[str, str]) -> None:
    write_jsonl(voxkv.cwd / "store.jsonl", [{"key": k, "value": v} for k, v in items.items()])
    assert voxkv.quick("import", "store.jsonl").returncode == 0


STORED = {f"s:{i}": f"v{i}" for i in range(10)}
WANTED = {**{f"s:{i}": f"v{i}" for i in range(5)}, "s:5": "changed", "s:6": "changed",
          "s:10": "new", "s:11": "new", "s:12": "new"}


def wanted_file(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "want.jsonl", [{"key": k, "value": v} for k, v in WANTED.items()])


def test_dry_run_prints_the_plan_and_sends_no_write(voxkv: Voxkv) -> None:
    store(voxkv, STORED)
    wanted_file(voxkv)
    writes = voxkv.writes()
    done = voxkv("sync", "want.jsonl", "--prefix", "s:", "--delete", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    assert voxkv.writes() == writes
    plan = summary(done)["plan"]
    assert (plan["add"], plan["update"], plan["unchanged"], plan["delete"]) == (3, 2, 5, 3)
    assert plan["samples"]["add"] == ["s:10", "s:11", "s:12"]
    assert plan["samples"]["update"] == ["s:5", "s:6"]
    assert sorted(plan["samples"]["delete"]) == ["s:7", "s:8", "s:9"]
    assert "3 to add, 2 to update, 5 unchanged, 3 to delete" in done.stderr
    assert "  add: s:10, s:11, s:12" in done.stderr
    assert voxkv.emu.items() == STORED


def test_sync_with_delete_makes_the_prefix_equal_and_a_second_run_writes_nothing(
    voxkv: Voxkv,
) -> None:
    store(voxkv, {**STORED, "other:1": "untouched"})
    wanted_file(voxkv)
    before = voxkv.emu.stats.requests.copy()
    done = voxkv("sync", "want.jsonl", "--prefix", "s:", "--delete", "--json")
    assert done.returncode == 0, done.stderr
    result = summary(done)
    assert (result["written"], result["deleted"]) == (5, 3)
    after = voxkv.emu.stats.requests
    assert after["SetKeyValueItem"] - before["SetKeyValueItem"] == 5
    assert after["DelKeyValueItem"] - before["DelKeyValueItem"] == 3
    assert voxkv.emu.items() == {**WANTED, "other:1": "untouched"}
    writes = voxkv.writes()
    again = voxkv("sync", "want.jsonl", "--prefix", "s:", "--delete", "--json")
    assert again.returncode == 0
    assert voxkv.writes() == writes  # idempotent: nothing differs, nothing is sent
    assert summary(again)["plan"]["unchanged"] == len(WANTED)


def test_without_delete_keys_not_in_the_file_are_kept(voxkv: Voxkv) -> None:
    store(voxkv, STORED)
    wanted_file(voxkv)
    done = voxkv.quick("sync", "want.jsonl", "--prefix", "s:")
    assert done.returncode == 0
    assert "3 not in the file (kept: no --delete)" in done.stderr
    assert voxkv.emu.items() == {**STORED, **WANTED}


def test_a_plan_deleting_more_than_the_limit_needs_yes(voxkv: Voxkv) -> None:
    store(voxkv, STORED)
    write_jsonl(voxkv.cwd / "one.jsonl", [{"key": "s:0", "value": "v0"}])
    writes = voxkv.writes()
    refused = voxkv("sync", "one.jsonl", "--prefix", "s:", "--delete", "--max-delete", "5",
                    "--json")
    assert refused.returncode == 2
    assert summary(refused)["status"] == "refused"
    assert "deletes 9 keys, more than --max-delete 5" in refused.stderr
    share = voxkv.quick("sync", "one.jsonl", "--prefix", "s:", "--delete", "--max-delete",
                        "50%")
    assert share.returncode == 2
    assert voxkv.writes() == writes
    assert voxkv.quick("sync", "one.jsonl", "--prefix", "s:", "--delete", "--max-delete",
                       "5", "--yes").returncode == 0
    assert voxkv.emu.items() == {"s:0": "v0"}


def test_rows_outside_the_prefix_are_rejected(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": "s:1", "value": "a"},
                                         {"key": "t:1", "value": "b"}])
    done = voxkv.quick("sync", "in.jsonl", "--prefix", "s:", "--rejects", "rej.jsonl",
                       "--json")
    assert done.returncode == 1
    assert "in.jsonl:2: key 't:1' does not start with the prefix 's:'" in done.stderr
    assert voxkv.emu.items() == {"s:1": "a"}
    assert summary(done)["rejects"] == "rej.jsonl"


def test_expiry_is_compared_when_the_file_gives_it(voxkv: Voxkv) -> None:
    at = int(time.time()) + 3600
    write_jsonl(voxkv.cwd / "v1.jsonl", [{"key": "x:1", "value": "a", "expires_at": at},
                                         {"key": "x:2", "value": "b", "ttl": 600}])
    assert voxkv.quick("sync", "v1.jsonl", "--prefix", "x:").returncode == 0
    same = voxkv.quick("sync", "v1.jsonl", "--prefix", "x:", "--json")
    assert summary(same)["written"] == 0  # a ttl is relative: not compared
    write_jsonl(voxkv.cwd / "v2.jsonl", [{"key": "x:1", "value": "a", "expires_at": at + 60},
                                         {"key": "x:2", "value": "b", "ttl": 900}])
    moved = voxkv("sync", "v2.jsonl", "--prefix", "x:", "--json")
    assert summary(moved)["plan"]["update"] == 1
    stored = {i.key: i.expires_at for i in voxkv.emu.dump()[voxkv.emu.application_id]}
    assert stored["x:1"] == at + 60


def test_duplicate_rows_the_last_wins_and_the_sync_is_still_idempotent(voxkv: Voxkv) -> None:
    store(voxkv, {"d:1": "old", "d:2": "keep"})
    write_jsonl(voxkv.cwd / "in.jsonl", [
        {"key": "d:1", "value": "old"}, {"key": "d:1", "value": "newest"},
        {"key": "d:2", "value": "first"}, {"key": "d:2", "value": "keep"},
        {"key": "d:3", "value": "a"}, {"key": "d:3", "value": "b"},
    ])
    done = voxkv("sync", "in.jsonl", "--prefix", "d:", "--json")
    plan = summary(done)["plan"]
    assert (plan["add"], plan["update"], plan["unchanged"], plan["duplicates"]) == (1, 1, 1, 3)
    assert voxkv.emu.items() == {"d:1": "newest", "d:2": "keep", "d:3": "b"}
    writes = voxkv.writes()
    assert summary(voxkv.quick("sync", "in.jsonl", "--prefix", "d:", "--json"))["written"] == 0
    assert voxkv.writes() == writes


def test_csv_sync(voxkv: Voxkv) -> None:
    (voxkv.cwd / "in.csv").write_text('key,value\nc:1,"multi\nline"\nc:2,b\n')
    assert voxkv("sync", "in.csv", "--prefix", "c:").returncode == 0
    assert voxkv.emu.items() == {"c:1": "multi\nline", "c:2": "b"}
    assert summary(voxkv.quick("sync", "in.csv", "--prefix", "c:", "--json"))["written"] == 0


def test_an_interrupted_sync_says_so_and_a_rerun_finishes(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": f"i:{i}", "value": "v"} for i in range(2000)])
    voxkv.emu.set_faults(latency=0.02)
    proc = voxkv.start("sync", "in.jsonl", "--prefix", "i:", "--concurrency", "8")
    wait_for(lambda: voxkv.sets() >= 100)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted while writing; run the same command again" in err
    voxkv.emu.set_faults(latency=0.001)
    done = voxkv.quick("sync", "in.jsonl", "--prefix", "i:", "--json")
    assert done.returncode == 0
    assert summary(done)["plan"]["unchanged"] >= 50  # what the first run had written
    assert len(voxkv.emu.items()) == 2000


def test_a_sync_of_many_keys_lists_concurrently_and_writes_nothing_when_equal(
        voxkv: Voxkv) -> None:
    many = {f"m:{i:05d}": f"v{i}" for i in range(3000)}
    store(voxkv, many)
    write_jsonl(voxkv.cwd / "same.jsonl", [{"key": k, "value": v} for k, v in many.items()])
    voxkv.emu.set_faults(latency=0.05)
    writes, pages = voxkv.writes(), voxkv.emu.stats.requests["GetKeyValueItems"]
    done = voxkv("sync", "same.jsonl", "--prefix", "m:", "--json")
    assert done.returncode == 0, done.stderr
    result = summary(done)
    assert voxkv.writes() == writes
    assert result["plan"]["unchanged"] == result["plan"]["stored"] == 3000
    assert result["listing"] == {"requests": voxkv.emu.stats.requests["GetKeyValueItems"]
                                 - pages, "shifts": 0, "gaps": 0}
    # 62 pages of 49 new keys and the empty one, and at most a window asked for ahead.
    assert result["listing"]["requests"] <= 62 + 1 + 32
