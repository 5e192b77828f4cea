# ruff: noqa: SIM117 - the client is made from the emulator the outer block starts
"""The event stream of a real client over sockets: what a call, its retries, the budget
and the read path emit, and that the documented example prints what the page shows."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import attrs
import pytest
from docs._docs_support import block, output_after, run, shell_env

from voxkv_async import (
    AttemptEnded,
    CacheHit,
    CacheMiss,
    CallEnded,
    CallStarted,
    Coalesced,
    Event,
    ReadCache,
    RetryPolicy,
    RetryRefused,
    RetryScheduled,
    ServerError,
    TokenSigned,
)
from voxkv_async.emulator import Emulator, Faults

from ._helpers import emulator_kv

pytestmark = pytest.mark.timeout(60)
SECRET = "SECRET-VALUE-123"


async def test_a_retried_call_in_order() -> None:
    async with Emulator(tls=False, faults=Faults(http_503=1.0)) as emu:
        async with emulator_kv(emu, retry=RetryPolicy.for_testing(max_attempts=2)) as kv:
            seen: list[Event] = []
            kv.events.subscribe(seen.append)
            with pytest.raises(ServerError) as info:
                await kv.set("k", SECRET)
            emu.faults = Faults()
            await kv.set("k", SECRET)
    kinds = [type(e) for e in seen]
    assert kinds == [CallStarted, TokenSigned, AttemptEnded, RetryScheduled, AttemptEnded,
                     CallEnded, CallStarted, AttemptEnded, CallEnded]
    first, retry, second, failed = seen[2:6]
    assert isinstance(first, AttemptEnded)
    assert (first.attempt, first.status, type(first.error)) == (1, 503, ServerError)
    assert not first.may_have_applied  # 503: the gateway passed nothing on
    assert isinstance(retry, RetryScheduled)
    assert (retry.attempt, retry.budget_allowed, retry.item) == (1, True, None)
    assert isinstance(second, AttemptEnded)
    assert second.attempt == 2
    assert isinstance(failed, CallEnded)
    assert (failed.attempts, failed.status, failed.error) == (2, 503, info.value)
    ok = seen[-1]
    assert isinstance(ok, CallEnded)
    assert (ok.method, ok.key, ok.attempts, ok.status, ok.error) == (
        "SetKeyValueItem", "k", 1, 200, None)
    assert SECRET not in repr(seen)  # events never carry a value


async def test_an_empty_budget_refuses_the_retry() -> None:
    policy = attrs.evolve(RetryPolicy.for_testing(max_attempts=5), budget_capacity=5,
                          retry_cost=5)
    async with Emulator(tls=False, faults=Faults(http_503=1.0)) as emu:
        async with emulator_kv(emu, retry=policy) as kv:
            seen: list[Event] = []
            kv.events.subscribe(seen.append)
            with pytest.raises(ServerError):
                await kv.get("k")
            refused = [e for e in seen if isinstance(e, RetryRefused)]
            assert [e.attempt for e in refused] == [2]  # the budget paid for one retry
            assert kv.stats.budget_exhausted == 1
            assert kv.stats.retries == 1


async def test_a_failing_subscriber_breaks_no_call(caplog: pytest.LogCaptureFixture) -> None:
    async with Emulator(tls=False) as emu, emulator_kv(emu) as kv:
        kv.events.subscribe(lambda event: 1 / 0)
        with caplog.at_level(logging.ERROR, logger="voxkv_async"):
            await kv.set("k", "v")
            item = await kv.get("k")
        assert item is not None
        assert kv.stats.calls == 2
        assert "ZeroDivisionError" in caplog.text


async def test_the_read_path_reports_hits_misses_and_shared_reads() -> None:
    async with Emulator(tls=False, faults=Faults(latency=0.05)) as emu:
        async with emulator_kv(emu, read_cache=ReadCache(max_age=60)) as kv:
            seen: list[Event] = []
            kv.events.subscribe(seen.append)
            await asyncio.gather(kv.get("k"), kv.get("k"))
            await kv.get("k")
    reads = [e for e in seen if isinstance(e, CacheHit | CacheMiss | Coalesced)]
    assert reads == [CacheMiss("k"), CacheMiss("k"), Coalesced("k"), CacheHit("k")]
    assert sum(isinstance(e, CallStarted) for e in seen) == 1


def test_the_how_to_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    page = "how-to/web-service.md"
    script = tmp_path / "observe_attempts.py"
    script.write_text(block(page, "observe_attempts.py"), encoding="utf-8")
    done = run([sys.executable, str(script)], shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == output_after(page, "observe_attempts.py")
