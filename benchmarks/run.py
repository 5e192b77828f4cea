"""One command for every benchmark: ``python -m benchmarks.run [--quick]``.

Starts the emulator (TLS on) in its own process, then runs each contender in a fresh
subprocess of its own, one after another (never two at once), resetting the emulator's
counters before each and reading them after. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.emulator import EmulatorProcess

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"

LABELS = {
    "voxkv": "voxkv_async single calls",
    "voxkv+uvloop": "voxkv_async single calls (uvloop)",
    "set_many": "voxkv_async set_many (Set only)",
    "raw": "raw aiohttp (floor)",
    "raw+uvloop": "raw aiohttp (uvloop)",
    "naive": "naive aiohttp (session+JWT per call)",
    "sdk-seq": "official SDK, sequential",
    "sdk-64": "official SDK, 64 threads",
}


class Config:
    def __init__(self, a: argparse.Namespace) -> None:
        quick = a.quick
        self.quick = quick
        self.n = a.n or (1500 if quick else 20000)
        self.repeats = a.repeats or (1 if quick else 5)
        self.latencies = [0.0, 20.0]
        self.slow_box = a.slow_box or (0.75 if quick else 10.0)  # per phase: SDK, naive
        self.sweep = [1, 8, 64, 256]
        self.sweep_latencies = [20.0] if quick else [0.0, 20.0]
        self.sweep_box = a.sweep_box or (0.5 if quick else 6.0)  # per phase
        self.mem_sizes = [int(x) for x in a.mem_sizes.split(",")] if a.mem_sizes else (
            [1000, 5000] if quick else [10_000, 1_000_000])
        self.uvloop = not quick and not a.no_uvloop
        self.skip = set(a.skip.split(",")) if a.skip else set()

    def to_json(self) -> dict[str, Any]:
        return {k: sorted(v) if isinstance(v, set) else v for k, v in vars(self).items()}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("aiohttp", "yarl", "multidict", "jwt", "cryptography", "uvloop"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = None
    import voxkv_async

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False, cwd=README.parent).stdout.strip()
    except OSError:
        commit = ""
    return {
        "git_head": commit,
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "voxkv_async": voxkv_async.__version__,
        "versions": versions,
        "loadavg_at_start": os.getloadavg(),
    }


# --- running one case ------------------------------------------------------------------


def run_case(emu: EmulatorProcess, label: str, spec: dict[str, Any], latency: float,
             module: str = "benchmarks.clients") -> dict[str, Any]:
    if emu.latency_ms != latency:
        emu.set_latency(latency)
    emu.reset()
    spec = {**spec, "base_url": emu.base_url, "app_id": emu.app_id,
            "creds": emu.creds, "ca": emu.ca}
    cpu0 = emu.cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    server_cpu = emu.cpu_seconds() - cpu0
    if proc.returncode != 0:
        print(f"  !! {label} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {"label": label, "latency_ms": latency, "failed": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["label"] = label
    result["latency_ms"] = latency
    result["server"] = emu.stats()
    result["server_cpu_s"] = server_cpu
    result["process_s"] = elapsed
    calls = result.get("total", {}).get("calls") or result.get("n") or 0
    result["server_cpu_s_per_1000"] = server_cpu / calls * 1000 if calls else None
    t = result.get("total")
    if t:
        print(f"  {label:14} {latency:>4g} ms  c={spec.get('concurrency', 64):<4}"
              f"{t['calls']:>7} calls {t['calls_per_s']:>9.1f}/s  "
              f"cpu {t['cpu_s_per_1000'] or 0:.3f} s/1k  errors {t['errors']}  "
              f"conns {result['server']['connections']}  "
              f"tokens {result['server']['distinct_tokens']}", flush=True)
    return result


def main_matrix(emu: EmulatorProcess, cfg: Config) -> list[dict[str, Any]]:
    out = []
    for lat in cfg.latencies:
        print(f"latency {lat:g} ms, 64 in flight", flush=True)
        base = {"n": cfg.n, "concurrency": 64, "time_box": 120.0}
        for r in range(cfg.repeats):  # interleaved pairs: the ratio is taken per pair
            for client in ("raw", "voxkv"):
                res = run_case(emu, client, {**base, "client": client}, lat)
                res["repeat"] = r
                out.append(res)
        if cfg.uvloop:
            for client in ("raw", "voxkv"):
                out.append(run_case(emu, client + "+uvloop",
                                    {**base, "client": client, "uvloop": True}, lat))
        if "set_many" not in cfg.skip:
            out.append(run_case(emu, "set_many", {**base, "client": "set_many"}, lat))
        if "naive" not in cfg.skip:
            out.append(run_case(emu, "naive",
                                {**base, "client": "naive", "time_box": cfg.slow_box}, lat))
        if "sdk" not in cfg.skip:
            out.append(run_case(emu, "sdk-seq", {**base, "client": "sdk", "concurrency": 1,
                                                 "time_box": cfg.slow_box}, lat))
            out.append(run_case(emu, "sdk-64", {**base, "client": "sdk", "concurrency": 64,
                                                "time_box": cfg.slow_box}, lat))
    return out


def sweep(emu: EmulatorProcess, cfg: Config) -> list[dict[str, Any]]:
    out = []
    for lat in cfg.sweep_latencies:
        print(f"concurrency sweep at {lat:g} ms", flush=True)
        for c in cfg.sweep:
            for client in ("raw", "voxkv"):
                spec = {"client": client, "n": cfg.n, "concurrency": c,
                        "time_box": cfg.sweep_box}
                res = run_case(emu, client, spec, lat)
                res["sweep"] = True
                out.append(res)
    return out


def memory(emu: EmulatorProcess, cfg: Config) -> list[dict[str, Any]]:
    out = []
    print("memory: set_many over a generator, latency 0", flush=True)
    for n in cfg.mem_sizes:
        res = run_case(emu, f"memory-{n}", {"n": n, "concurrency": 64}, 0.0,
                       module="benchmarks.memory")
        if "peak_rss_growth_mb" in res:
            print(f"  {n:>9} items: peak RSS +{res['peak_rss_growth_mb']:.1f} MB, "
                  f"{res['items_per_s']:.0f} items/s, errors {res['errors']}", flush=True)
        elif "skipped" in res:
            print(f"  {n:>9} items: skipped ({res['skipped']})", flush=True)
        out.append(res)
    return out


# --- summarizing -----------------------------------------------------------------------


def _med(xs: list[float | None]) -> float | None:
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else None


def summarize(cases: list[dict[str, Any]], latencies: list[float]) -> list[dict[str, Any]]:
    """One row per (label, latency) of the 64-in-flight matrix; repeats folded by median."""
    rows = []
    for lat in latencies:
        group = [c for c in cases if c["latency_ms"] == lat and not c.get("sweep")
                 and "total" in c]
        raws = [c for c in group if c["label"] == "raw"]
        raw_rate = _med([c["total"]["calls_per_s"] for c in raws])
        raw_cpu = _med([c["total"]["cpu_s_per_1000"] for c in raws])
        labels = list(dict.fromkeys(c["label"] for c in group))
        for label in labels:
            runs = [c for c in group if c["label"] == label]
            t = [c["total"] for c in runs]
            row: dict[str, Any] = {
                "label": label,
                "latency_ms": lat,
                "runs": len(runs),
                "calls": sum(x["calls"] for x in t),
                "calls_per_s": _med([x["calls_per_s"] for x in t]),
                "calls_per_s_min": min(x["calls_per_s"] for x in t),
                "calls_per_s_max": max(x["calls_per_s"] for x in t),
                "p50_ms": _med([x["p50_ms"] for x in t]),
                "p99_ms": _med([x["p99_ms"] for x in t]),
                "cpu_s_per_1000": _med([x["cpu_s_per_1000"] for x in t]),
                "server_cpu_s_per_1000": _med([c["server_cpu_s_per_1000"] for c in runs]),
                "connections": max(c["server"]["connections"] for c in runs),
                "distinct_tokens": max(c["server"]["distinct_tokens"] for c in runs),
                "signings": max(c.get("client_stats", {}).get("token_signings", 0) or 0
                                for c in runs),
                "errors": sum(x["errors"] for x in t),
                "time_boxed": any(x["time_boxed"] for x in t),
            }
            if label == "voxkv" and raws:
                # Paired ratios: each voxkv run against the raw run just before it.
                pairs = [(r, v) for r in raws for v in runs if v.get("repeat") == r.get("repeat")]
                row["rate_ratio"] = _med([v["total"]["calls_per_s"] / r["total"]["calls_per_s"]
                                          for r, v in pairs])
                row["cpu_ratio"] = _med([v["total"]["cpu_s_per_1000"]
                                         / r["total"]["cpu_s_per_1000"] for r, v in pairs])
            else:
                row["rate_ratio"] = (row["calls_per_s"] / raw_rate) if raw_rate else None
                row["cpu_ratio"] = (row["cpu_s_per_1000"] / raw_cpu
                                    if raw_cpu and row["cpu_s_per_1000"] else None)
            rows.append(row)
    return rows


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "–" if x is None else format(x, fmt)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| client | latency | calls | calls/s | ×raw | p50 ms | p99 ms "
            "| client CPU s/1k calls | ×raw | server CPU s/1k | new conns "
            "| tokens seen | signings | errors |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        calls = f"{r['calls']}" + (" ⏱" if r["time_boxed"] else "")
        if r["runs"] > 1:
            calls += f" ({r['runs']} runs)"
        lines.append(
            f"| {LABELS.get(r['label'], r['label'])} | {r['latency_ms']:g} ms | {calls} "
            f"| {_f(r['calls_per_s'], '.0f')} | {_f(r['rate_ratio'], '.2f')} "
            f"| {_f(r['p50_ms'])} | {_f(r['p99_ms'])} "
            f"| {_f(r['cpu_s_per_1000'], '.3f')} | {_f(r['cpu_ratio'], '.2f')} "
            f"| {_f(r['server_cpu_s_per_1000'], '.3f')} | {r['connections']} "
            f"| {r['distinct_tokens']} | {r['signings']} | {r['errors']} |"
        )
    return "\n".join(lines)


def sweep_rows(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in cases:
        if c.get("sweep") and "total" in c:
            t = c["total"]
            rows.append({"client": c["label"], "latency_ms": c["latency_ms"],
                         "concurrency": c["concurrency"], "calls": t["calls"],
                         "calls_per_s": t["calls_per_s"], "p50_ms": t["p50_ms"],
                         "p99_ms": t["p99_ms"], "cpu_s_per_1000": t["cpu_s_per_1000"],
                         "connections": c["server"]["connections"], "errors": t["errors"]})
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| latency | in flight | raw calls/s | voxkv calls/s | ×raw | raw p50 ms "
             "| voxkv p50 ms | raw CPU s/1k | voxkv CPU s/1k | conns (raw/voxkv) | errors |",
             "|" + "---|" * 11]
    keys = sorted({(r["latency_ms"], r["concurrency"]) for r in rows})
    for lat, c in keys:
        raw = next((r for r in rows if r["client"] == "raw"
                    and (r["latency_ms"], r["concurrency"]) == (lat, c)), None)
        vox = next((r for r in rows if r["client"] == "voxkv"
                    and (r["latency_ms"], r["concurrency"]) == (lat, c)), None)
        if raw is None or vox is None:
            continue
        lines.append(
            f"| {lat:g} ms | {c} | {raw['calls_per_s']:.0f} | {vox['calls_per_s']:.0f} "
            f"| {vox['calls_per_s'] / raw['calls_per_s']:.2f} | {_f(raw['p50_ms'])} "
            f"| {_f(vox['p50_ms'])} | {_f(raw['cpu_s_per_1000'], '.3f')} "
            f"| {_f(vox['cpu_s_per_1000'], '.3f')} "
            f"| {raw['connections']}/{vox['connections']} | {raw['errors'] + vox['errors']} |"
        )
    return "\n".join(lines)


def memory_table(mem: list[dict[str, Any]]) -> str:
    lines = ["| items | peak RSS growth MB | ru_maxrss growth MB | items/s "
             "| client CPU s/1k | errors |", "|" + "---|" * 6]
    for m in mem:
        if "peak_rss_growth_mb" not in m:
            lines.append(f"| {m.get('n', '?')} | skipped: {m.get('skipped') or 'failed'} "
                         "| | | | |")
            continue
        lines.append(f"| {m['n']:,} | {m['peak_rss_growth_mb']:.1f} "
                     f"| {m['maxrss_growth_mb']:.1f} | {m['items_per_s']:.0f} "
                     f"| {m['cpu_s_per_1000']:.3f} | {m['errors']} |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]], mem: list[dict[str, Any]]) -> str:
    """The issue's targets against what was measured."""
    def get(label: str, lat: float) -> dict[str, Any] | None:
        return next((r for r in rows if r["label"] == label and r["latency_ms"] == lat), None)

    out = []
    for lat, want in ((0.0, 0.9), (20.0, 0.95)):
        v = get("voxkv", lat)
        if v and v["rate_ratio"] is not None:
            ok = "met" if v["rate_ratio"] >= want else "NOT met"
            out.append(f"- calls/s voxkv/raw at {lat:g} ms: {v['rate_ratio']:.3f} "
                       f"(target ≥ {want}): {ok}")
    for lat in (0.0, 20.0):
        v = get("voxkv", lat)
        if v and v["cpu_ratio"] is not None:
            ok = "met" if v["cpu_ratio"] <= 1.15 else "NOT met"
            out.append(f"- client CPU per call voxkv/raw at {lat:g} ms: {v['cpu_ratio']:.3f} "
                       f"(target ≤ 1.15): {ok}")
    for lat in (0.0, 20.0):
        v, s = get("voxkv", lat), get("sdk-64", lat)
        if v and s and s["calls_per_s"]:
            x = v["calls_per_s"] / s["calls_per_s"]
            out.append(f"- voxkv vs official SDK (64 threads) at {lat:g} ms: {x:.0f}× "
                       f"(target ≥ 100×): {'met' if x >= 100 else 'NOT met'}")
    for lat in (0.0, 20.0):
        v = get("voxkv", lat)
        if v:
            ok = v["distinct_tokens"] == 1 and v["connections"] <= 100
            out.append(f"- voxkv at {lat:g} ms: {v['distinct_tokens']} token(s), "
                       f"{v['connections']} connections (pool limit 100): "
                       f"{'met' if ok else 'NOT met'}")
    done = [m for m in mem if "peak_rss_growth_mb" in m]
    if len(done) >= 2:
        small, big = min(done, key=lambda m: m["n"]), max(done, key=lambda m: m["n"])
        g_s, g_b = small["peak_rss_growth_mb"], big["peak_rss_growth_mb"]
        within = abs(g_b - g_s) <= max(0.1 * g_s, 1.0)
        out.append(f"- set_many {big['n']:,} items: peak RSS growth {g_b:.1f} MB "
                   f"(target < 64 MB: {'met' if g_b < 64 else 'NOT met'}); vs {small['n']:,} "
                   f"items {g_s:.1f} MB (target within 10%, or 1 MB of noise: "
                   f"{'met' if within else 'NOT met'})")
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    lats = sorted({r["latency_ms"] for r in rows})
    fig, axes = plt.subplots(1, len(lats), figsize=(6 * len(lats), 4.5), squeeze=False)
    for ax, lat in zip(axes[0], lats, strict=True):
        for client, style in (("raw", "o--"), ("voxkv", "s-")):
            pts = sorted((r["concurrency"], r["calls_per_s"]) for r in rows
                         if r["client"] == client and r["latency_ms"] == lat)
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, label="raw aiohttp" if client == "raw"
                        else "voxkv_async", linewidth=2)
        ax.set_xscale("log", base=2)
        ys_all = [r["calls_per_s"] for r in rows if r["latency_ms"] == lat and r["calls_per_s"]]
        if ys_all and max(ys_all) > 10 * min(ys_all):
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(sorted({r["concurrency"] for r in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_yaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("calls in flight")
        ax.set_ylabel("calls/s")
        ax.set_title(f"added latency {lat:g} ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def update_readme(block: str) -> None:
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if not README.exists():
        return
    text = README.read_text()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{block}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    p.add_argument("--n", type=int, help="calls per phase (Set, then Get)")
    p.add_argument("--repeats", type=int, help="interleaved raw/voxkv pairs per latency")
    p.add_argument("--slow-box", type=float, help="time box per phase for the SDK and naive")
    p.add_argument("--sweep-box", type=float, help="time box per phase in the sweep")
    p.add_argument("--mem-sizes", help="comma-separated set_many sizes (default 10000,1000000)")
    p.add_argument("--no-uvloop", action="store_true", help="skip the uvloop rows")
    p.add_argument("--skip", help="comma-separated: sdk,naive,set_many,sweep,memory")
    p.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    p.add_argument("--replot", metavar="JSON", help="only redraw the plot of a results file")
    a = p.parse_args(argv)
    if a.replot:
        doc = json.loads(Path(a.replot).read_text())
        png = Path(a.replot).with_name(f"sweep-{Path(a.replot).stem}.png")
        m = doc["machine"]
        plot(doc["sweep"], png, f"voxkv_async vs raw aiohttp, {m['cores']} cores ({m['cpu']})")
        print(f"wrote {png}")
        return 0
    cfg = Config(a)
    RESULTS.mkdir(exist_ok=True)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
          f"load {info['loadavg_at_start'][0]:.2f}", flush=True)
    t0 = time.perf_counter()
    with EmulatorProcess() as emu:
        print(f"emulator: {emu.base_url} (pid {emu.pid}, "
              f"{'voxkv emulator CLI' if emu.use_cli else 'benchmarks._serve'})", flush=True)
        cases = main_matrix(emu, cfg)
        if "sweep" not in cfg.skip:
            cases += sweep(emu, cfg)
        mem = memory(emu, cfg) if "memory" not in cfg.skip else []
        emulator_cmd = " ".join(emu.command()[1:])
    elapsed = time.perf_counter() - t0
    rows = summarize(cases, cfg.latencies)
    srows = sweep_rows(cases)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "quick" if cfg.quick else "latest"
    png = RESULTS / f"sweep-{name}.png"
    plotted = plot(srows, png, f"voxkv_async vs raw aiohttp, {info['cores']} cores "
                               f"({info['cpu']})") if srows else False
    md = [
        f"Run {stamp}{' (--quick)' if cfg.quick else ''} in {elapsed:.0f} s on {info['cpu']}, "
        f"{info['cores']} cores, {info['mem_gb']} GB, {info['os']}, Python {info['python']}, "
        f"aiohttp {info['versions']['aiohttp']}, voxkv_async at git {info['git_head']}; "
        f"load average at start "
        f"{info['loadavg_at_start'][0]:.2f}. Emulator: `{emulator_cmd}` (TLS, own process). "
        f"N = {cfg.n} Set then {cfg.n} Get per contender; ⏱ = time-boxed "
        f"({cfg.slow_box:g} s per phase); voxkv/raw: median of {cfg.repeats} interleaved "
        "pairs.",
        "",
        "**64 calls in flight**",
        "",
        table(rows),
        "",
        "**Concurrency sweep** (each phase time-boxed to "
        f"{cfg.sweep_box:g} s)",
        "",
        sweep_table(srows),
        "",
    ]
    if plotted:
        md += [f"![concurrency sweep](results/{png.name})", ""]
    md += ["**Memory: set_many over a generator (latency 0, 64 in flight)**", "",
           memory_table(mem), "", "**Targets of issue 5**", "", targets(rows, mem)]
    text = "\n".join(md)
    print()
    print(text)
    doc = {"machine": info, "config": cfg.to_json(), "elapsed_s": elapsed,
           "emulator": emulator_cmd, "summary": rows, "sweep": srows, "memory": mem,
           "cases": cases, "markdown": text}
    for path in (RESULTS / f"{name}.json", RESULTS / f"{name}.md"):
        path.write_text(json.dumps(doc, indent=1) if path.suffix == ".json" else text + "\n")
    if not cfg.quick:
        (RESULTS / f"run-{stamp}.json").write_text(json.dumps(doc, indent=1))
        if not a.no_readme:
            update_readme(text)
    print(f"\nwrote {RESULTS / (name + '.json')}, {RESULTS / (name + '.md')}"
          + (f", {png}" if plotted else ""))
    bad = sum(r["errors"] for r in rows) + sum(r["errors"] for r in srows)
    failed = [c["label"] for c in cases + mem if "failed" in c]
    if failed:
        print(f"failed cases: {failed}", file=sys.stderr)
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
