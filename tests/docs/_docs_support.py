"""Helpers of the tests that run the documentation's and the README's examples.

Code blocks are found by their title (```` ```python title="first_calls.py" ````), or by
their language and content, in a Markdown page (a path under ``docs/``, or an absolute
path such as :data:`README`); their output is the ```` ```text ```` block that follows.
Scripts run in a subprocess, as a reader would run them, against ``voxkv emulator``
started as the tutorial starts it (:func:`emulator_env`), or in-process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(r'^```(?P<lang>\w+)(?: title="(?P<title>[^"]+)")?\n(?P<code>.*?)^```$',
                   re.MULTILINE | re.DOTALL)


def blocks(page: str | Path) -> list[re.Match[str]]:
    """Every fenced code block of ``page`` (under ``docs/``, or an absolute path)."""
    return list(BLOCK.finditer((DOCS / page).read_text(encoding="utf-8")))


def block(page: str | Path, title: str) -> str:
    """The code block titled ``title`` on ``page``."""
    found = [b["code"] for b in blocks(page) if b["title"] == title]
    assert len(found) == 1, f"{page}: {len(found)} blocks titled {title!r}"
    return found[0]


def output_after(page: str | Path, title: str) -> str:
    """The ```` ```text ```` block that follows the block titled ``title``: its output."""
    found = blocks(page)
    index = next(i for i, b in enumerate(found) if b["title"] == title)
    following = [b for b in found[index + 1 :] if b["lang"] == "text"]
    assert following, f"{page}: no output block after {title!r}"
    return following[0]["code"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def shell_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a reader's shell: this venv's ``voxkv`` and ``python`` first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXKV_")}
    env.pop("VOXIMPLANT_CREDENTIALS", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@contextlib.contextmanager
def emulator_process(folder: Path, *flags: str) -> Iterator[dict[str, str]]:
    """``voxkv emulator --tls --state-dir emu FLAGS...`` on a free port, and the variables
    it prints, as a reader exports them; stopped with SIGINT as a reader stops it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voxkv_async", "emulator", "--port", "0", "--tls",
         "--state-dir", str(folder / "emu"), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=folder,
    )
    try:
        printed: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            name, _, value = line.strip().partition("=")
            printed[name] = value
            if name == "VOXKV_STATE_DIR":
                break
        assert {"VOXKV_BASE_URL", "VOXKV_APPLICATION_ID", "VOXIMPLANT_CREDENTIALS",
                "VOXKV_CA_FILE"} <= set(printed), printed
        yield shell_env(printed)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def emulator_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``voxkv emulator --tls --state-dir emu`` as in the tutorial (on a free port), and
    the variables it prints, as a reader exports them."""
    with emulator_process(tmp_path) as env:
        yield env


def load_module(code: str, path: Path) -> ModuleType:
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The elapsed time and rate in a summary line: "in 0.70 s (7150 items/s)".
TIMING = re.compile(r" in [\d.]+ s \(\d+ (?:items|rows)/s\)")
