"""Chaos scenarios: the client against a misbehaving emulator, many callers at once.

Each scenario checks the write ledger against the emulator's final store (no write
lost, none invented), that every failure is a meaningful ``VoxKVError``, that nothing is
left open, and records its figures (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from voxkv_async import (
    ConnectError,
    Limits,
    RequestTimeoutError,
    RetryPolicy,
    Timeouts,
    TokenSettings,
    VoxKV,
)
from voxkv_async._bulk import set_many
from voxkv_async.emulator import FAULT_KINDS, Emulator, Faults

from ._harness import (
    Entry,
    FastClock,
    Ledger,
    MemoryProbe,
    ScaledSleep,
    assert_clean_shutdown,
    check_failures,
    faults_injected,
    record,
    run_callers,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(60)]

CALLERS = 32


def fault_mix(rate: float, **other: Any) -> Faults:
    """``rate`` of requests faulted, shared equally by every fault kind (slow included)."""
    share = rate / len(FAULT_KINDS)
    options: dict[str, Any] = {"retry_after": 1, "slow_seconds": 1.2, **other}
    return Faults(**dict.fromkeys(FAULT_KINDS, share), **options)


def client_for(
    emu: Emulator,
    *,
    sleep: Callable[[float], Any] | None = None,
    timeouts: Timeouts | None = None,
    clock: Callable[[], float] = time.time,
    tokens: TokenSettings | None = None,
    **retry: Any,
) -> VoxKV:
    policy = RetryPolicy(sleep=sleep, **retry) if sleep is not None else RetryPolicy(**retry)
    return VoxKV(
        emu.credentials,
        application_id=emu.application_id,
        base_url=emu.base_url,
        ssl=emu.ssl_context,
        # An attempt of 0.5 s: a loaded 2-core CI machine answers within it, and a "slow"
        # fault (1.2 s) still outlasts it.
        timeouts=timeouts or Timeouts(connect=1.0, attempt=0.5, deadline=4.0),
        limits=Limits(max_connections=64),
        retry=policy,
        clock=clock,
        tokens=tokens,
    )


def assert_ledger(check: dict[str, Any], ledger: Ledger) -> None:
    assert check["writes_lost"] == 0, f"acknowledged writes lost: {check['lost_keys']}"
    assert check["phantom"] == 0, f"keys or values nobody wrote: {check['phantom_keys']}"
    assert not ledger.bad_reads, ledger.bad_reads[:10]


# --- faulted requests, repeated rounds -------------------------------------------------


@attrs.define
class Rounds:
    """What repeated rounds of callers on one client added up to."""

    checks: list[dict[str, Any]] = attrs.field(factory=list)
    faults: Counter[str] = attrs.field(factory=Counter)
    failures: Counter[str] = attrs.field(factory=Counter)
    calls: int = 0

    async def play(self, kv: VoxKV, emu: Emulator, tag: str, callers: int) -> None:
        """One round: ``callers`` tasks of 6 writes and reads, checked against the store;
        then the emulator is reset (store and counters) while the client keeps going."""
        ledger = Ledger()
        await run_callers(kv, ledger, tag, callers, 6)
        check = ledger.check(emu.items())
        assert_ledger(check, ledger)
        self.checks.append(check)
        self.failures += check_failures(ledger.failures)
        self.faults += faults_injected(emu)
        self.calls += ledger.calls
        emu.reset()


@pytest.mark.parametrize("rate", [0.10, 0.30, 0.60])
async def test_fault_mix(rate: float) -> None:
    """Every fault kind at once, many callers, several rounds on one client."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    sleep = ScaledSleep(0.02)
    rounds = Rounds()
    async with Emulator(tls=True, seed=int(rate * 100), faults=fault_mix(rate)) as emu:
        kv = client_for(emu, sleep=sleep)
        async with kv:
            for r in range(3):
                await rounds.play(kv, emu, f"mix{r}", CALLERS)
        await assert_clean_shutdown(kv, emu, baseline)
    faults, calls = rounds.faults, rounds.calls
    fig = record(f"faults {rate:.0%}", started, kv, faults, rounds.checks, rounds.failures,
                 calls, rounds=len(rounds.checks),
                 longest_wait_asked_s=round(max(sleep.asked), 3))
    assert set(faults) == set(FAULT_KINDS), "every fault kind was exercised"
    assert fig["faults_injected"] >= rate * fig["requests"] * 0.6
    assert kv.stats.retries > 0
    assert kv.stats.calls == calls
    if rate <= 0.30:
        # Light faults: retries absorb nearly everything, and 429/416 waits were honoured.
        assert fig["failures"] <= 0.05 * calls, fig["failures_by_type"]
        assert any(w >= 1.0 for w in sleep.asked), "Retry-After/416 seconds not honoured"
    else:
        # Heavy faults: the retry budget caps the extra load instead of multiplying it.
        assert kv.stats.budget_exhausted > 0
        # (successes refund the budget, so more than 2 per call happen; 5 is the cap.)
        assert kv.stats.requests <= 3 * kv.stats.calls


async def test_memory_flat_across_rounds() -> None:
    """Round after round of faulted calls on one client: traced memory does not grow.

    tracemalloc slows everything several times, so this runs a lighter load with a
    longer attempt timeout; pooled TLS buffers (asyncio's sslproto, 256 KiB per
    connection, a number that varies with the faults) are left out of the measure.
    """
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    played = Rounds()
    rounds = 6
    timeouts = Timeouts(connect=2.0, attempt=1.0, deadline=8.0)
    with MemoryProbe() as memory:
        async with Emulator(tls=True, seed=17, faults=fault_mix(0.30, slow_seconds=1.5)) as emu:
            kv = client_for(emu, sleep=ScaledSleep(0.02), timeouts=timeouts)
            async with kv:
                for r in range(rounds):
                    await played.play(kv, emu, f"mem{r}", 8)
                    memory.sample()
            await assert_clean_shutdown(kv, emu, baseline)
    growth = memory.samples[-1] - memory.samples[1]
    record("memory rounds (30%)", started, kv, played.faults, played.checks, played.failures,
           played.calls, rounds=rounds,
           traced_bytes_by_round=memory.samples, growth_bytes=growth)
    # Rounds 3..6 repeat round 2's work: about 250 calls each. A leak of 1 KiB per call
    # would add 1 MB; pool and cache churn stay well below.
    assert growth < 1_000_000, memory.samples


# --- tokens and clocks -----------------------------------------------------------------


async def test_token_expires_mid_run() -> None:
    """A shared fast clock jumps past the token's lifetime while requests are in flight."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    clock = FastClock(speed=20.0)
    faults = fault_mix(0.10, latency=0.004, jitter=0.006)
    async with Emulator(tls=True, seed=7, faults=faults, clock=clock, token_clock=clock) as emu:
        kv = client_for(emu, sleep=ScaledSleep(0.02), clock=clock)
        ledger = Ledger()
        jumps = 0

        async def expire_tokens() -> None:
            # The next jump once the server saw a new token since the last: on a loaded
            # machine no request may get through for 0.15 s, and a jump that no request
            # saw needs no new token. A client that never re-signs gets no 3 jumps.
            nonlocal jumps
            tokens = 0
            while True:
                await asyncio.sleep(0.15)
                if emu.stats.distinct_tokens == tokens:
                    continue
                tokens = emu.stats.distinct_tokens
                clock.jump(3700)  # past exp for client and server alike
                jumps += 1

        async with kv:
            ticker = asyncio.create_task(expire_tokens())
            try:
                await run_callers(kv, ledger, "tok", CALLERS, 8)
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
        check = ledger.check(emu.items())
        failures = check_failures(ledger.failures)
        injected = faults_injected(emu)
        expired_in_flight = emu.stats.errors[456]
        distinct = emu.stats.distinct_tokens
        await assert_clean_shutdown(kv, emu, baseline)
    record("token expiry mid-run", started, kv, injected, [check], failures, ledger.calls,
           clock_jumps=jumps, tokens_distinct=distinct, code_456_answers=expired_in_flight)
    assert_ledger(check, ledger)
    assert jumps >= 3
    assert distinct >= jumps  # a new token after each jump (but perhaps the last)...
    assert kv.stats.token_signings <= 2 * (jumps + 1)  # ...signed once, not once per caller
    assert expired_in_flight >= 1, "no request was caught in flight by an expiry"
    assert kv.stats.auth_retries >= 1  # 456 answers were re-signed and repeated


@pytest.mark.parametrize(
    "skew", [30, -30, 600, -600, -3900], ids=["+30s", "-30s", "+10min", "-10min", "-65min"]
)
async def test_client_clock_skew(skew: int) -> None:
    """A client clock off by ``skew`` seconds still authenticates, learning the offset."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    async with Emulator(tls=True, seed=11, faults=fault_mix(0.10)) as emu:
        kv = client_for(emu, sleep=ScaledSleep(0.02), clock=lambda: time.time() + skew)
        ledger = Ledger()
        async with kv:
            await run_callers(kv, ledger, "skew", 16, 6)
        check = ledger.check(emu.items())
        failures = check_failures(ledger.failures)
        injected = faults_injected(emu)
        clock_errors = emu.stats.errors[455] + emu.stats.errors[456]
        await assert_clean_shutdown(kv, emu, baseline)
    offset = kv._tokens.clock_offset
    record(f"clock skew {skew:+d} s", started, kv, injected, [check], failures, ledger.calls,
           clock_error_answers=clock_errors, learned_offset_s=round(offset, 1))
    assert_ledger(check, ledger)
    assert "AuthenticationError" not in failures
    assert kv.stats.token_signings <= 3, "re-signing must be single-flight"
    if abs(skew) <= 600 and skew < 35:  # within the backdate/lifetime: nothing to correct
        assert clock_errors == 0
        assert offset == 0.0
    else:  # 455 or 456: the Date header of the answer corrects later tokens
        assert clock_errors >= 1
        assert abs(offset + skew) <= 3, offset


# --- the far side goes away ---------------------------------------------------------------


async def test_restart_mid_run() -> None:
    """The emulator stops and comes back on the same port; the pool recovers."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    async with Emulator(tls=True, seed=3, faults=fault_mix(0.10)) as emu:
        port = emu.port
        kv = client_for(emu)  # real backoff waits: retries must outlast the outage
        ledger = Ledger()
        injected: Counter[str] = Counter()

        async def bounce() -> None:
            await asyncio.sleep(0.4)
            injected.update(faults_injected(emu))
            await emu.stop()
            await asyncio.sleep(0.6)
            await emu.start()

        async with kv:
            await asyncio.gather(bounce(), run_callers(kv, ledger, "rs", CALLERS, 12, pace=0.02))
            assert emu.port == port
            assert emu.running
            connections_before = emu.stats.connections
            # After the run: with faults off every call must succeed on the first go.
            emu.faults = Faults()
            probe = Ledger()
            requests = kv.stats.requests
            await run_callers(kv, probe, "after", CALLERS, 2, get_every=0, delete_every=0)
            assert not probe.failures, probe.failures[:3]
            assert kv.stats.requests - requests == probe.calls, "stale pooled connections"
            assert emu.stats.connections > connections_before
        injected.update(faults_injected(emu))
        store = emu.items()
        checks = [ledger.check({k: v for k, v in store.items() if k.startswith("rs:")}),
                  probe.check({k: v for k, v in store.items() if k.startswith("after:")})]
        failures = check_failures(ledger.failures)
        await assert_clean_shutdown(kv, emu, baseline)
    record("restart mid-run", started, kv, injected, checks, failures,
           ledger.calls + probe.calls)
    for check in checks:
        assert_ledger(check, ledger)
    assert failures.get("ConnectError", 0) + kv.stats.retries > 0, "the outage went unseen"


@pytest.mark.parametrize("how", ["refused", "hanging"])
async def test_down_for_good(how: str) -> None:
    """Nobody answers: every call fails within its deadline, and no retry storm."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    deadline = 1.0
    timeouts = Timeouts(connect=0.2, attempt=0.25, deadline=deadline)
    async with Emulator(tls=True, seed=5) as emu:
        kv = client_for(emu, timeouts=timeouts)
        warm = Ledger()
        async with kv:
            await run_callers(kv, warm, "warm", 8, 2, get_every=0, delete_every=0)
            assert not warm.failures
            if how == "refused":
                await emu.stop()
            else:
                emu.faults = Faults(slow=1.0, slow_seconds=30)
            budget = kv.retry_budget.tokens
            requests, calls = kv.stats.requests, 160
            elapsed: list[float] = []
            errors: list[BaseException] = []

            async def one(i: int) -> None:
                t = time.perf_counter()
                call = (kv.get(f"warm:c0:{i % 2}") if i % 2
                        else kv.set(f"down:{i}", f"val|down|{i}|never-stored"))
                with pytest.raises((ConnectError, RequestTimeoutError)) as info:
                    await call
                elapsed.append(time.perf_counter() - t)
                errors.append(info.value)

            await asyncio.gather(*(one(i) for i in range(calls)))
            sent = kv.stats.requests - requests
        injected = faults_injected(emu)
        if emu.running:
            await emu.stop()
        store = emu.items()
        await assert_clean_shutdown(kv, None, baseline)
    cost = kv.retry_policy.retry_cost if how == "refused" else kv.retry_policy.timeout_cost
    allowance = budget // cost
    failures = check_failures(errors)
    check = warm.check({k: v for k, v in store.items() if k.startswith("warm:")})
    record(f"down for good ({how})", started, kv, injected, [check], failures,
           calls + warm.calls, requests_during_outage=sent, retry_allowance=allowance,
           slowest_call_s=round(max(elapsed), 3))
    assert_ledger(check, warm)
    assert not [k for k in store if k.startswith("down:")]
    # The margin is for 160 concurrent calls on a loaded 2-core CI machine.
    assert max(elapsed) <= deadline + 1.0, "a call outlived its deadline"
    assert sent <= calls + allowance, "retries beyond the client-wide budget: a retry storm"
    assert kv.stats.budget_exhausted > 0
    # Every error says why the client stopped: a "gave up ..." note from the retry policy,
    # or the deadline that passed. (All are ConnectError or RequestTimeoutError already.)
    for exc in errors:
        notes = getattr(exc, "__notes__", [])
        assert any(note.startswith("gave up") for note in notes) or (
            isinstance(exc, RequestTimeoutError) and "deadline" in str(exc)
        ), f"{type(exc).__name__}: {exc} {notes}"


# --- bulk under faults --------------------------------------------------------------------


async def test_set_many_under_faults() -> None:
    """set_many: items not in the failures are stored with their values; failures are
    meaningful; every item is accounted for."""
    baseline = asyncio.all_tasks()
    started = time.perf_counter()
    items = {f"bulk:{i}": f"val|bulk|{i}|{i * 7919 % 10007}" for i in range(800)}
    async with Emulator(tls=True, seed=13, faults=fault_mix(0.30)) as emu:
        kv = client_for(emu, sleep=ScaledSleep(0.02))
        async with kv:
            # adaptive=False: this checks the ledger, not the pacing (see the report).
            report = await set_many(kv, items, concurrency=48, adaptive=False)
        store = emu.items()
        injected = faults_injected(emu)
        await assert_clean_shutdown(kv, emu, baseline)
    failed = {f.item[0] for f in report.failures}  # type: ignore[index]
    ledger = Ledger()
    for key, value in items.items():
        entry = ledger.entries.setdefault(key, Entry(value))
        entry.set_ok = key not in failed
    check = ledger.check(store)
    failures = check_failures([f.error for f in report.failures])
    record("set_many 30% faults", started, kv, injected, [check], failures, report.total)
    assert report.total == len(items)
    assert report.succeeded + report.failed == report.total
    assert report.failed == len(report.failures)
    assert_ledger(check, ledger)


async def test_figures_are_recorded() -> None:
    """Sanity of the harness itself: a clean run reports what it did."""
    baseline = asyncio.all_tasks()
    async with Emulator(tls=True) as emu:
        kv = client_for(emu)
        ledger = Ledger()
        async with kv:
            await run_callers(kv, ledger, "clean", 4, 3)
        check = ledger.check(emu.items())
        await assert_clean_shutdown(kv, emu, baseline)
    assert ledger.calls == kv.stats.calls
    assert check["writes_ok"] == 12
    assert check["writes_lost"] == 0
    # The ledger does catch a lost write and an invented one.
    broken = dict(emu.items())
    broken.pop(next(k for k, e in ledger.entries.items() if e.set_ok and not e.deleted))
    broken["clean:c9:9"] = "nobody"
    bad = ledger.check(broken)
    assert bad["writes_lost"] == 1
    assert bad["phantom"] == 1
