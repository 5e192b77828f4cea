"""The file jobs over real processes: ``python -m voxkv_async ...`` against an emulator.

The emulator runs in this process, on its own loop and thread, so a test can read its
storage (``emu.items()``) and request counters (``emu.stats``) while the command runs.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from voxkv_async.cli import main
from voxkv_async.emulator import Emulator


class Voxkv:
    """Runs ``voxkv`` subcommands in subprocesses connected to the emulator."""

    def __init__(self, emu: Emulator, state: Path, cwd: Path) -> None:
        self.emu = emu
        self.cwd = cwd
        self.env = {
            **os.environ,
            "VOXIMPLANT_CREDENTIALS": str(state / "credentials.json"),
            "VOXKV_APPLICATION_ID": str(emu.application_id),
            "VOXKV_BASE_URL": emu.base_url,
            "VOXKV_CA_FILE": str(emu.ca_file),
            "PYTHONUNBUFFERED": "1",
        }

    def __call__(self, *args: str, stdin: bytes | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "voxkv_async", *args], input=stdin,
            capture_output=True, env=self.env, cwd=self.cwd, timeout=timeout, check=False)
        return subprocess.CompletedProcess(done.args, done.returncode,
                                           done.stdout.decode("utf-8", "replace"),
                                           done.stderr.decode("utf-8", "replace"))

    def quick(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
        """The same command in this process: for the steps a test only sets up or checks
        with (a real process costs ~0.4 s of interpreter start-up)."""
        out, err = io.BytesIO(), io.BytesIO()
        streams = (io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
                   io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                   io.TextIOWrapper(err, encoding="utf-8", write_through=True))
        saved = (sys.stdin, sys.stdout, sys.stderr, dict(os.environ), os.getcwd())
        sys.stdin, sys.stdout, sys.stderr = streams
        os.environ.update(self.env)
        os.chdir(self.cwd)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved[:3]
            os.environ.clear()
            os.environ.update(saved[3])
            os.chdir(saved[4])
        return subprocess.CompletedProcess(list(args), code, out.getvalue().decode(),
                                           err.getvalue().decode())

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "voxkv_async", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=self.cwd)

    def sets(self) -> int:
        return self.emu.stats.requests["SetKeyValueItem"]

    def writes(self) -> int:
        return self.sets() + self.emu.stats.requests["DelKeyValueItem"]


def summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``--json`` summary: exactly one JSON object on stdout."""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """An emulator on its own loop and thread, with 1 ms of latency per answer."""
    ready = threading.Event()
    box: list[Any] = []

    async def serve() -> None:
        stop = asyncio.Event()
        async with Emulator(tls=True, state_dir=tmp_path / "state") as emulator:
            emulator.set_faults(latency=0.001)
            box.extend([emulator, asyncio.get_running_loop(), stop])
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    emulator, loop, stop = box
    yield emulator
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


@pytest.fixture
def voxkv(emu: Emulator, tmp_path: Path) -> Voxkv:
    work = tmp_path / "work"
    work.mkdir()
    return Voxkv(emu, tmp_path / "state", work)
