"""``voxkv demo``: the client against the embedded emulator, end to end, with a summary.

The demo writes its keys with ``set_many`` (the bulk engine: pacing, retries, pauses),
reads them back one ``get`` at a time as a web service would (timed: the latency
percentiles), lists them with ``iter_items`` and deletes them with ``delete_many``; then
it checks the store and says what happened: throttles, pauses, retries, signings.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable
from typing import IO, Any, TypeVar

import attrs

from .._bulk import AdaptiveRate, BulkReport
from .._client import VoxKV
from .._retry import RetryPolicy
from ..emulator import Emulator, Faults
from ._emulator import duration
from ._runner import run_coroutine

__all__ = ["DEMO_RETRY", "DemoOptions", "register_demo", "run_demo"]

T = TypeVar("T")
PREFIX = "demo:"
# The demo's single calls: more attempts than the default, and no retry budget. The
# budget protects a real server from retry storms; this one is local, and the demo is
# meant to show retries hiding even 30 % of requests failing.
DEMO_RETRY = RetryPolicy(max_attempts=10, budget_capacity=0)


@attrs.frozen
class DemoOptions:
    """What ``voxkv demo`` does.

    Attributes:
        keys: How many keys to write, read, list and delete.
        concurrency: How many calls are in flight at once.
        latency: Latency the emulator adds to every answer, in seconds.
        fault_rate: Fraction of requests that fail, shared between the fault kinds
            (:meth:`Faults.spread`): the client's retries should hide them all.
        rate_limit: A server-side rate limit for the emulator, requests/s (answered
            with code 340): the bulk writes' pacer finds and follows it.
        seed: Seeds the values and the faults.
    """

    keys: int = attrs.field(default=3000, validator=attrs.validators.ge(1))
    concurrency: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    fault_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    rate_limit: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    seed: int | None = None


@attrs.define
class _Timer:
    """Per-call latencies and failures of the single calls."""

    latencies: list[float] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)

    async def timed(self, call: Awaitable[T]) -> T | None:
        started = time.perf_counter()
        try:
            return await call
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none raised
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.latencies.append(time.perf_counter() - started)


def _emulator(options: DemoOptions) -> Emulator:
    faults = Faults.spread(options.fault_rate, latency=options.latency)
    extra: dict[str, Any] = {}
    if options.rate_limit is not None:
        from ..emulator import RateLimit

        extra["rate_limit"] = RateLimit(rate=options.rate_limit)
    return Emulator(tls=True, seed=options.seed, faults=faults, **extra)


async def run_demo(options: DemoOptions, out: IO[str] | None = None) -> bool:
    """Run the demo, print its summary to ``out`` (stdout); whether every check passed."""
    out = out if out is not None else sys.stdout
    rng = random.Random(options.seed)
    data = {
        f"{PREFIX}{i:06d}": f"value-{i}-{rng.getrandbits(64):016x}" for i in range(options.keys)
    }
    timer, problems, reports = _Timer(), [], []
    async with (
        _emulator(options) as emu,
        VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
              ssl=emu.ssl_context, retry=DEMO_RETRY) as kv,
    ):
        print(f"voxkv demo: {options.keys} keys, concurrency {options.concurrency}, "
              f"emulator at {emu.base_url}", file=out)
        started = time.perf_counter()
        pacer = AdaptiveRate()
        reports.append(await _bulk_phase(out, "write", kv.set_many(
            data, concurrency=options.concurrency, adaptive=pacer, report=BulkReport())))
        if pacer.enabled:
            print(f"  pacer: {pacer!r}", file=out)
        problems += await _read_back(kv, data, timer, options.concurrency, out)
        listed = await _list_all(kv, timer, out)
        if listed != data:
            problems.append(f"listing found {len(listed)} of {len(data)} pairs, or other values")
        reports.append(await _bulk_phase(out, "delete", kv.delete_many(
            list(data), concurrency=options.concurrency)))
        left = emu.items()
        if left:
            problems.append(f"{len(left)} keys left after deleting them all")
        _summary(out, timer, time.perf_counter() - started, kv, emu, reports)
    problems[:0] = _failure_lines(timer.failures, reports)
    for problem in problems:
        print(f"  FAILED: {problem}", file=out)
    if not problems:
        print("  OK: every value read back and listed as written, nothing left after delete",
              file=out)
    return not problems


async def _bulk_phase(out: IO[str], name: str, run: Awaitable[BulkReport]) -> BulkReport:
    report = await run
    extra = []
    if report.throttled:
        extra.append(f"{report.throttled} throttled")
    if report.pauses:
        extra.append(f"{report.pauses} pauses ({report.paused_seconds:.1f} s)")
    print(f"  {name:<7}{report.total:>7} items {report.elapsed:7.2f} s "
          f"{report.throughput:9.0f} items/s; {report.retried} retried"
          + "".join(f", {e}" for e in extra), file=out)
    return report


async def _read_back(kv: VoxKV, data: dict[str, str], timer: _Timer, concurrency: int,
                     out: IO[str]) -> list[str]:
    """Every key read with a timed single ``get``, as a web service would."""
    semaphore = asyncio.Semaphore(concurrency)

    async def read(key: str) -> Any:
        async with semaphore:
            return await timer.timed(kv.get(key))

    t0 = time.perf_counter()
    items = await asyncio.gather(*(read(k) for k in data))
    elapsed = time.perf_counter() - t0
    print(f"  {'read':<7}{len(data):>7} calls {elapsed:7.2f} s "
          f"{len(data) / elapsed:9.0f} calls/s", file=out)
    wrong = sum(1 for k, item in zip(data, items, strict=True)
                if item is None or item.value != data[k])
    return [f"{wrong} values did not read back as written"] if wrong else []


async def _list_all(kv: VoxKV, timer: _Timer, out: IO[str]) -> dict[str, str]:
    """Every pair under the demo prefix, walked page by page with ``kv.iter_items``."""
    t0 = time.perf_counter()
    listed: dict[str, str] = {}

    async def walk() -> None:
        async for item in kv.iter_items(PREFIX):
            listed[item.key] = item.value

    await timer.timed(walk())
    print(f"  {'list':<7}{len(listed):>7} items {time.perf_counter() - t0:7.2f} s", file=out)
    return listed


def _summary(out: IO[str], timer: _Timer, total: float, kv: VoxKV, emu: Emulator,
             reports: list[BulkReport]) -> None:
    lat = sorted(timer.latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    calls = kv.stats.calls
    faults = ", ".join(f"{k} {n}" for k, n in sorted(emu.stats.faults.items()) if k != "latency")
    stats = kv.stats
    throttled = sum(r.throttled for r in reports)
    pauses = sum(r.pauses for r in reports)
    print(f"  total  {calls:>7} calls {total:7.2f} s {calls / total:9.0f} calls/s; "
          f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (single gets)", file=out)
    print(f"  client: {stats.requests} HTTP requests, {throttled} throttled, {pauses} pauses, "
          f"{stats.retries} retries, {stats.token_signings} token signings", file=out)
    print(f"  emulator: {emu.stats.connections} new connections, "
          f"{emu.stats.distinct_tokens} distinct tokens, "
          f"{emu.stats.signature_checks} signature checks, faults injected: {faults or 'none'}",
          file=out)


def _failure_lines(failures: list[str], reports: list[BulkReport]) -> list[str]:
    lines = []
    if failures:
        shown = "; ".join(sorted(set(failures))[:3])
        lines.append(f"{len(failures)} calls failed ({shown})")
    for report in reports:
        if report.failed:
            shown = "; ".join(sorted({type(f.error).__name__ for f in report.failures}))
            lines.append(f"{report.operation}: {report.failed} items failed ({shown})")
    return lines


# --- the command -----------------------------------------------------------------


def register_demo(subparsers: Any) -> None:
    """Add ``voxkv demo``."""
    p = subparsers.add_parser(
        "demo",
        help="write, read, list and delete keys through VoxKV against the embedded emulator",
        description="Start the emulator (TLS), write keys with set_many, read them back with "
        "single gets, list them and delete them with delete_many; print throughput, "
        "latency, retries, throttles, pauses and token signings. The demo's client retries "
        "a call up to 10 times with no retry budget (the emulator is local). Exit code 0 "
        "when every check passed.",
    )
    p.add_argument("--keys", type=int, default=3000, help="how many keys (default: %(default)s)")
    p.add_argument(
        "--concurrency", type=int, default=64, help="calls in flight (default: %(default)s)"
    )
    p.add_argument(
        "--latency", type=duration, default=0.0, metavar="SECONDS",
        help="latency added by the emulator: seconds, or with a unit (20ms), as for "
        "voxkv emulator",
    )
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of requests that fail (503, 429, codes 2/340/416, dropped "
        "connections); the retries should hide them",
    )
    p.add_argument(
        "--rate-limit", type=float, metavar="N",
        help="the emulator answers code 340 above N requests/s: watch the pacer follow it",
    )
    p.add_argument("--seed", type=int, help="seed for values and faults")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    try:
        options = DemoOptions(
            keys=args.keys,
            concurrency=args.concurrency,
            latency=args.latency,
            fault_rate=args.fault_rate,
            rate_limit=args.rate_limit,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"voxkv demo: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(_demo_ok(options), args)


async def _demo_ok(options: DemoOptions) -> int:
    """0 when every check of the demo passed, else 1."""
    return 0 if await run_demo(options) else 1
