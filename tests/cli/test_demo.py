"""The ``voxkv`` command, run as a user would: in a subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from voxkv_async import Credentials, RateLimitedError, RetryPolicy, VoxKV
from voxkv_async.cli import build_parser

VOXKV = [sys.executable, "-m", "voxkv_async.cli"]


def test_demo_runs_and_checks_out() -> None:
    done = subprocess.run(
        [*VOXKV, "demo", "--keys", "200", "--concurrency", "16", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "200 keys" in out
    assert re.search(r"total\s+\d+ calls .* p50 [\d.]+ ms, p99 [\d.]+ ms", out)
    assert re.search(r"\b\d+ retries, 1 token signings", out)
    assert "new connections" in out
    assert "OK:" in out
    assert "FAILED" not in out


def test_demo_with_faults_retries_and_still_checks_out() -> None:
    done = subprocess.run(
        [*VOXKV, "demo", "--keys", "150", "--fault-rate", "0.1", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    retries = int(re.search(r"(\d+) retries", done.stdout).group(1))  # type: ignore[union-attr]
    assert retries > 0
    assert "faults injected: none" not in done.stdout


def test_demo_refuses_bad_options() -> None:
    done = subprocess.run([*VOXKV, "demo", "--keys", "0"], capture_output=True, text=True)
    assert done.returncode == 2


async def test_emulator_command_serves_until_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *VOXKV,
        "emulator",
        "--port",
        "0",
        "--tls",
        "--state-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        env = await asyncio.wait_for(_read_announcement(proc), timeout=30)
        url = env["VOXKV_BASE_URL"]
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+/platform_api", url)
        assert not url.endswith(":0/platform_api")
        assert Path(env["VOXIMPLANT_CREDENTIALS"]) == tmp_path / "credentials.json"
        assert Path(env["VOXKV_CA_FILE"]) == tmp_path / "ca.pem"
        async with VoxKV(
            Credentials.from_file(env["VOXIMPLANT_CREDENTIALS"]),
            application_id=int(env["VOXKV_APPLICATION_ID"]),
            base_url=url,
            ca_file=env["VOXKV_CA_FILE"],
        ) as kv:
            await kv.set("cli:k", "v")
            assert (await kv.get("cli:k")).value == "v"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.post(url, ssl=False)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_emulator_command_temporary_state_is_removed() -> None:
    proc = await asyncio.create_subprocess_exec(
        *VOXKV,
        "emulator",
        "--port",
        "0",
        "--http-503",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        env = await asyncio.wait_for(_read_announcement(proc), timeout=30)
        assert env["VOXKV_BASE_URL"].startswith("http://")
        assert "VOXKV_CA_FILE" not in env
        state = Path(env["VOXKV_STATE_DIR"])
        assert (state / "credentials.json").exists()
        async with aiohttp.ClientSession() as session, session.post(env["VOXKV_BASE_URL"]) as r:
            assert r.status == 503
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
        assert not await asyncio.to_thread(state.exists)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_emulator_command_refuses_rates_above_one() -> None:
    done = subprocess.run(
        [*VOXKV, "emulator", "--port", "0", "--http-503", "0.7", "--code-2", "0.7"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "add up" in done.stderr


def test_subcommands_can_be_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxkv_async import cli

    def register(subparsers: object) -> None:
        p = subparsers.add_parser("hello")  # type: ignore[attr-defined]
        p.set_defaults(handler=lambda args: 7)

    monkeypatch.setattr(cli, "REGISTRARS", [*cli.REGISTRARS, register])
    assert cli.main(["hello"]) == 7
    assert build_parser().parse_args(["demo"]).keys == 3000


async def _read_announcement(proc: asyncio.subprocess.Process) -> dict[str, str]:
    assert proc.stdout is not None
    env: dict[str, str] = {}
    while "VOXKV_STATE_DIR" not in env:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"the emulator exited: {await proc.stderr.read()!r}")  # type: ignore[union-attr]
        name, _, value = line.strip().partition("=")
        env[name] = value
    return env


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "voxkv"
    if not script.exists():
        pytest.skip("voxkv console script not installed in this environment")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=30, env={**os.environ}
    )
    assert done.returncode == 0
    assert "emulator" in done.stdout
    assert "demo" in done.stdout


def test_uvloop_switch_runs_the_demo_on_uvloop(capsys: pytest.CaptureFixture[str]) -> None:
    uvloop = pytest.importorskip("uvloop")
    from voxkv_async import cli

    loops: list[str] = []
    run = uvloop.run

    def spy(coro: object) -> object:
        loops.append("uvloop")
        return run(coro)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uvloop, "run", spy)
        assert cli.main(["--uvloop", "demo", "--keys", "50", "--concurrency", "8"]) == 0
    assert loops == ["uvloop"]
    assert "OK" in capsys.readouterr().out


def test_demo_passes_at_30_percent_faults_and_says_what_happened() -> None:
    done = subprocess.run(
        [*VOXKV, "demo", "--keys", "400", "--fault-rate", "0.3", "--seed", "4"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "OK:" in out
    assert "FAILED" not in out
    write = next(line for line in out.splitlines() if line.lstrip().startswith("write"))
    assert re.search(r"\d+ retried, \d+ throttled", write)
    assert re.search(r"\d+ throttled, \d+ pauses, \d+ retries", out)


def test_demo_rate_limit_shows_the_pacer_following_it() -> None:
    done = subprocess.run(
        [*VOXKV, "demo", "--keys", "600", "--rate-limit", "400", "--seed", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pacer = re.search(r"pacer: <AdaptiveRate \w+ rate=([\d.]+)/s", done.stdout)
    assert pacer, done.stdout
    assert 50 < float(pacer.group(1)) < 1200  # near the limit, neither collapsed nor unpaced


async def test_emulator_command_serves_a_rate_limit(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *VOXKV, "emulator", "--port", "0", "--state-dir", str(tmp_path),
        "--rate-limit", "5", "--rate-burst", "2", "--rate-answer", "http_429",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        env = await asyncio.wait_for(_read_announcement(proc), timeout=30)
        control = env["VOXKV_BASE_URL"].replace("/platform_api", "/_emulator/rate_limit")
        async with aiohttp.ClientSession() as session, session.get(control) as resp:
            settings = await resp.json()
        assert settings["rate"] == 5
        assert settings["burst"] == 2
        assert settings["answer"] == "http_429"
        async with VoxKV(Credentials.from_file(env["VOXIMPLANT_CREDENTIALS"]),
                         application_id=int(env["VOXKV_APPLICATION_ID"]),
                         base_url=env["VOXKV_BASE_URL"], retry=RetryPolicy.disabled()) as kv:
            outcomes = await asyncio.gather(*(kv.set(f"r:{i}", "v") for i in range(6)),
                                            return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, RateLimitedError)]
        assert len(refused) >= 3  # a burst of 2, then 5/s: most of 6 at once are refused
        assert all(o.status == 429 and o.retry_after for o in refused)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=10)
