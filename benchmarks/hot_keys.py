"""Hot-key reads: 1,000 concurrent readers of 10 keys at 20 ms emulator latency.

``python -m benchmarks.hot_keys [--seconds 5] [--readers 1000] [--keys 10] [--latency 20]``

One run, one emulator (TLS, its own process, as ``benchmarks/run.py`` starts it), four
contenders one after another, each with a fresh client: raw aiohttp (a pooled session and
one JWT, as in ``benchmarks/clients.py``), voxkv_async with ``coalesce=False``,
voxkv_async as shipped (request coalescing on), and voxkv_async with a read cache
(``ReadCache(max_age=1.0)``). Every reader loops for ``--seconds``: pick one of the keys
at random, ``get`` it, check the answer. Reported: calls/s, p50/p99 latency, the
requests the emulator saw, and each contender's calls/s over raw aiohttp's.

Then the per-call CPU cost of the client's features, with the transport replaced by a
stub answering at once (so only the client's own work is timed), each variant in a fresh
interpreter: coalescing off/on (distinct keys, nothing to share), and OpenTelemetry
absent / API without an SDK / SDK with an in-memory exporter.

The result goes to stdout as a Markdown table and to
``benchmarks/results/hot_keys-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.clients import FORM, _sign, summarize
from benchmarks.emulator import EmulatorProcess

RESULTS = Path(__file__).parent / "results"
GET = "GetKeyValueItem"


# --- the hot-key workload -----------------------------------------------------------------


async def _readers(get: Any, keys: list[str], readers: int, seconds: float
                   ) -> dict[str, Any]:
    """``readers`` tasks calling ``get(key)`` for ``seconds``; calls, latencies, errors."""
    lat: list[float] = []
    errors = 0
    perf = time.perf_counter
    stop_at = perf() + seconds

    async def reader(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        while perf() < stop_at:
            key = keys[rng.randrange(len(keys))]
            t0 = perf()
            try:
                ok = await get(key)
            except Exception:
                ok = False
            lat.append(perf() - t0)
            errors += not ok

    started, cpu0 = perf(), time.process_time()
    await asyncio.gather(*(reader(i) for i in range(readers)))
    wall, cpu = perf() - started, time.process_time() - cpu0
    return {"calls": len(lat), "calls_per_s": len(lat) / wall, "errors": errors,
            "cpu_us_per_call": cpu / max(1, len(lat)) * 1e6, **summarize(lat)}


async def raw_aiohttp(emu: EmulatorProcess, keys: list[str], readers: int,
                      seconds: float) -> dict[str, Any]:
    import aiohttp
    from yarl import URL

    from voxkv_async import Credentials

    creds = Credentials.from_file(emu.creds)
    url = URL(emu.base_url) / GET
    headers = {"Authorization": _sign(creds), "Content-Type": FORM}
    bodies = {k: f"application_id={emu.app_id}&key={k}".encode() for k in keys}
    connector = aiohttp.TCPConnector(ssl=emu._ctx)  # aiohttp's default limit: 100
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(key: str) -> bool:
            async with session.post(url, data=bodies[key], headers=headers) as r:
                payload = json.loads(await r.read())
            return bool(payload.get("result"))

        return await _readers(get, keys, readers, seconds)


async def voxkv(emu: EmulatorProcess, keys: list[str], readers: int, seconds: float,
                **options: Any) -> dict[str, Any]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_file(emu.creds)
    async with VoxKV(creds, emu.app_id, base_url=emu.base_url, ca_file=emu.ca,
                     **options) as kv:

        async def get(key: str) -> bool:
            return await kv.get(key) is not None

        result = await _readers(get, keys, readers, seconds)
        result["client_stats"] = {k: v for k, v in kv.stats.as_dict().items()
                                  if k in ("calls", "requests", "coalesced", "cache_hits",
                                           "cache_misses")}
        return result


def hot_keys(args: argparse.Namespace) -> list[dict[str, Any]]:
    from voxkv_async import ReadCache

    keys = [f"config:hot{i}" for i in range(args.keys)]
    contenders: list[tuple[str, Any, dict[str, Any]]] = [
        ("raw aiohttp", raw_aiohttp, {}),
        ("voxkv_async, coalesce=False", voxkv, {"coalesce": False}),
        ("voxkv_async (coalescing, default)", voxkv, {}),
        ("voxkv_async + ReadCache(max_age=1 s)", voxkv, {"read_cache": ReadCache(max_age=1.0)}),
    ]
    rows = []
    with EmulatorProcess(latency_ms=args.latency) as emu:
        asyncio.run(_seed(emu, keys))
        for label, run, options in contenders:
            before = emu.stats()["requests"].get(GET, 0)
            row = asyncio.run(run(emu, keys, args.readers, args.seconds, **options))
            row["label"] = label
            row["requests_sent"] = emu.stats()["requests"].get(GET, 0) - before
            rows.append(row)
            print(f"  {label}: {row['calls_per_s']:.0f} calls/s", file=sys.stderr)
    raw = rows[0]["calls_per_s"]
    for row in rows:
        row["x_raw"] = row["calls_per_s"] / raw
    return rows


async def _seed(emu: EmulatorProcess, keys: list[str]) -> None:
    from voxkv_async import Credentials, VoxKV

    async with VoxKV(Credentials.from_file(emu.creds), emu.app_id, base_url=emu.base_url,
                     ca_file=emu.ca) as kv:
        for key in keys:
            await kv.set(key, "routing-table-" + key)


# --- per-call cost of the features (a stub transport, each in a fresh interpreter) ----------

_MICRO = r"""
import asyncio, json, sys, time
variant, n = sys.argv[1], int(sys.argv[2])
if variant == "otel-absent":
    sys.modules["opentelemetry"] = None
from voxkv_async import Credentials, Response, VoxKV
from voxkv_async.emulator import generate_credentials
options = {"coalesce": variant != "coalesce-off"}
if variant == "otel-sdk":
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    tp = TracerProvider(); exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    options.update(tracer_provider=tp, meter_provider=MeterProvider(
        metric_readers=[InMemoryMetricReader()]))
if variant in ("coalesce-off", "coalesce-on"):
    options["telemetry"] = False
ANSWER = Response.of_json({"result": {"key": "k", "value": "v", "expires_at": 2000000000}})
class Stub:   # a Transport answering after one loop turn, as a real answer takes at least
    async def send(self, request, *, timeout):
        await asyncio.sleep(0)
        return ANSWER
    async def aclose(self):
        pass
async def main():
    kv = VoxKV(generate_credentials(), 1, base_url="https://api.test/platform_api",
               transport=Stub(), **options)
    keys = [f"k{i}" for i in range(64)]
    async def worker(w):
        for i in range(n // 64):
            await kv.get(keys[w])
    await asyncio.gather(*(worker(w) for w in range(64)))   # warm-up
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(64)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if variant == "otel-sdk":
        exporter.clear()
    await kv.close()
    print(json.dumps({"variant": variant, "us_per_call": cpu / n * 1e6,
                      "calls_per_s": n / wall}))
asyncio.run(main())
"""

VARIANTS = ["coalesce-off", "coalesce-on", "otel-absent", "otel-api-no-sdk", "otel-sdk"]


def micro(n: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for variant in VARIANTS:
        best: dict[str, Any] | None = None
        for _ in range(repeats):
            done = subprocess.run([sys.executable, "-c", _MICRO, variant, str(n)],
                                  capture_output=True, text=True, check=True, timeout=600)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            if best is None or row["us_per_call"] < best["us_per_call"]:
                best = row
        assert best is not None
        rows.append(best)
    return rows


# --- report ------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], cost: list[dict[str, Any]],
          args: argparse.Namespace) -> str:
    out = [f"**Hot keys**: {args.readers} concurrent readers of {args.keys} keys, "
           f"{args.latency:g} ms emulator latency, {args.seconds:g} s per contender (TLS).",
           "",
           "| client | calls | calls/s | ×raw | p50 ms | p99 ms | requests sent | "
           "client CPU µs/call | errors |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['label']} | {r['calls']} | {r['calls_per_s']:.0f} | "
                   f"{r['x_raw']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                   f"{r['requests_sent']} | {r['cpu_us_per_call']:.0f} | {r['errors']} |")
    base = {r["variant"]: r["us_per_call"] for r in cost}
    out += ["", "**Per-call client CPU** (stub transport, 64 tasks on distinct keys, best of "
            f"{args.repeats})", "", "| variant | µs/call | vs baseline |", "|---|---|---|"]
    for r in cost:
        ref = base["coalesce-off"] if r["variant"].startswith("coalesce") \
            else base["otel-absent"]
        out.append(f"| {r['variant']} | {r['us_per_call']:.1f} | "
                   f"{r['us_per_call'] - ref:+.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hot_keys", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="per contender")
    p.add_argument("--readers", type=int, default=1000)
    p.add_argument("--keys", type=int, default=10)
    p.add_argument("--latency", type=float, default=20.0, help="emulator latency, ms")
    p.add_argument("--micro-calls", type=int, default=64_000, help="per micro variant")
    p.add_argument("--repeats", type=int, default=3, help="micro runs per variant")
    args = p.parse_args(argv)
    rows = hot_keys(args)
    cost = micro(args.micro_calls, args.repeats)
    text = table(rows, cost, args)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hot_keys-latest.json").write_text(json.dumps(
        {"args": vars(args), "hot_keys": rows, "per_call": cost, "markdown": text,
         "at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
