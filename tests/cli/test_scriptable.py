"""Exit codes, --json, '-' for stdin/stdout, progress on stderr (issue 12, problems 7-8)."""

from __future__ import annotations

import json
import re

from .conftest import Voxkv, read_jsonl, summary, write_jsonl


def test_exit_codes_tell_usage_from_partial_from_aborted(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "ok.jsonl", [{"key": "x:1", "value": "a"}])
    write_jsonl(voxkv.cwd / "bad.jsonl", [{"key": "x:2", "value": "b"}, "{"])
    assert voxkv("import", "ok.jsonl").returncode == 0
    assert voxkv("import", "bad.jsonl").returncode == 1
    # Usage: a bad flag, a missing file, a bad --ttl.
    assert voxkv("import", "ok.jsonl", "--no-such-flag").returncode == 2
    missing = voxkv.quick("import", "nope.jsonl", "--json")
    assert missing.returncode == 2
    assert "cannot read the input nope.jsonl" in missing.stderr
    assert summary(missing)["status"] == "error"
    assert voxkv.quick("import", "ok.jsonl", "--ttl", "0").returncode == 2
    assert voxkv.quick("export", "--prefix", "bad prefix").returncode == 2
    assert voxkv.quick("export", "--prefix", "x:", "--json").returncode == 2  # stdout: data


def test_exit_3_when_the_job_cannot_proceed(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": f"a:{i}", "value": "v"} for i in range(100)])
    done = voxkv("import", "in.jsonl", "--application-id", "999", "--json")
    assert done.returncode == 3, done.stderr
    result = summary(done)
    assert result["status"] == "aborted"
    assert result["error"].startswith("ApplicationNotFoundError")
    assert result["written"] == 0
    assert "could not proceed: ApplicationNotFoundError" in done.stderr
    exported = voxkv.quick("export", "--prefix", "a:", "--application-id", "999", "-o",
                           "a.jsonl", "--json")
    assert exported.returncode == 3
    assert summary(exported)["status"] == "error"
    synced = voxkv.quick("sync", "in.jsonl", "--prefix", "a:", "--application-id", "999")
    assert synced.returncode == 3
    # Server unreachable past the give-up time.
    voxkv.env["VOXKV_BASE_URL"] = "https://127.0.0.1:9/platform_api"
    down = voxkv.quick("import", "in.jsonl", "--give-up-after", "1", "--json")
    assert down.returncode == 3
    assert summary(down)["error"].startswith("ConnectError")


def test_json_summary_is_one_object_on_stdout(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": f"j:{i}", "value": "v"} for i in range(10)])
    result = summary(voxkv("import", "in.jsonl", "--json"))
    assert result["command"] == "import"
    assert result["status"] == "ok"
    assert (result["exit_code"], result["rows"], result["written"]) == (0, 10, 10)
    for key in ("failed", "rejected", "skipped", "duplicates", "not_done", "elapsed"):
        assert key in result


def test_dash_is_stdin_and_stdout(voxkv: Voxkv) -> None:
    rows = b"".join(json.dumps({"key": f"s:{i}", "value": f"v{i}"}).encode() + b"\n"
                    for i in range(20))
    done = voxkv("import", "-", "--json", stdin=rows)
    assert done.returncode == 0, done.stderr
    assert summary(done)["written"] == 20
    csv_done = voxkv.quick("import", "-", "--format", "csv", stdin=b"key,value\ns:x,1\n")
    assert csv_done.returncode == 0
    exported = voxkv("export", "--prefix", "s:", "-o", "-")
    assert exported.returncode == 0
    assert len(exported.stdout.splitlines()) == 21
    assert not (voxkv.cwd / "-").exists()
    # sync from stdin: the same rows again change nothing.
    synced = voxkv.quick("sync", "-", "--prefix", "s:", "--json", stdin=rows)
    assert synced.returncode == 0, synced.stderr
    assert summary(synced)["written"] == 0


def test_progress_bar_has_a_total_and_errors_print_above_it(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl",
                [{"key": f"p:{i}", "value": "v"} for i in range(500)] + ["{bad"])
    done = voxkv("import", "in.jsonl", "--progress")
    assert "501/501" in done.stderr  # the total is known: counted lines
    # tqdm.write: the bar is cleared, the message takes its own line, the bar comes back.
    assert re.search(r"\r *\rin.jsonl:501: not JSON[^\r\n]*\n\r", done.stderr)
    quiet = voxkv.quick("import", "in.jsonl")  # stderr is not a terminal: no bar
    assert "501/501" not in quiet.stderr
    assert quiet.stderr.splitlines()[-1].startswith("voxkv import: 500 written")


def test_help_documents_the_exit_codes(voxkv: Voxkv) -> None:
    for command in ("import", "export", "sync"):
        text = voxkv.quick(command, "--help").stdout
        assert "exit codes:" in text
        assert "the job could not proceed" in text


def test_export_to_stdout_round_trips_through_import_from_stdin(voxkv: Voxkv) -> None:
    write_jsonl(voxkv.cwd / "in.jsonl", [{"key": f"rt:{i}", "value": f"ж{i}"} for i in range(30)])
    assert voxkv.quick("import", "in.jsonl").returncode == 0
    exported = voxkv("export", "--prefix", "rt:")
    voxkv.emu.add_application(7)
    again = voxkv("import", "-", "--application-id", "7", stdin=exported.stdout.encode())
    assert again.returncode == 0, again.stderr
    assert voxkv.emu.items(7) == voxkv.emu.items()
    assert len(read_jsonl(voxkv.cwd / "in.jsonl")) == 30
