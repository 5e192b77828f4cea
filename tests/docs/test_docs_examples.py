"""The documentation's examples run, and print what the pages say they print.

Code blocks are found by their title (```` ```python title="first_calls.py" ````) in the
Markdown under ``docs/``; scripts run in a subprocess, as a reader would run them,
against ``voxkv emulator`` started as the tutorial starts it, or in-process (the helpers
are in ``tests/docs/_docs_support.py``, shared with ``tests/docs/test_readme.py``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from voxkv_async.emulator import Emulator

from ._docs_support import TIMING, block, blocks, load_module, output_after, run, shell_env

# emulator_env, the fixture of `voxkv emulator` in a subprocess, is in _docs_support
# (through conftest.py).

# --- the tutorial -------------------------------------------------------------------------


def test_tutorial_first_calls(emulator_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "first_calls.py"
    script.write_text(block("tutorial.md", "first_calls.py"), encoding="utf-8")
    done = run([sys.executable, str(script)], emulator_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = output_after("tutorial.md", "first_calls.py").splitlines()
    got = done.stdout.splitlines()
    assert len(got) == len(shown)
    # Timestamps differ from run to run; everything else is as the page shows it.
    no_times = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00|expires_at=\d+")
    assert [no_times.sub("T", line) for line in got] == [no_times.sub("T", s) for s in shown]


def test_tutorial_command_line(emulator_env: dict[str, str], tmp_path: Path) -> None:
    voxkv = [sys.executable, "-m", "voxkv_async"]
    assert run([*voxkv, "set", "greeting:es", "hola", "--ttl", "600"],
               emulator_env, tmp_path).returncode == 0
    got = run([*voxkv, "get", "greeting:es"], emulator_env, tmp_path)
    assert got.returncode == 0
    assert '"value": "hola"' in got.stdout
    assert '"greeting:es"' in run([*voxkv, "keys", "greeting:"], emulator_env, tmp_path).stdout
    missing = run([*voxkv, "get", "greeting:de"], emulator_env, tmp_path)
    assert (missing.returncode, missing.stdout.strip()) == (1, "null")


def test_tutorial_in_process(tmp_path: Path) -> None:
    script = tmp_path / "in_process.py"
    script.write_text(block("tutorial.md", "in_process.py"), encoding="utf-8")
    done = run([sys.executable, str(script)], shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Seeded faults and a fake clock: the output is the same on every run.
    assert done.stdout == output_after("tutorial.md", "in_process.py")


# --- how-to guides --------------------------------------------------------------------------


async def test_web_service(
    voxkv_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = voxkv_emulator.write_state(tmp_path / "emu")
    monkeypatch.setenv("VOXIMPLANT_CREDENTIALS", str(state["credentials"]))
    monkeypatch.setenv("VOXKV_APPLICATION_ID", str(voxkv_emulator.application_id))
    monkeypatch.setenv("VOXKV_CA_FILE", str(state["ca"]))
    monkeypatch.setenv("VOXKV_BASE_URL", voxkv_emulator.base_url)
    profiles = load_module(block("how-to/web-service.md", "profiles.py"),
                           tmp_path / "profiles.py")
    async with TestClient(TestServer(profiles.make_app())) as client:
        put = await client.put("/profiles/ada", data="Ada Lovelace")
        assert put.status == 201
        got = await client.get("/profiles/ada")
        assert await got.json() == {"user": "ada", "profile": "Ada Lovelace"}
        assert (await client.get("/profiles/bob")).status == 404
        assert (await client.put("/profiles/bad%20key", data="x")).status == 400
    assert voxkv_emulator.items() == {"profile:ada": "Ada Lovelace"}
    assert voxkv_emulator.stats.distinct_tokens == 1


def test_bulk_import_script(emulator_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "import_users.py"
    script.write_text(block("how-to/bulk-import.md", "import_users.py"), encoding="utf-8")
    done = run([sys.executable, str(script)], emulator_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = output_after("how-to/bulk-import.md", "import_users.py")
    assert TIMING.sub("", done.stdout) == TIMING.sub("", shown)


@pytest.mark.parametrize("title", ["outage.py", "wrong_application.py", "verify.py"])
def test_bulk_import_under_pressure(tmp_path: Path, title: str) -> None:
    # In-process emulators; seeded faults where there are any: the same output every run.
    script = tmp_path / title
    script.write_text(block("how-to/bulk-import.md", title), encoding="utf-8")
    done = run([sys.executable, "-W", "error::ResourceWarning", str(script)],
               shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == output_after("how-to/bulk-import.md", title)


def test_bulk_import_last_row_wins(tmp_path: Path) -> None:
    script = tmp_path / "last_wins.py"
    script.write_text(block("how-to/bulk-import.md", "last_wins.py"), encoding="utf-8")
    done = run([sys.executable, "-W", "error::ResourceWarning", str(script)],
               shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "premium\n"


def test_bulk_import_command(emulator_env: dict[str, str], tmp_path: Path) -> None:
    commands = next(b["code"] for b in blocks("how-to/bulk-import.md")
                    if b["lang"] == "bash" and "voxkv import users.jsonl" in b["code"])
    done = run(["bash", "-c", commands], emulator_env, tmp_path)
    shown = next(b["code"] for b in blocks("how-to/bulk-import.md")
                 if b["lang"] == "text" and "exit code" in b["code"])
    # stdout and stderr interleave as they please: compare the lines, not their order.
    got = sorted(TIMING.sub("", done.stdout + done.stderr).splitlines())
    assert got == sorted(TIMING.sub("", shown).splitlines())
    rejects = (tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 2
    assert all('"_line":' in line and '"_error":' in line for line in rejects)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_testing_examples_as_a_users_suite(tmp_path: Path, mode: str) -> None:
    page = "how-to/testing.md"
    suites = {
        "plain": ["test_profiles.py"],
        "options": ["conftest.py", "test_sessions.py"],
        "modes": ["test_missing.py"],
        "mock": ["test_display_name.py"],
    }
    for suite, files in suites.items():
        for name in files:
            (tmp_path / suite).mkdir(exist_ok=True)
            (tmp_path / suite / name).write_text(block(page, name), encoding="utf-8")
    for suite, expected in {"plain": "3 passed", "options": "1 passed",
                            "modes": "3 passed", "mock": "3 passed"}.items():
        done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-o", f"asyncio_mode={mode}", "-W", "error::ResourceWarning", "."],
                   shell_env({}), tmp_path / suite)
        assert done.returncode == 0, done.stdout + done.stderr
        assert expected in done.stdout, done.stdout
