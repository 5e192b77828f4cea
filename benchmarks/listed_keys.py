"""Bulk calls over listed keys at the server's rate: ``python -m benchmarks.listed_keys``.

The jobs of issue 17 that read or delete what a walk lists, against the emulator in its
own process (TLS, the latency and limit of ``benchmarks.file_jobs --listing``), with
default options:

1. ``get_many`` over the keys ``iter_keys`` lists (a walk, then one read per key);
2. "delete everything under a prefix": the keys listed first, then ``delete_many``;
3. ``voxkv sync empty.jsonl --prefix P --delete --yes`` (a sync deleting every key).

Each is printed beside its rate floor (one request per page of 50 and per key, at the
limit). Results: ``benchmarks/results/listed_keys-latest.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.emulator import EmulatorProcess
from benchmarks.file_jobs import LATENCY_MS, RATE, RESULTS, floor_s, key_of, value_of


async def _library(emu: EmulatorProcess, keys: int) -> dict[str, Any]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_file(emu.creds)
    async with VoxKV(creds, 1, base_url=emu.base_url, ca_file=emu.ca) as kv:
        report = await kv.set_many((key_of(i), value_of(i)) for i in range(keys))
        assert report.failed == 0
        emu.set_latency(LATENCY_MS)
        emu._control("POST", "rate_limit", {"rate": RATE})
        start = time.perf_counter()
        found = await kv.get_many(k.key async for k in kv.iter_keys("bench:"))
        got = time.perf_counter() - start
        assert sum(item is not None for item in found) == keys
        start = time.perf_counter()
        listed = [k.key async for k in kv.iter_keys("bench:")]
        deleted = await kv.delete_many(listed)
        removed = time.perf_counter() - start
        assert deleted.succeeded == keys
        emu.set_latency(0)
        emu._control("POST", "rate_limit", {"rate": 0})
        report = await kv.set_many((key_of(i), value_of(i)) for i in range(keys))
        assert report.failed == 0
    return {"get_many over iter_keys": got, "iter_keys, then delete_many": removed}


def _sync_delete(emu: EmulatorProcess, keys: int) -> float:
    env = {**os.environ, "VOXKV_BASE_URL": emu.base_url, "VOXKV_CA_FILE": emu.ca,
           "VOXIMPLANT_CREDENTIALS": emu.creds, "VOXKV_APPLICATION_ID": "1"}
    emu.set_latency(LATENCY_MS)
    emu._control("POST", "rate_limit", {"rate": RATE})
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.jsonl"
        empty.write_text("")
        done = subprocess.run(
            [sys.executable, "-m", "voxkv_async", "sync", str(empty), "--prefix", "bench:",
             "--delete", "--yes", "--no-progress", "--json"],
            env=env, capture_output=True, text=True, check=False)
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["deleted"] == keys, done.stderr
    return float(summary["elapsed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    keys = parser.parse_args().keys
    with EmulatorProcess(0.0) as emu:
        times = asyncio.run(_library(emu, keys))
        times["voxkv sync --delete (every key)"] = _sync_delete(emu, keys)
    floor = floor_s(keys, keys)
    lines = [f"**Bulk calls over {keys:,} listed keys** ({LATENCY_MS:g} ms latency, a limit of "
             f"{RATE:g} requests/s; floor: {-(-keys // 50):,} pages and {keys:,} calls at the "
             "limit)", "", "| job | elapsed s | rate floor s | x floor |", "|---|---|---|---|"]
    lines += [f"| {name} | {t:.1f} | {floor:.1f} | {t / floor:.2f} |" for name, t in times.items()]
    markdown = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "listed_keys-latest.json").write_text(json.dumps(
        {"keys": keys, "floor_s": round(floor, 2),
         "elapsed_s": {k: round(v, 2) for k, v in times.items()}}, indent=2) + "\n")
    (RESULTS / "listed_keys-latest.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
