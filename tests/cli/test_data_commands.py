"""The voxkv data commands, in-process, against an emulator served from a thread."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxkv_async.cli import main
from voxkv_async.emulator import Emulator, EmulatorModes


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator on its own loop and thread (the CLI runs its own asyncio.run)."""
    ready = threading.Event()
    emulators: list[Emulator] = []
    stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        stops.append((asyncio.get_running_loop(), stop))
        async with Emulator(tls=True, state_dir=tmp_path / "state",
                            modes=EmulatorModes(unknown_application="error")) as emu:
            emulators.append(emu)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    emu = emulators[0]
    monkeypatch.setenv("VOXIMPLANT_CREDENTIALS", str(tmp_path / "state" / "credentials.json"))
    monkeypatch.setenv("VOXKV_APPLICATION_ID", str(emu.application_id))
    monkeypatch.setenv("VOXKV_BASE_URL", emu.base_url)
    monkeypatch.setenv("VOXKV_CA_FILE", str(emu.ca_file))
    yield emu
    loop, stop = stops[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_single_key_commands(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "ns:a", "1", "--ttl", "60"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == "1"
    assert main(["get", "ns:a"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == "ns:a"
    assert main(["keys", "ns"]) == 0
    assert [k["key"] for k in json.loads(capsys.readouterr().out)] == ["ns:a"]
    assert main(["items", "ns"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["value"] == "1"
    assert main(["del", "ns:a"]) == 0
    assert json.loads(capsys.readouterr().out) == {"key": "ns:a", "deleted": True}
    assert main(["get", "ns:a"]) == 1
    assert json.loads(capsys.readouterr().out) is None
    assert main(["get", "bad key"]) == 2
    assert "key:" in capsys.readouterr().err


def test_import_export_round_trip_with_rejects_rerun(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    rows = [json.dumps({"key": f"rt:{i}", "value": f"v{i}"}) for i in range(300)]
    rows[10] = "{not json"
    rows[20] = json.dumps({"key": "rt:20"})  # no value
    rows[30] = json.dumps({"key": "bad key", "value": "x"})  # fails validation
    source.write_text("\n".join(rows) + "\n")
    rejects = tmp_path / "rejects.jsonl"

    assert main(["import", str(source), "--rejects", str(rejects), "--no-progress",
                 "--concurrency", "16", "--rate", "5000", "--ttl", "3600"]) == 1
    err = capsys.readouterr().err
    assert f"{source}:11: not JSON" in err
    assert f"{source}:21:" in err
    assert f"{source}:31: key:" in err
    assert len(emulator.items()) == 297
    assert sorted(str(r.get("key")) for r in lines(rejects)) == ["None", "bad key", "rt:20"]
    assert all("_error" in r and "_line" in r for r in lines(rejects))

    # A run that cannot proceed (wrong application) stops at its first error instead of
    # failing every row; once the cause is fixed, the same command writes every row.
    second = tmp_path / "second.jsonl"
    second.write_text("".join(json.dumps({"key": f"rt:x{i}", "value": "y"}) + "\n"
                              for i in range(40)))
    rejects2 = tmp_path / "rejects2.jsonl"
    assert main(["import", str(second), "--rejects", str(rejects2), "--no-progress",
                 "--application-id", "999"]) == 3
    assert len(lines(rejects2)) == 1  # the first answer stopped it
    assert all("ApplicationNotFoundError" in str(r["_error"]) for r in lines(rejects2))
    assert not any(k.startswith("rt:x") for k in emulator.items())
    assert main(["import", str(second), "--no-progress"]) == 0

    out = tmp_path / "out.jsonl"
    assert main(["export", "--prefix", "rt:", "-o", str(out)]) == 0
    exported = {str(r["key"]): r["value"] for r in lines(out)}
    assert exported == emulator.items()
    assert len(exported) == 337
    # An export imports back as is (expires_at included).
    assert main(["import", str(out), "--no-progress"]) == 0


def test_csv_import_with_rejects_in_csv(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("key,value\ncsv:1,a\ncsv 2,b\ncsv:3,c\n")
    rejects = tmp_path / "rejects.csv"
    assert main(["import", str(source), "--rejects", str(rejects), "--no-progress"]) == 1
    with rejects.open(newline="") as f:
        rejected = list(csv.DictReader(f))
    assert [r["key"] for r in rejected] == ["csv 2"]
    assert rejected[0]["_error"].startswith("key:")
    assert emulator.items() == {"csv:1": "a", "csv:3": "c"}
    assert f"{source}:3:" in capsys.readouterr().err

    headless = tmp_path / "nohead.csv"
    headless.write_text("a,b\n")
    assert main(["import", str(headless), "--no-progress"]) == 2
