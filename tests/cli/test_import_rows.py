"""voxkv import: bad rows never stop the run and never vanish (issue 12, problems 1, 2, 4-6)."""

from __future__ import annotations

import base64
import csv
import json
import time
from pathlib import Path

from .conftest import Voxkv, read_jsonl, summary, write_jsonl


def rows(n: int, prefix: str = "r:") -> list[dict[str, object]]:
    return [{"key": f"{prefix}{i}", "value": f"v{i}"} for i in range(n)]


# --- problem 1: the rejects file is never the input ----------------------------------------


def test_rejects_file_that_is_the_input_is_refused(voxkv: Voxkv) -> None:
    source = write_jsonl(voxkv.cwd / "rejects.jsonl", [*rows(5), "{bad"])
    before = source.read_bytes()
    done = voxkv("import", "rejects.jsonl", "--rejects", "rejects.jsonl")
    assert done.returncode == 2, done.stderr
    assert "--rejects rejects.jsonl is the input file" in done.stderr
    for same in ("./rejects.jsonl", str(source)):
        assert voxkv.quick("import", "rejects.jsonl", "--rejects", same).returncode == 2
    (voxkv.cwd / "link.jsonl").hardlink_to(source)
    assert voxkv.quick("import", "rejects.jsonl", "--rejects", "link.jsonl").returncode == 2
    assert source.read_bytes() == before
    assert voxkv.sets() == 0


def test_rejects_file_is_created_only_at_the_first_reject(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "good.jsonl", rows(5))
    rejects = voxkv.cwd / "rejects.jsonl"
    rejects.write_text("kept\n")
    assert voxkv("import", "good.jsonl", "--rejects", "rejects.jsonl").returncode == 0
    assert rejects.read_text() == "kept\n"
    (voxkv.cwd / "none.jsonl").unlink(missing_ok=True)
    assert voxkv.quick("import", "good.jsonl", "--rejects", "none.jsonl").returncode == 0
    assert not (voxkv.cwd / "none.jsonl").exists()


# --- problem 2: one undecodable byte rejects one line ----------------------------------------


def test_an_undecodable_line_is_rejected_and_the_rest_goes_on(voxkv: Voxkv) -> None:
    lines = [json.dumps(r).encode() for r in rows(3000)]
    lines[1500] = b'{"key": "r:1500", "value": "caf\xff"}'
    (voxkv.cwd / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    done = voxkv("import", "in.jsonl", "--rejects", "rej.jsonl", "--json")
    assert done.returncode == 1, done.stderr
    assert "in.jsonl:1501: not UTF-8: byte 0xff at column 32" in done.stderr
    result = summary(done)
    assert (result["written"], result["rejected"], result["not_done"]) == (2999, 1, 0)
    assert len(voxkv.emu.items()) == 2999
    [reject] = read_jsonl(voxkv.cwd / "rej.jsonl")
    assert reject["_line"] == 1501
    assert base64.b64decode(reject["_raw_base64"]) == lines[1500]
    # Re-imported, it fails again the same way, under its original line.
    again = voxkv.quick("import", "rej.jsonl", "--rejects", "rej2.jsonl")
    assert again.returncode == 1
    assert read_jsonl(voxkv.cwd / "rej2.jsonl") == [reject]


# --- problem 4: strict CSV ---------------------------------------------------------------------


def test_csv_unterminated_quote_and_wrong_columns_reject_only_their_row(voxkv: Voxkv) -> None:
    (voxkv.cwd / "in.csv").write_bytes(
        b"key,value\n"
        b"c:1,one\n"
        b'c:2,"two\nlines"\n'          # a quoted value spanning lines: fine
        b'c:3,"never closed\n'          # unterminated: only this line
        b"c:4,four\n"
        b"c:5,five,extra\n"             # an extra column
        b"c:6\n"                        # a missing one
        b'c:7,"a ""quoted"" word"\n'
        b"c:8,eight\n")
    done = voxkv("import", "in.csv", "--rejects", "rej.csv", "--json")
    assert done.returncode == 1, done.stderr
    assert voxkv.emu.items() == {"c:1": "one", "c:2": "two\nlines", "c:4": "four",
                                 "c:7": 'a "quoted" word', "c:8": "eight"}
    with (voxkv.cwd / "rej.csv").open(newline="") as f:
        rejected = list(csv.DictReader(f))
    assert [r["_line"] for r in rejected] == ["5", "7", "8"]
    assert "unterminated quote" in rejected[0]["_error"]
    assert rejected[0]["_raw"] == 'c:3,"never closed'
    assert rejected[1]["_error"] == "3 columns where the header has 2"
    assert summary(done)["rejected"] == 3


def test_csv_unterminated_quote_at_the_end_swallows_nothing(voxkv: Voxkv) -> None:
    body = "".join(f"q:{i},v{i}\n" for i in range(200))
    (voxkv.cwd / "in.csv").write_text('key,value\nq:x,"open\n' + body)
    assert voxkv.quick("import", "in.csv").returncode == 1
    assert len(voxkv.emu.items()) == 200


def test_csv_header_without_key_and_value_is_a_usage_error(voxkv: Voxkv) -> None:
    (voxkv.cwd / "in.csv").write_text("a,b\n1,2\n")
    done = voxkv.quick("import", "in.csv")
    assert done.returncode == 2
    assert 'needs "key" and "value"' in done.stderr


# --- problem 5: rows carry their own expiry; duplicates -----------------------------------


def test_row_ttl_and_expires_at_are_used_and_checked(voxkv: Voxkv) -> None:
    now = int(time.time())
    write_jsonl(voxkv.cwd / "in.jsonl", [
        {"key": "e:ttl", "value": "a", "ttl": 120},
        {"key": "e:at", "value": "b", "expires_at": now + 3600},
        {"key": "e:default", "value": "c"},
        {"key": "e:past", "value": "d", "expires_at": now - 10},
        {"key": "e:far", "value": "e", "expires_at": now + 91 * 86400},
        {"key": "e:both", "value": "f", "ttl": 5, "expires_at": now + 5},
        {"key": "e:zero", "value": "g", "ttl": 0},
    ])
    done = voxkv("import", "in.jsonl", "--ttl", "600", "--json")
    assert done.returncode == 1
    stored = {i.key: i.expires_at for i in voxkv.emu.dump()[voxkv.emu.application_id]}
    assert set(stored) == {"e:ttl", "e:at", "e:default"}
    assert abs(stored["e:ttl"] - (now + 120)) <= 5
    assert stored["e:at"] == now + 3600
    assert abs(stored["e:default"] - (now + 600)) <= 5
    assert "in.jsonl:4: expires_at" in done.stderr
    assert "in the past" in done.stderr
    assert "in.jsonl:5: expires_at" in done.stderr
    assert "more than 90 days ahead" in done.stderr
    assert "in.jsonl:6:" in done.stderr
    assert "in.jsonl:7: ttl must be 1..7776000" in done.stderr
    assert summary(done)["rejected"] == 4


def test_duplicate_keys_last_row_wins_and_are_counted(voxkv: Voxkv) -> None:
    data = [{"key": f"d:{i % 50}", "value": f"v{i}"} for i in range(1000)]
    write_jsonl(voxkv.cwd / "in.jsonl", data)
    done = voxkv("import", "in.jsonl", "--concurrency", "32", "--json")
    assert done.returncode == 0, done.stderr
    assert summary(done)["duplicates"] == 950
    assert voxkv.emu.items() == {f"d:{i}": f"v{950 + i}" for i in range(50)}
    assert "950 duplicate keys (the last row wins)" in done.stderr


# --- problem 6: rejects keep their line numbers and reasons ---------------------------


def test_rejects_keep_original_lines_and_reasons_across_reimports(voxkv: Voxkv) -> None:
    data: list[object] = list(rows(40))
    data[10] = "{not json"
    data[20] = {"key": "r:20"}
    data[30] = {"key": "bad key", "value": "x", "extra": 1}
    write_jsonl(voxkv.cwd / "in.jsonl", data)
    assert voxkv.quick("import", "in.jsonl", "--rejects", "rej1.jsonl").returncode == 1
    first = read_jsonl(voxkv.cwd / "rej1.jsonl")
    assert [r["_line"] for r in first] == [11, 21, 31]
    assert first[0]["_raw"] == "{not json"
    assert first[0]["_error"].startswith("not JSON")
    assert first[2]["extra"] == 1  # the row's own fields are kept
    # Re-importing the rejects reports each with its original line and the same reason.
    done = voxkv("import", "rej1.jsonl", "--rejects", "rej2.jsonl")
    assert done.returncode == 1
    assert "rej1.jsonl:1 (line 11 of the original input): not JSON" in done.stderr
    assert read_jsonl(voxkv.cwd / "rej2.jsonl") == first
    # Fixed in place, they go through; what is still wrong keeps its line, new reason.
    fixed = [dict(first[0], _raw='{"key": "r:10", "value": "v10"}'),
             dict(first[1], value="v20"),
             dict(first[2], key="r:30", value="y" * 2001)]
    write_jsonl(voxkv.cwd / "rej2.jsonl", fixed)
    assert voxkv.quick("import", "rej2.jsonl", "--rejects", "rej3.jsonl").returncode == 1
    [last] = read_jsonl(voxkv.cwd / "rej3.jsonl")
    assert last["_line"] == 31
    assert "at most 2000 characters" in last["_error"]
    assert voxkv.emu.items()["r:10"] == "v10"
    assert voxkv.emu.items()["r:20"] == "v20"


def test_csv_rejects_reimport_the_same_way(voxkv: Voxkv) -> None:
    (voxkv.cwd / "in.csv").write_text('key,value,note\nk:1,a,x\nbad key,b,y\nk:3,"c\n')
    assert voxkv.quick("import", "in.csv", "--rejects", "rej.csv").returncode == 1
    first = (voxkv.cwd / "rej.csv").read_text()
    assert first.splitlines()[0] == "key,value,note,_line,_error,_raw,_raw_base64"
    assert voxkv("import", "rej.csv", "--rejects", "rej2.csv").returncode == 1
    assert (voxkv.cwd / "rej2.csv").read_text() == first


def test_values_never_reach_the_terminal(voxkv: Voxkv) -> None:
    secret = "S3cret-" + "x" * 2100
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": "s:1", "value": secret},
                                         {"key": "bad key", "value": secret[:100]}])
    done = voxkv("import", "in.jsonl", "--rejects", "rej.jsonl", "--json")
    assert done.returncode == 1
    assert "S3cret" not in done.stderr
    assert "S3cret" not in done.stdout
    assert "S3cret" in (voxkv.cwd / "rej.jsonl").read_text()  # the rejects file keeps it


def test_reject_messages_name_the_line_the_limit_and_what_was_given(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": "k" * 201, "value": "v"},
                                         {"key": "n:1", "value": 5},
                                         {"key": "n:2", "value": "v", "ttl": "soon"}])
    done = voxkv.quick("import", "in.jsonl")
    assert "in.jsonl:1: key: must be 1..200 characters" in done.stderr
    assert "(201 characters)" in done.stderr
    assert 'in.jsonl:2: "value" must be a string, got int' in done.stderr
    assert "in.jsonl:3: \"ttl\" must be whole seconds, got 'soon'" in done.stderr


def test_an_overlong_line_is_rejected_without_holding_it(voxkv: Voxkv) -> None:
    big = json.dumps({"key": "o:big", "value": "x" * (1 << 21)})
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": "o:1", "value": "a"}, big,
                                         {"key": "o:3", "value": "c"}])
    done = voxkv.quick("import", "in.jsonl")
    assert done.returncode == 1
    assert "in.jsonl:2: line longer than 1048576 bytes" in done.stderr
    assert set(voxkv.emu.items()) == {"o:1", "o:3"}


def test_path_of_rejects_is_reported(voxkv: Voxkv, tmp_path: Path) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", ["[]"])
    done = voxkv.quick("import", "in.jsonl", "--rejects", "out.jsonl", "--json")
    assert summary(done)["rejects"] == "out.jsonl"
    assert "not a JSON object (a JSON list)" in done.stderr
