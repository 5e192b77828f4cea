"""The README's examples run as a reader would run them, and print what it says.

The Python scripts and the file jobs run against ``voxkv emulator --tls`` with the
variables it prints exported, as the README's Quick start says; the pytest example runs
as a user's test suite. The helpers are those of the docs' examples
(``tests/docs/_docs_support.py``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._docs_support import (
    README,
    TIMING,
    block,
    blocks,
    emulator_process,
    output_after,
    run,
    shell_env,
)


@pytest.fixture
def readme_emulator(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``voxkv emulator --tls --state-dir emu --application-id 123``, as the README starts
    it (its scripts use application 123), and the variables it prints."""
    command = next(line for b in blocks(README) if b["lang"] == "bash"
                   for line in b["code"].splitlines() if line.startswith("voxkv emulator"))
    assert "--application-id 123" in command
    with emulator_process(tmp_path, "--application-id", "123") as env:
        yield env


def python_blocks() -> list[str]:
    return [b["code"] for b in blocks(README) if b["lang"] == "python"]


def test_the_first_block_is_the_two_commands() -> None:
    first = blocks(README)[0]
    assert first["lang"] == "bash"
    assert [line.split(" && ")[-1] for line in first["code"].splitlines()] == [
        ".venv/bin/voxkv demo", ".venv/bin/python -m pytest -q"]


def test_the_readme_stays_a_landing_page() -> None:
    assert len(README.read_text(encoding="utf-8")) < 12_000


def test_every_python_block_is_run_here() -> None:
    scripts = [code for code in python_blocks() if "asyncio.run(main())" in code]
    tests = [code for code in python_blocks() if code.lstrip().startswith("async def test_")]
    assert len(scripts) == 2  # the Quick start and web_service.py
    assert len(tests) == 1
    assert len(python_blocks()) == len(scripts) + len(tests)


def test_quick_start(readme_emulator: dict[str, str], tmp_path: Path) -> None:
    [code] = [c for c in python_blocks() if "kv.set_many(" in c]
    script = tmp_path / "quick_start.py"
    script.write_text(code, encoding="utf-8")
    done = run([sys.executable, "-W", "error::ResourceWarning", str(script)], readme_emulator,
               tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Every key under "ns:" was deleted before the walk: the summary is all it prints.
    shown = re.search(r"# (set_many: .*) in \.\.\.", code)
    assert shown is not None
    assert TIMING.sub("", done.stdout) == f"{shown[1]}, 0 retried attempts\n"


def test_web_service(readme_emulator: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "web_service.py"
    script.write_text(block(README, "web_service.py"), encoding="utf-8")
    done = run([sys.executable, "-W", "error::ResourceWarning", str(script)], readme_emulator,
               tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == output_after(README, "web_service.py")


def test_file_jobs(emulator_env: dict[str, str], tmp_path: Path) -> None:
    [commands] = [b["code"] for b in blocks(README)
                  if b["lang"] == "bash" and "voxkv sync" in b["code"]]
    voxkv = [sys.executable, "-m", "voxkv_async"]
    for key, value in {"user:1": "Ada", "user:2": "Grace", "other:1": "x"}.items():
        assert run([*voxkv, "set", key, value], emulator_env, tmp_path).returncode == 0
    done = run(["bash", "-e", "-c", commands], emulator_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = (tmp_path / "users.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["value"] for line in exported] == ["Ada", "Grace"]
    assert "voxkv import: 2 written, 0 failed, 0 rejected" in done.stderr
    assert not (tmp_path / "users.ckpt").exists()  # every row written: removed
    assert "2 unchanged" in done.stderr
    assert "nothing sent" in done.stderr


def test_pytest_fixtures_example(tmp_path: Path) -> None:
    [code] = [c for c in python_blocks() if c.lstrip().startswith("async def test_")]
    (tmp_path / "test_example.py").write_text(code, encoding="utf-8")
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-o", "asyncio_mode=auto", "-W", "error::ResourceWarning", "."],
               shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
