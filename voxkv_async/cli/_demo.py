"""``voxkv demo``: the client against the embedded emulator, end to end, with a summary."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import IO, Any, TypeVar

import attrs

from .._client import VoxKV
from ..emulator import Emulator, Faults
from ._runner import run_coroutine

__all__ = ["DemoOptions", "register_demo", "run_demo"]

T = TypeVar("T")
PREFIX = "demo:"


@attrs.frozen
class DemoOptions:
    """What ``voxkv demo`` does.

    Attributes:
        keys: How many keys to write, read, list and delete.
        concurrency: How many calls are in flight at once.
        latency_ms: Latency the emulator adds to every answer, in milliseconds.
        fault_rate: Fraction of requests that fail, shared between the fault kinds
            (:meth:`Faults.spread`): the client's retries should hide them all.
        seed: Seeds the values and the faults.
    """

    keys: int = attrs.field(default=3000, validator=attrs.validators.ge(1))
    concurrency: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    latency_ms: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    fault_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    seed: int | None = None


@attrs.define
class _Timer:
    """Per-call latencies and failures of the whole run."""

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


async def run_demo(options: DemoOptions, out: IO[str] | None = None) -> bool:
    """Run the demo, print its summary to ``out`` (stdout); whether every check passed."""
    out = out if out is not None else sys.stdout
    faults = Faults.spread(options.fault_rate, latency=options.latency_ms / 1000)
    rng = random.Random(options.seed)
    data = {
        f"{PREFIX}{i:06d}": f"value-{i}-{rng.getrandbits(64):016x}" for i in range(options.keys)
    }
    timer, problems = _Timer(), []
    async with (
        Emulator(tls=True, seed=options.seed, faults=faults) as emu,
        VoxKV(
            emu.credentials,
            application_id=emu.application_id,
            base_url=emu.base_url,
            ssl=emu.ssl_context,
        ) as kv,
    ):
        print(
            f"voxkv demo: {options.keys} keys, concurrency {options.concurrency}, "
            f"emulator at {emu.base_url}",
            file=out,
        )
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(options.concurrency)

        async def bounded(call: Callable[[], Awaitable[Any]]) -> Any:
            async with semaphore:
                return await timer.timed(call())

        async def phase(name: str, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
            t0 = time.perf_counter()
            results = await asyncio.gather(*(bounded(c) for c in calls))
            elapsed = time.perf_counter() - t0
            print(
                f"  {name:<7}{len(calls):>7} calls {elapsed:7.2f} s "
                f"{len(calls) / elapsed:9.0f} calls/s",
                file=out,
            )
            return results

        await phase("write", [partial(kv.set, k, v) for k, v in data.items()])
        read = await phase("read", [partial(kv.get, k) for k in data])
        wrong = sum(
            1 for k, item in zip(data, read, strict=True) if item is None or item.value != data[k]
        )
        if wrong:
            problems.append(f"{wrong} values did not read back as written")
        listed = await _list_all(kv, timer, out)
        if listed != data:
            problems.append(f"listing found {len(listed)} of {len(data)} pairs, or other values")
        await phase("delete", [partial(kv.delete, k) for k in data])
        left = emu.items()
        if left:
            problems.append(f"{len(left)} keys left after deleting them all")
        total = time.perf_counter() - started
        _summary(out, timer, total, kv.stats, emu)
    problems[:0] = _failure_lines(timer.failures)
    for problem in problems:
        print(f"  FAILED: {problem}", file=out)
    if not problems:
        print(
            "  OK: every value read back and listed as written, nothing left after delete", file=out
        )
    return not problems


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


def _summary(out: IO[str], timer: _Timer, total: float, stats: Any, emu: Emulator) -> None:
    lat = sorted(timer.latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    faults = ", ".join(f"{k} {n}" for k, n in sorted(emu.stats.faults.items()) if k != "latency")
    print(
        f"  total  {len(lat):>7} calls {total:7.2f} s {len(lat) / total:9.0f} calls/s; "
        f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        file=out,
    )
    print(
        f"  client: {stats.requests} HTTP requests, {stats.retries} retries, "
        f"{stats.token_signings} token signings",
        file=out,
    )
    print(
        f"  emulator: {emu.stats.connections} new connections, "
        f"{emu.stats.distinct_tokens} distinct tokens, "
        f"{emu.stats.signature_checks} signature checks, faults injected: {faults or 'none'}",
        file=out,
    )


def _failure_lines(failures: list[str]) -> list[str]:
    if not failures:
        return []
    shown = "; ".join(sorted(set(failures))[:3])
    return [f"{len(failures)} calls failed ({shown})"]


# --- the command -----------------------------------------------------------------


def register_demo(subparsers: Any) -> None:
    """Add ``voxkv demo``."""
    p = subparsers.add_parser(
        "demo",
        help="write, read, list and delete keys through VoxKV against the embedded emulator",
        description="Start the emulator (TLS), run a few thousand calls through the client "
        "and print calls, throughput, latency, retries and token signings. Exit code 0 when "
        "every check passed.",
    )
    p.add_argument("--keys", type=int, default=3000, help="how many keys (default: %(default)s)")
    p.add_argument(
        "--concurrency", type=int, default=64, help="calls in flight (default: %(default)s)"
    )
    p.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="latency added by the emulator, ms"
    )
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of requests that fail (503, 429, codes 2/340/416, dropped "
        "connections); the retries should hide them",
    )
    p.add_argument("--seed", type=int, help="seed for values and faults")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    try:
        options = DemoOptions(
            keys=args.keys,
            concurrency=args.concurrency,
            latency_ms=args.latency,
            fault_rate=args.fault_rate,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"voxkv demo: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(_demo_ok(options), args)


async def _demo_ok(options: DemoOptions) -> int:
    """0 when every check of the demo passed, else 1."""
    return 0 if await run_demo(options) else 1
