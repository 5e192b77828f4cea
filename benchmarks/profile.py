"""Profile voxkv_async single calls against raw aiohttp: ``python -m benchmarks.profile``.

Starts the emulator (TLS, latency 0) in its own process and runs each contender once
under pyinstrument (``--tool pyinstrument``, the default: text + HTML reports) or under
cProfile (``--tool cprofile``: exact call counts, ``.pstats`` files), each in its own
subprocess, N Set then N Get at 64 in flight. Reports go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
from pathlib import Path

from benchmarks.emulator import EmulatorProcess

RESULTS = Path(__file__).resolve().parent / "results"


def _cprofile_child(spec_json: str, out: str) -> None:
    from benchmarks.clients import Spec, run

    spec = Spec(json.loads(spec_json))
    prof = cProfile.Profile()
    prof.enable()
    result = run(spec)
    prof.disable()
    prof.dump_stats(out)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--tool", choices=("pyinstrument", "cprofile"), default="pyinstrument")
    p.add_argument("--clients", default="raw,voxkv")
    a = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    with EmulatorProcess() as emu:
        for client in a.clients.split(","):
            emu.reset()
            spec = {"client": client, "n": a.n, "concurrency": 64, "time_box": 300.0,
                    "base_url": emu.base_url, "app_id": emu.app_id, "creds": emu.creds,
                    "ca": emu.ca}
            if a.tool == "pyinstrument":
                out = RESULTS / f"profile-{client}.txt"
                spec["profile"] = str(out)
                cmd = [sys.executable, "-m", "benchmarks.clients", json.dumps(spec)]
            else:
                out = RESULTS / f"profile-{client}.pstats"
                cmd = [sys.executable, "-c",
                       "import sys; from benchmarks.profile import _cprofile_child; "
                       "_cprofile_child(sys.argv[1], sys.argv[2])", json.dumps(spec), str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            t = json.loads(proc.stdout.strip().splitlines()[-1])["total"]
            print(f"{client}: {t['calls']} calls, {t['calls_per_s']:.0f}/s, "
                  f"CPU {t['cpu_s_per_1000']:.3f} s/1k (profiled), errors {t['errors']}"
                  f" -> {out}")
            if a.tool == "cprofile":
                pstats.Stats(str(out)).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
