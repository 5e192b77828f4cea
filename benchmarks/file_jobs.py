"""The file jobs at scale: ``python -m benchmarks.file_jobs [--rows N]``.

Against the emulator (0 ms latency, its own process, TLS), each measured in a fresh
process, peak memory from that process's ``ru_maxrss`` (``os.wait4``):

1. ``set_many`` over a generator of N items (the library, the reference);
2. ``voxkv import`` of a JSON Lines file of the same N rows;
3. the same with ``--checkpoint`` (the cost of recording progress durably);
4. ``voxkv sync`` of that file over the N keys now stored (a plan, no write);
5. ``voxkv sync`` of a file with every 10th value changed (N/10 writes);
6. ``voxkv export`` of the N keys.

Each run writes to an application of its own, so every import starts from an empty
store. Throughput is rows (or keys) over the job's own elapsed time, interpreter
start-up excluded; "baseline" is the peak RSS of the same command on an empty input, so
"growth" is what the N rows cost. Results: ``benchmarks/results/file_jobs-latest.json``
and ``.md``. Defaults to 1,000,000 rows (tens of minutes); ``--rows 20000`` runs in
about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.emulator import EmulatorProcess

RESULTS = Path(__file__).parent / "results"


def key_of(i: int) -> str:
    return f"bench:{i:08d}"


def value_of(i: int, changed: bool = False) -> str:
    return f"{'changed' if changed else 'value'}-{i}-" + "x" * 24


def write_file(path: Path, rows: int, changed_every: int = 0) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            changed = bool(changed_every) and i % changed_every == 0
            f.write(json.dumps({"key": key_of(i), "value": value_of(i, changed)}) + "\n")


# --- one measured child process ----------------------------------------------------------


def run_rss(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``: its exit code, JSON summary, wall time and own peak RSS (MB)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err_file, env=env)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    wall = time.perf_counter() - start
    lines = [line for line in out.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0:
        print(err[-2000:], file=sys.stderr)
    return {"exit_code": proc.returncode, "summary": summary, "wall_s": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


async def _library(rows: int, app: int, concurrency: int) -> dict[str, Any]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_env()
    async with VoxKV(creds, app, ca_file=os.environ["VOXKV_CA_FILE"]) as kv:
        items = ((key_of(i), value_of(i)) for i in range(rows))
        start = time.perf_counter()
        report = await kv.set_many(items, concurrency=concurrency)
        elapsed = time.perf_counter() - start
    return {"written": report.succeeded, "failed": report.failed, "elapsed": elapsed}


def library_child(rows: int, app: int, concurrency: int) -> None:
    print(json.dumps(asyncio.run(_library(rows, app, concurrency))))


def plan_child(rows: int, path: str) -> None:
    """The sync plan of ``rows`` stored keys and a file of ``rows`` rows (10% changed),
    without the network: its time and its memory (peak RSS growth)."""
    import resource

    from voxkv_async import KeyValueItem
    from voxkv_async.cli._plan import Planner
    from voxkv_async.cli._rows import Row, RowRules, read_jsonl

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    expires_at = int(time.time()) + 86_400
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        planner = Planner(spool)
        for i in range(rows):
            planner.stored(KeyValueItem(key_of(i), value_of(i), expires_at))
        planner.stored_done()
        listed = time.perf_counter()
        with open(path, "rb") as f:
            for record in read_jsonl(f, RowRules()):
                if isinstance(record, Row):
                    planner.row(record)
        plan = planner.finish()
    elapsed = time.perf_counter() - start
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    print(json.dumps({"stored": plan.stored, "rows": plan.rows, "update": plan.update,
                      "unchanged": plan.unchanged, "elapsed": round(elapsed, 2),
                      "listing_s": round(listed - start, 2), "growth_mb": round(growth, 1),
                      "bytes_per_key": round(growth * 2**20 / rows, 1)}))


# --- the runs ---------------------------------------------------------------------------


def measure(rows: int, stored: int, concurrency: int) -> dict[str, Any]:
    with EmulatorProcess(0.0) as emu, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "VOXKV_BASE_URL": emu.base_url, "VOXKV_CA_FILE": emu.ca,
               "VOXIMPLANT_CREDENTIALS": emu.creds, "VOXKV_APPLICATION_ID": "1"}
        data, empty = folder / "rows.jsonl", folder / "0.jsonl"
        kept, changed = folder / "stored.jsonl", folder / "changed.jsonl"
        write_file(data, rows)
        write_file(kept, stored)
        write_file(changed, stored, changed_every=10)
        empty.write_text("")
        cli = [sys.executable, "-m", "voxkv_async"]
        conc = ["--concurrency", str(concurrency), "--no-progress", "--json"]
        results: dict[str, Any] = {}

        def job(name: str, *args: str) -> None:
            print(f"[file_jobs] {name} ...", file=sys.stderr, flush=True)
            results[name] = run_rss([*cli, *args], env)
            print(f"[file_jobs] {name}: {json.dumps(results[name])}", file=sys.stderr)

        def library(name: str, n: int, app: int) -> None:
            print(f"[file_jobs] {name} ...", file=sys.stderr, flush=True)
            results[name] = run_rss(
                [sys.executable, "-m", "benchmarks.file_jobs", "--child-library", str(n),
                 "--app", str(app), "--concurrency", str(concurrency)], env)
            print(f"[file_jobs] {name}: {results[name]}", file=sys.stderr)

        # The library runs before and after the two imports: the machine's load may
        # change during a long run, and the imports are compared with both.
        library("library set_many", rows, 11)
        library("library baseline", 0, 10)
        job("import baseline", "import", str(empty), "--application-id", "10", *conc)
        job("import", "import", str(data), "--application-id", "12", *conc)
        job("import --checkpoint", "import", str(data), "--application-id", "13",
            "--checkpoint", str(folder / "ckpt"), *conc)
        library("library set_many, again", rows, 14)
        write_file(folder / "plan.jsonl", rows, changed_every=10)
        results["plan in memory"] = run_rss(
            [sys.executable, "-m", "benchmarks.file_jobs", "--child-plan", str(rows),
             "--file", str(folder / "plan.jsonl")], env)
        print(f"[file_jobs] plan in memory: {results['plan in memory']}", file=sys.stderr)
        # The walks of sync and export run over `stored` keys (seeded in an application
        # of their own): listing is one page after the other, 50 keys a page.
        job("seed for sync", "import", str(kept), "--application-id", "15", *conc)
        job("sync baseline", "sync", str(empty), "--prefix", "bench:", "--application-id",
            "10", *conc)
        job("sync, nothing differs", "sync", str(kept), "--prefix", "bench:",
            "--application-id", "15", *conc)
        job("sync, 10% differ", "sync", str(changed), "--prefix", "bench:",
            "--application-id", "15", *conc)
        job("export baseline", "export", "--prefix", "bench:", "--application-id", "10",
            "-o", str(folder / "e0.jsonl"), "--no-progress", "--json")
        job("export", "export", "--prefix", "bench:", "--application-id", "15",
            "-o", str(folder / "export.jsonl"), "--no-progress", "--json")
        return results


# --- listing at the server's rate (issue 17) ---------------------------------------------

#: The server of the listing runs: a limit of 300 requests/s (code 340), 20 ms each way in.
RATE, LATENCY_MS = 300.0, 20.0


async def _walk(prefix: str) -> dict[str, Any]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_env()
    async with VoxKV(creds, int(os.environ["VOXKV_APPLICATION_ID"]),
                     ca_file=os.environ["VOXKV_CA_FILE"]) as kv:
        start = time.perf_counter()
        listing, keys, last = kv.iter_items(prefix), 0, ""
        async for item in listing:
            keys += 1
            assert item.key > last, "listed out of order or twice"
            last = item.key
        elapsed = time.perf_counter() - start
    r = listing.report
    return {"keys": keys, "elapsed": elapsed, "requests": r.requests,
            "throttled": r.throttled, "gaps": r.gaps}


def walk_child(prefix: str) -> None:
    print(json.dumps(asyncio.run(_walk(prefix))))


def floor_s(keys: int, writes: int = 0) -> float:
    """The rate floor: pages of 50 (and writes), one request each, at :data:`RATE`."""
    return (-(-keys // 50) + writes) / RATE


def measure_listing(keys: int) -> dict[str, Any]:
    """Seed ``keys`` keys at full speed, then walk, export and sync them at the limit."""
    with EmulatorProcess(0.0) as emu, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "VOXKV_BASE_URL": emu.base_url, "VOXKV_CA_FILE": emu.ca,
               "VOXIMPLANT_CREDENTIALS": emu.creds, "VOXKV_APPLICATION_ID": "1"}
        kept, changed, empty = folder / "kept.jsonl", folder / "changed.jsonl", folder / "0"
        write_file(kept, keys)
        write_file(changed, keys, changed_every=10)
        empty.write_text("")
        cli = [sys.executable, "-m", "voxkv_async"]
        flags = ["--no-progress", "--json"]
        results: dict[str, Any] = {"seed": run_rss([*cli, "import", str(kept), *flags], env)}
        emu.set_latency(LATENCY_MS)
        emu._control("POST", "rate_limit", {"rate": RATE})
        walk = [sys.executable, "-m", "benchmarks.file_jobs", "--child-walk"]
        runs = {"walk baseline": [*walk, "nothing:"], "walk": [*walk, "bench:"],
                "export baseline": [*cli, "export", "--prefix", "nothing:", "-o",
                                    str(folder / "e0.jsonl"), *flags],
                "export": [*cli, "export", "--prefix", "bench:", "-o",
                           str(folder / "export.jsonl"), *flags],
                "sync baseline": [*cli, "sync", str(empty), "--prefix", "nothing:", *flags],
                "sync, nothing differs": [*cli, "sync", str(kept), "--prefix", "bench:",
                                          *flags],
                "sync, 10% differ": [*cli, "sync", str(changed), "--prefix", "bench:",
                                     *flags]}
        for name, command in runs.items():
            print(f"[file_jobs] {name} ...", file=sys.stderr, flush=True)
            results[name] = run_rss(command, env)
            print(f"[file_jobs] {name}: {json.dumps(results[name])}", file=sys.stderr)
        results["emulator"] = emu.stats()
        return results


def listing_table(keys: int, results: dict[str, Any]) -> tuple[dict[str, Any], str]:
    lines = [f"**Listing jobs, {keys:,} keys** (emulator over TLS, {LATENCY_MS:g} ms latency, "
             f"a limit of {RATE:g} requests/s answered as code 340; floor: one request per "
             f"page of 50 and per write at the limit; {platform.processor() or 'x86_64'}, "
             f"Python {platform.python_version()}, default options)", "",
             "| job | keys | writes | elapsed s | rate floor s | x floor | requests "
             "| throttled | peak RSS MB | growth MB | exit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    figures: dict[str, Any] = {"keys": keys, "rate": RATE, "latency_ms": LATENCY_MS}
    for name in ("walk", "export", "sync, nothing differs", "sync, 10% differ"):
        r, base = results[name], results[name.split(",")[0] + " baseline"]
        s = r["summary"]
        listing = s.get("listing") or {}
        count = s.get("keys", (s.get("plan") or {}).get("stored", 0))
        writes = s.get("written", 0) if name.startswith("sync") else 0
        floor = floor_s(keys, writes)
        elapsed = s.get("elapsed", 0.0)
        requests = s.get("requests", listing.get("requests", "–"))
        growth = r["peak_rss_mb"] - base["peak_rss_mb"]
        lines.append(f"| {name} | {count:,} | {writes:,} | {elapsed:.1f} | {floor:.1f} | "
                     f"{elapsed / floor:.2f} | {requests} | {s.get('throttled', '–')} | "
                     f"{r['peak_rss_mb']:.0f} | {growth:+.0f} | {r['exit_code']} |")
        figures[name] = {"count": count, "writes": writes, "elapsed_s": round(elapsed, 2),
                         "floor_s": round(floor, 2), "x_floor": round(elapsed / floor, 2),
                         "peak_rss_mb": r["peak_rss_mb"], "growth_mb": round(growth, 1),
                         "exit_code": r["exit_code"]}
    emu = results["emulator"]
    lines += ["", f"Emulator: {emu.get('throttled', '?')} requests refused over the runs."]
    return figures, "\n".join(lines) + "\n"


def table(rows: int, stored: int, results: dict[str, Any]) -> tuple[dict[str, Any], str]:
    rates = [results[name]["summary"]["written"] / results[name]["summary"]["elapsed"]
             for name in ("library set_many", "library set_many, again")]
    lib_rate = sum(rates) / len(rates)  # the reference: the mean of the two runs
    lines = [f"**File jobs, {rows:,} rows** ('vs set_many': over the mean of the two "
             "set_many runs; emulator at 0 ms latency over TLS, "
             f"{platform.processor() or platform.machine()}, Python "
             f"{platform.python_version()}, 64 in flight; sync and export over "
             f"{stored:,} stored keys)", "",
             "| job | rows or keys | elapsed s | per second | vs set_many | peak RSS MB "
             "| growth over empty input MB | exit |", "|---|---|---|---|---|---|---|---|"]
    figures: dict[str, Any] = {"rows": rows, "library_rate": round(lib_rate)}
    baselines = {"library set_many": "library baseline",
                 "library set_many, again": "library baseline", "import": "import baseline",
                 "import --checkpoint": "import baseline",
                 "sync, nothing differs": "sync baseline", "sync, 10% differ": "sync baseline",
                 "export": "export baseline"}
    for name, base in baselines.items():
        r = results[name]
        s = r["summary"]
        elapsed = s.get("elapsed", 0.0) or 1e-9
        count = s.get("written", s.get("keys", 0))
        if name.startswith("sync"):
            count = (s.get("plan") or {}).get("stored", 0)
        rate = count / elapsed
        growth = r["peak_rss_mb"] - results[base]["peak_rss_mb"]
        ratio = rate / lib_rate if name.startswith(("import", "library")) else None
        lines.append(f"| {name} | {count:,} | {elapsed:.1f} | {rate:,.0f} | "
                     + (f"{ratio:.2f}" if ratio is not None else "–")
                     + f" | {r['peak_rss_mb']:.0f} | {growth:+.0f} | {r['exit_code']} |")
        figures[name] = {"count": count, "elapsed_s": round(elapsed, 2), "rate": round(rate),
                         "vs_set_many": None if ratio is None else round(ratio, 3),
                         "peak_rss_mb": r["peak_rss_mb"], "growth_mb": round(growth, 1),
                         "exit_code": r["exit_code"]}
    plan = results["plan in memory"]["summary"]
    lines += ["", f"Sync plan in memory, without the network: {plan['stored']:,} stored keys "
              f"and {plan['rows']:,} rows ({plan['update']:,} differing) in "
              f"{plan['elapsed']:.1f} s, peak RSS growth {plan['growth_mb']:.0f} MB "
              f"({plan['bytes_per_key']:.0f} bytes per key)."]
    figures["plan in memory"] = plan
    return figures, "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stored", type=int, default=100_000,
                        help="keys stored for the sync and export runs (default 100,000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--child-library", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--app", type=int, default=11, help=argparse.SUPPRESS)
    parser.add_argument("--child-plan", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--child-walk", metavar="PREFIX", help=argparse.SUPPRESS)
    parser.add_argument("--listing", type=int, metavar="KEYS",
                        help="measure walk/export/sync of KEYS keys at the rate limit only")
    args = parser.parse_args()
    if args.child_walk is not None:
        walk_child(args.child_walk)
        return
    if args.listing is not None:
        figures, markdown = listing_table(args.listing, measure_listing(args.listing))
        RESULTS.mkdir(exist_ok=True)
        name = f"file_jobs-listing-{args.listing}"
        (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(markdown)
        print(markdown)
        return
    if args.child_library is not None:
        library_child(args.child_library, args.app, args.concurrency)
        return
    if args.child_plan is not None:
        plan_child(args.child_plan, args.file)
        return
    stored = min(args.stored, args.rows)
    results = measure(args.rows, stored, args.concurrency)
    figures, markdown = table(args.rows, stored, results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "file_jobs-latest.json").write_text(
        json.dumps({"figures": figures, "runs": results}, indent=2) + "\n")
    (RESULTS / "file_jobs-latest.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
