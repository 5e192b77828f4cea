"""Peak memory of ``set_many`` over a generator: ``python -m benchmarks.memory SPEC_JSON``.

Run in a fresh process per size so RSS starts clean. The client is opened and warmed up
first (1,000 items through ``set_many``: pool connected, token signed, code paths hot),
then ``gc.collect()``, then the baseline RSS is read; a thread samples RSS every 10 ms
during the measured ``set_many`` over a generator of ``n`` items. Reported: peak RSS
growth over the baseline (sampled, and from ``ru_maxrss``), wall time, items/s, CPU.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import threading
import time
from typing import Any

from benchmarks.clients import key_of, report_failures, report_fields, value_of

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    from voxkv_async import Credentials, VoxKV

    n = spec["n"]
    creds = Credentials.from_file(spec["creds"])
    async with VoxKV(creds, spec["app_id"], base_url=spec["base_url"], ca_file=spec["ca"]) as kv:
        concurrency = spec.get("concurrency", 64)
        warm = ((f"warm:{i}", "w") for i in range(1000))
        await kv.set_many(warm, concurrency=concurrency)
        gc.collect()
        baseline = rss_bytes()
        peak = baseline
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.wait(0.01):
                peak = max(peak, rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        items = ((key_of(i), value_of(i)) for i in range(n))
        cpu0, t0 = time.process_time(), time.perf_counter()
        report = await kv.set_many(items, concurrency=concurrency)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stop.set()
        sampler.join()
        peak = max(peak, rss_bytes())
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {
            "n": n,
            "concurrency": concurrency,
            "baseline_rss_mb": baseline / 2**20,
            "peak_rss_growth_mb": (peak - baseline) / 2**20,
            "maxrss_growth_mb": (maxrss - baseline) / 2**20,
            "wall_s": wall,
            "items_per_s": n / wall,
            "cpu_s_per_1000": cpu / n * 1000,
            "errors": report_failures(report),
            "report": report_fields(report),
            "client_stats": kv.stats.as_dict(),
        }


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    print(json.dumps(asyncio.run(measure(spec))))


if __name__ == "__main__":
    main(sys.argv)
