"""The pytest plugin, as a user's suite sees it: the README example, strict and auto mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voxkv_async import VoxKV
from voxkv_async.emulator import Emulator, Faults

EXAMPLE = """
import pytest
from voxkv_async.emulator import Faults

@pytest.mark.asyncio
async def test_roundtrip(voxkv_client, voxkv_emulator):
    await voxkv_client.set("profile:42", "ada")
    assert (await voxkv_client.get("profile:42")).value == "ada"
    assert voxkv_emulator.items() == {"profile:42": "ada"}

@pytest.mark.asyncio
async def test_fresh_state(voxkv_emulator):
    assert voxkv_emulator.items() == {}
    assert voxkv_emulator.stats.total_requests == 0

@pytest.mark.asyncio
async def test_retries_hide_a_flaky_api(voxkv_client, voxkv_emulator):
    voxkv_emulator.faults = Faults(http_503=0.3)
    voxkv_emulator.seed(1)  # the same faults on every run
    for i in range(10):
        await voxkv_client.set(f"k{i}", "v")
    assert voxkv_client.stats.retries > 0
    assert len(voxkv_emulator.items()) == 10
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_fixtures_in_a_users_suite(tmp_path: Path, mode: str) -> None:
    (tmp_path / "test_example.py").write_text(EXAMPLE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            f"asyncio_mode={mode}",
            "-W",
            "error::ResourceWarning",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.fixture
def voxkv_emulator_options() -> dict[str, object]:
    return {"faults": Faults(code_2=1.0, methods={"DelKeyValueItem"}), "seed": 5}


async def test_options_fixture_is_honoured(voxkv_emulator: Emulator, voxkv_client: VoxKV) -> None:
    assert voxkv_emulator.faults.code_2 == 1.0
    await voxkv_client.set("k", "v")
    assert voxkv_emulator.stats.faults == {}
