"""A/B a changed copy of the library: ``python -m benchmarks.ab --variant DIR``.

``DIR`` holds a modified ``voxkv_async/`` package (e.g. this tree with
``benchmarks/hotpath.patch`` applied: ``cp -r voxkv_async /tmp/v/ && git -C ... apply``).
Runs raw aiohttp, voxkv_async as installed, and voxkv_async from ``DIR`` (first on
``PYTHONPATH``) as interleaved triples at 64 in flight, each in a fresh process, and
prints the medians of client CPU per 1,000 calls and of calls/s, with paired ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.emulator import EmulatorProcess


def once(emu: EmulatorProcess, client: str, n: int, latency: float,
         pythonpath: str | None) -> dict[str, Any]:
    if emu.latency_ms != latency:
        emu.set_latency(latency)
    emu.reset()
    spec = {"client": client, "n": n, "concurrency": 64, "time_box": 300.0,
            "base_url": emu.base_url, "app_id": emu.app_id, "creds": emu.creds, "ca": emu.ca}
    # The variant goes first on sys.path (before the cwd, where this tree's package is).
    code = ("import sys, json; p = sys.argv[2]; p and sys.path.insert(0, p); "
            "from benchmarks.clients import Spec, run; "
            "import voxkv_async; r = run(Spec(json.loads(sys.argv[1]))); "
            "r['voxkv_path'] = voxkv_async.__file__; print(json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec), pythonpath or ""],
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    p.add_argument("--variant", required=True, help="directory containing voxkv_async/")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--latency", type=float, default=0.0)
    a = p.parse_args(argv)
    arms = {"raw": ("raw", None), "voxkv": ("voxkv", None), "variant": ("voxkv", a.variant)}
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in arms}
    with EmulatorProcess() as emu:
        for r in range(a.repeats):
            for arm, (client, path) in arms.items():
                res = once(emu, client, a.n, a.latency, path)
                got[arm].append(res["total"])
                where = res.get("voxkv_path", "") if client == "voxkv" else ""
                print(f"{r} {arm:8} {res['total']['calls_per_s']:8.0f}/s "
                      f"cpu {res['total']['cpu_s_per_1000']:.4f} s/1k "
                      f"errors {res['total']['errors']} {where}", flush=True)

    def med(arm: str, field: str) -> float:
        return statistics.median(t[field] for t in got[arm])

    def pair(arm: str, field: str) -> float:
        return statistics.median(x[field] / y[field]
                                 for x, y in zip(got[arm], got["raw"], strict=True))

    print("\n| arm | calls/s (median) | ×raw | CPU s/1k (median) | ×raw |\n|---|---|---|---|---|")
    for arm in arms:
        print(f"| {arm} | {med(arm, 'calls_per_s'):.0f} | {pair(arm, 'calls_per_s'):.3f} "
              f"| {med(arm, 'cpu_s_per_1000'):.4f} | {pair(arm, 'cpu_s_per_1000'):.3f} |")
    cpu_gain = statistics.median(v["cpu_s_per_1000"] / b["cpu_s_per_1000"]
                                 for v, b in zip(got["variant"], got["voxkv"], strict=True))
    print(f"\nvariant/voxkv CPU per call (median of pairs): {cpu_gain:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
