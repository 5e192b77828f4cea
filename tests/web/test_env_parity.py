"""The library honours $VOXKV_CA_FILE as the CLI does: the README's Quick start runs
unchanged against ``voxkv emulator --tls`` with the variables it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from voxkv_async import CA_FILE_ENV_VAR, TLSVerificationError, VoxKV
from voxkv_async.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> str:
    """The first Python block under the README's "## Quick start"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the Quick start"
    return match.group(1)


def start_emulator(state_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``voxkv emulator --tls --port 0 --state-dir DIR --application-id 123``, as the
    README starts it: the process and what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxkv_async", "emulator", "--tls", "--port", "0",
         "--state-dir", str(state_dir), "--application-id", "123"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    printed: dict[str, str] = {}
    while "VOXKV_STATE_DIR" not in printed:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"the emulator printed {printed} and stopped")
        name, _, value = line.strip().partition("=")
        printed[name] = value
    return proc, printed


def test_readme_quick_start_runs_with_the_printed_variables(tmp_path: Path) -> None:
    proc, printed = start_emulator(tmp_path / "state")
    try:
        assert CA_FILE_ENV_VAR in printed
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VOXKV_", "VOXIMPLANT_"))}
        env.update(printed)
        (tmp_path / "quick_start.py").write_text(quick_start(), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(tmp_path / "quick_start.py")],
            env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


async def test_ca_file_env_var_is_read_when_nothing_else_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Emulator(tls=True, state_dir=tmp_path) as emu:
        def client() -> VoxKV:
            return VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url)

        monkeypatch.delenv(CA_FILE_ENV_VAR, raising=False)
        async with client() as kv:
            with pytest.raises(TLSVerificationError):
                await kv.get("k")
        monkeypatch.setenv(CA_FILE_ENV_VAR, str(tmp_path / "ca.pem"))
        async with client() as kv:
            assert await kv.get("k") is None
        # An explicit ssl= or ca_file= wins over the variable.
        monkeypatch.setenv(CA_FILE_ENV_VAR, str(tmp_path / "missing.pem"))
        async with VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                         ssl=emu.ssl_context) as kv:
            assert await kv.get("k") is None
        async with VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                         ca_file=tmp_path / "ca.pem") as kv:
            assert await kv.get("k") is None
        # An empty variable means "not set".
        monkeypatch.setenv(CA_FILE_ENV_VAR, "")
        async with client() as kv:
            with pytest.raises(TLSVerificationError):
                await kv.get("k")
