"""The chaos suite's machinery: a write ledger, concurrent drivers, clocks, figures.

The invariant every scenario checks, per key (each key is written once, with a value
unique to that attempt, and maybe deleted once afterwards):

* a set the client reported as succeeded is in the store with exactly its value, unless
  a delete of it was reported succeeded afterwards (then it is absent): ``writes lost``;
* every key in the store was attempted, and holds the value attempted for it: ``phantom``;
* a set or delete that failed may or may not have been applied (the connection can drop
  after the server applied it): such keys are only counted, as ``ambiguous``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from voxkv_async import (
    ConnectError,
    IncompleteResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    VoxKV,
    VoxKVError,
)
from voxkv_async.emulator import Emulator

#: What a call may fail with under transport faults and outages: each says what happened.
MEANINGFUL = (
    ServerError,
    RateLimitedError,
    ConnectError,
    RequestTimeoutError,
    IncompleteResponseError,
)

#: Every scenario's figures, in run order; written out by conftest at session end.
FIGURES: list[dict[str, Any]] = []
REPORT_ENV = "VOXKV_CHAOS_REPORT"


class ScaledSleep:
    """The retry policy's sleep: records each requested wait, sleeps ``scale`` of it.

    The waits asked for (Retry-After, code 416's seconds, jittered backoff) are kept
    as the policy computed them, so tests can check they were honoured; only the time
    actually spent is shrunk, to keep the suite fast.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(seconds * self.scale)


class FastClock:
    """Unix time running ``speed`` times faster than real time, plus explicit jumps."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._t0 = time.monotonic()
        self._start = time.time() if start is None else start
        self.jumped = 0.0

    def __call__(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.speed + self.jumped

    def jump(self, seconds: float) -> None:
        self.jumped += seconds


@attrs.define
class Entry:
    value: str
    set_ok: bool | None = None  # None: not finished
    deleted: bool | None = None  # None: no delete attempted; else whether it succeeded


@attrs.define
class Ledger:
    """What the client was asked to do and what it reported, per key."""

    entries: dict[str, Entry] = attrs.field(factory=dict)
    failures: list[BaseException] = attrs.field(factory=list)
    calls: int = 0
    bad_reads: list[str] = attrs.field(factory=list)

    def check(self, store: dict[str, str]) -> dict[str, Any]:
        lost, phantom, ambiguous, resurrected = [], [], [], []
        for key, e in self.entries.items():
            present = key in store
            if present and store[key] != e.value:
                phantom.append(key)  # a value nobody wrote under this key
            if e.deleted:
                if present:
                    resurrected.append(key)  # reported deleted, yet there
            elif e.set_ok and e.deleted is None:
                if not present:
                    lost.append(key)  # reported written, not there
            elif present != bool(e.set_ok):
                # A failed set that was applied, or a failed delete that was: allowed.
                ambiguous.append(key)
        phantom += [k for k in store if k not in self.entries]
        return {
            "writes_ok": sum(1 for e in self.entries.values() if e.set_ok),
            "writes_lost": len(lost) + len(resurrected),
            "phantom": len(phantom),
            "ambiguous": len(ambiguous),
            "lost_keys": (lost + resurrected)[:10],
            "phantom_keys": phantom[:10],
        }


async def caller(
    kv: VoxKV,
    ledger: Ledger,
    prefix: str,
    ops: int,
    *,
    get_every: int = 3,
    delete_every: int = 7,
    pace: float = 0.0,
) -> None:
    """One concurrent caller: sets unique keys, reads some back, deletes some.

    Only :class:`VoxKVError` is caught: any other exception escapes and fails the test.
    """
    for i in range(ops):
        key = f"{prefix}:{i}"
        value = f"val|{prefix}|{i}|{secrets.token_hex(6)}"
        entry = ledger.entries[key] = Entry(value)
        ledger.calls += 1
        try:
            item = await kv.set(key, value)
        except VoxKVError as exc:
            entry.set_ok = False
            ledger.failures.append(exc)
        else:
            entry.set_ok = True
            if item.key != key or item.value != value:
                ledger.bad_reads.append(f"set {key} echoed another item")
        if get_every and i % get_every == get_every - 1:
            await _read_back(kv, ledger, f"{prefix}:{i - 1}" if i else key)
        if delete_every and i % delete_every == delete_every - 1:
            victim = ledger.entries[f"{prefix}:{i - 2}"]
            ledger.calls += 1
            try:
                await kv.delete(f"{prefix}:{i - 2}")
            except VoxKVError as exc:
                victim.deleted = False
                ledger.failures.append(exc)
            else:
                victim.deleted = True
        if pace:
            await asyncio.sleep(pace)


async def _read_back(kv: VoxKV, ledger: Ledger, key: str) -> None:
    entry = ledger.entries[key]
    ledger.calls += 1
    try:
        item = await kv.get(key)
    except VoxKVError as exc:
        ledger.failures.append(exc)
        return
    if entry.deleted:
        ok = item is None
    elif entry.set_ok:
        ok = item is not None and item.value == entry.value
    else:
        ok = item is None or item.value == entry.value
    if not ok:
        ledger.bad_reads.append(f"get {key}: {'nothing' if item is None else 'wrong value'}")


async def run_callers(
    kv: VoxKV, ledger: Ledger, tag: str, callers: int, ops: int, **kw: Any
) -> None:
    await asyncio.gather(*(caller(kv, ledger, f"{tag}:c{c}", ops, **kw) for c in range(callers)))


def faults_injected(emu: Emulator) -> dict[str, int]:
    return {k: v for k, v in emu.stats.faults.items() if k != "latency"}


def open_server_connections(emu: Emulator) -> int:
    """Connections the emulator still holds open (0 when stopped)."""
    return emu.open_connections


async def assert_clean_shutdown(
    kv: VoxKV, emu: Emulator | None, baseline_tasks: set[asyncio.Task[Any]]
) -> None:
    """After ``kv.close()``: no session, connection or task left, no ResourceWarning."""
    assert kv.closed
    assert kv.transport._session is None
    if emu is not None and emu.running:
        for _ in range(100):
            if open_server_connections(emu) == 0:
                break
            await asyncio.sleep(0.01)
        assert open_server_connections(emu) == 0, "client closed, server still has connections"
    for _ in range(100):
        extra = asyncio.all_tasks() - baseline_tasks
        if not extra:
            break
        await asyncio.sleep(0.01)
    assert not (asyncio.all_tasks() - baseline_tasks), asyncio.all_tasks() - baseline_tasks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


def check_failures(failures: list[BaseException], allowed: tuple[type, ...] = MEANINGFUL
                   ) -> Counter[str]:
    """Every failure is one of ``allowed`` and says what call it was; their counts."""
    kinds: Counter[str] = Counter()
    for exc in failures:
        assert isinstance(exc, allowed), f"{type(exc).__name__}: {exc}"
        assert str(exc), f"{type(exc).__name__} with no message"
        kinds[type(exc).__name__] += 1
    return kinds


class MemoryProbe:
    """tracemalloc snapshots between rounds, to show memory does not grow with rounds."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._started = False

    def __enter__(self) -> MemoryProbe:
        if not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            tracemalloc.stop()

    def sample(self) -> int:
        """Traced bytes now, TLS socket buffers left out (they scale with the pool)."""
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [
                tracemalloc.Filter(False, "*/asyncio/sslproto.py"),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
                tracemalloc.Filter(False, tracemalloc.__file__),
            ]
        )
        size = sum(stat.size for stat in snapshot.statistics("filename"))
        self.samples.append(size)
        return size


def record(scenario: str, started: float, kv: VoxKV, emu_faults: Counter[str] | dict[str, int],
           ledger_checks: list[dict[str, Any]], failures: Counter[str], calls: int,
           **extra: Any) -> dict[str, Any]:
    """Keep and print one scenario's figures."""
    fig = {
        "scenario": scenario,
        "calls": calls,
        "requests": kv.stats.requests,
        "faults_injected": sum(emu_faults.values()),
        "faults_by_kind": dict(sorted(emu_faults.items())),
        "retries": kv.stats.retries,
        "auth_retries": kv.stats.auth_retries,
        "token_signings": kv.stats.token_signings,
        "budget_exhausted": kv.stats.budget_exhausted,
        "failures": sum(failures.values()),
        "failures_by_type": dict(sorted(failures.items())),
        "writes_ok": sum(c["writes_ok"] for c in ledger_checks),
        "writes_lost": sum(c["writes_lost"] for c in ledger_checks),
        "phantom_writes": sum(c["phantom"] for c in ledger_checks),
        "ambiguous_applied": sum(c["ambiguous"] for c in ledger_checks),
        "wall_s": round(time.perf_counter() - started, 2),
        **extra,
    }
    FIGURES.append(fig)
    print(f"\n[chaos] {json.dumps(fig, sort_keys=False)}")
    return fig


def write_report() -> str | None:
    path = os.environ.get(REPORT_ENV)
    if not path or not FIGURES:
        return None
    with open(path, "w", encoding="utf-8") as f:
        json.dump(FIGURES, f, indent=2)
    return path


def table() -> str:
    cols = ("scenario", "calls", "faults_injected", "retries", "failures", "writes_lost",
            "phantom_writes", "ambiguous_applied", "wall_s")
    heads = ("scenario", "calls", "faults", "retries", "failures", "lost", "phantom",
             "ambiguous", "wall s")
    rows = [[str(f.get(c, "")) for c in cols] for f in FIGURES]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


Scenario = Callable[..., Awaitable[None]]
