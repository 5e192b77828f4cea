"""The emulator in a separate process, and its control endpoints (stats, reset, latency)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

_APP_ID = re.compile(r"application[_ ]?id\D{0,8}(\d+)", re.I)
_BASE = re.compile(r"VOXKV_BASE_URL=(\S+)")


def cli_available() -> bool:
    return importlib.util.find_spec("voxkv_async.cli") is not None


class EmulatorProcess:
    """``voxkv emulator --port 0 --tls --state-dir DIR --latency {MS}ms`` in a child process.

    Falls back to ``python -m benchmarks._serve`` when the CLI is not installed.
    """

    def __init__(self, latency_ms: float = 0.0, *, use_cli: bool | None = None,
                 applications: tuple[int, ...] = ()) -> None:
        self.latency_ms = latency_ms
        #: Applications besides the default one: the emulator answers others with 558.
        self.applications = applications
        self.use_cli = cli_available() if use_cli is None else use_cli
        self.state_dir = Path(tempfile.mkdtemp(prefix="voxkv-bench-"))
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.app_id = 1
        self.output: list[str] = []
        self._ctx: ssl.SSLContext | None = None

    @property
    def creds(self) -> str:
        return str(self.state_dir / "credentials.json")

    @property
    def ca(self) -> str:
        return str(self.state_dir / "ca.pem")

    @property
    def root(self) -> str:
        return self.base_url.rsplit("/platform_api", 1)[0]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        apps = [arg for app in self.applications for arg in ("--add-application", str(app))]
        if self.use_cli:
            return [sys.executable, "-m", "voxkv_async.cli", "emulator", "--port", "0",
                    "--tls", "--state-dir", str(self.state_dir),
                    "--latency", f"{self.latency_ms:g}ms", *apps]
        return [sys.executable, "-m", "benchmarks._serve", "--state-dir", str(self.state_dir),
                "--latency", f"{self.latency_ms:g}", *apps]

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def pump() -> None:
            stdout = self.proc.stdout if self.proc is not None else None
            if stdout is None:
                return
            for line in stdout:
                self.output.append(line.rstrip())
                m = _BASE.search(line)
                if m:
                    self.base_url = m.group(1)
                m = _APP_ID.search(line)
                if m:
                    self.app_id = int(m.group(1))
                if self.base_url and not found.is_set():
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start:\n" + "\n".join(self.output))
        # The state files are written on start; wait for both, then for the server.
        while not (Path(self.creds).exists() and Path(self.ca).exists()):
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator wrote no credentials.json/ca.pem")
            time.sleep(0.05)
        time.sleep(0.3)  # the app id line may follow the URL line
        self._ctx = ssl.create_default_context(cafile=self.ca)
        self.stats()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control endpoints --------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.root}/_emulator/{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, context=self._ctx, timeout=30) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def reset(self) -> None:
        self._control("POST", "reset", {})

    def set_latency(self, ms: float) -> None:
        self._control("POST", "faults", {"latency": ms / 1000})
        self.latency_ms = ms

    def cpu_seconds(self) -> float:
        """User + system CPU time of the emulator process so far."""
        with contextlib.suppress(OSError), open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return float("nan")
