"""The concurrent walk (``iter_items``/``iter_keys``) against the emulator over TLS sockets:
its cost, its order, concurrent writes under it, throttling and an outage during it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from voxkv_async import AdaptiveRate, Listing, RetryPolicy, VoxKV
from voxkv_async.emulator import Emulator

pytestmark = pytest.mark.timeout(120)


def key(i: int) -> str:
    return f"w:{i:05d}"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(tls=True) as emulator:
        yield emulator


@pytest.fixture
async def kv(emu: Emulator) -> AsyncIterator[VoxKV]:
    async with VoxKV(emu.credentials, application_id=emu.application_id,
                     base_url=emu.base_url, ssl=emu.ssl_context) as client:
        yield client


async def seed(kv: VoxKV, n: int, prefix: str = "w:") -> list[str]:
    keys = [f"{prefix}{i:05d}" for i in range(n)]
    report = await kv.set_many({k: "v" for k in keys})
    assert report.failed == 0
    return keys


def pages_sent(emu: Emulator) -> int:
    return emu.stats.requests["GetKeyValueItems"]


# --- cost and order -----------------------------------------------------------------------


async def test_a_small_prefix_costs_its_page_and_the_empty_one(emu: Emulator, kv: VoxKV
                                                                ) -> None:
    await seed(kv, 3)
    await seed(kv, 200, prefix="other:")
    listing = kv.iter_items("w:")
    assert [i.key async for i in listing] == [key(0), key(1), key(2)]
    assert pages_sent(emu) == 2
    assert listing.report.requests == 2
    assert [k.key async for k in kv.iter_keys("nothing:")] == []
    assert emu.stats.requests["GetKeyValueKeys"] == 1


@pytest.mark.parametrize(("n", "page_size", "concurrency"),
                         [(1000, 50, 32), (1000, 50, 1), (50, 50, 32), (49, 50, 4),
                          (301, 7, 3), (40, 2, 8), (25, 1, 4)])
async def test_every_key_once_in_order(emu: Emulator, kv: VoxKV, n: int, page_size: int,
                                       concurrency: int) -> None:
    keys = await seed(kv, n)
    listing = kv.iter_items("w:", page_size=page_size, concurrency=concurrency)
    assert [i.key async for i in listing] == keys
    r = listing.report
    stride = max(1, page_size - 1)
    assert r.shifts == r.gaps == 0
    assert r.complete
    # The pages the keys need and the one that ends the walk, plus at most the window.
    assert -(-n // stride) <= r.requests <= -(-n // stride) + 1 + r.window
    assert r.window <= concurrency
    assert r.requests == pages_sent(emu)


async def test_a_walk_stopped_early_wastes_at_most_the_window(emu: Emulator, kv: VoxKV
                                                              ) -> None:
    await seed(kv, 3000)
    listing = kv.iter_items("w:", concurrency=4)
    async for item in listing:
        if item.key == key(400):
            break
    await listing.aclose()
    # Pages up to key 400 (9 of 49 new keys each) and at most 4 ahead of them.
    assert 9 <= pages_sent(emu) <= 9 + 4
    await asyncio.sleep(0.1)
    assert pages_sent(emu) <= 9 + 4  # nothing left running


# --- concurrent writes ------------------------------------------------------------------


async def test_keys_added_and_deleted_during_the_walk(emu: Emulator, kv: VoxKV) -> None:
    """Every key present throughout is listed exactly once; nothing is listed twice."""
    keys = await seed(kv, 3000)
    deleted: set[str] = set()
    listed: list[str] = []
    listing = kv.iter_items("w:", concurrency=8)
    async for item in listing:
        listed.append(item.key)
        n = len(listed)
        if n % 97 == 0:
            # Behind the walk: deletions shift the rest left, additions right; ahead of
            # it too, so pages in flight and pages not yet asked for both move.
            behind = [k for k in keys[max(0, n - 300):n:7] if k not in deleted][:30]
            ahead = [k for k in keys[n + 60:n + 400:11] if k not in deleted]
            await kv.delete_many([*behind, *ahead])
            deleted.update(behind + ahead)
            await kv.set_many({f"w:{n - 50:05d}a{j}": "new" for j in range(20)})
    present_throughout = set(keys) - deleted
    counts = Counter(listed)
    assert max(counts.values()) == 1, "a key was listed twice"
    assert present_throughout <= set(listed)
    assert listed == sorted(listed)
    assert listing.report.shifts > 0
    assert listing.report.gaps == 0


async def test_a_big_deletion_behind_the_walk_is_re_anchored(emu: Emulator, kv: VoxKV
                                                             ) -> None:
    keys = await seed(kv, 2000)
    listing = kv.iter_items("w:", concurrency=1)
    listed: list[str] = []
    async for item in listing:
        listed.append(item.key)
        if len(listed) == 500:  # 250 keys behind the walk at once: 5 strides of 49
            await kv.delete_many(keys[100:350])
    assert listed == keys
    assert listing.report.shifts == 1
    assert listing.report.gaps == 0


async def test_everything_behind_the_walk_deleted_is_re_anchored_by_key(
        emu: Emulator, kv: VoxKV) -> None:
    keys = await seed(kv, 3000)
    listing = kv.iter_items("w:", concurrency=4)
    listed: list[str] = []
    async for item in listing:
        listed.append(item.key)
        if len(listed) == 1500:  # the pages before the walk's place are gone
            await kv.delete_many(keys[:1500])
    assert listed == keys
    assert listing.report.shifts >= 1
    assert listing.report.gaps == 0


# --- throttling and outages ---------------------------------------------------------------


@pytest.mark.parametrize("answer", ["code_340", "http_429", "code_416"])
async def test_a_walk_follows_a_server_side_limit(emu: Emulator, kv: VoxKV, answer: str
                                                  ) -> None:
    keys = await seed(kv, 2500)
    emu.set_rate_limit(rate=100, answer=answer, retry_after=1)
    pacer = AdaptiveRate()
    listing = kv.iter_items("w:", adaptive=pacer)
    assert [i.key async for i in listing] == keys
    assert listing.report.throttled > 0
    assert pacer.enabled
    assert listing.report.throttled < listing.report.requests


async def test_a_walk_rides_out_an_outage(emu: Emulator, kv: VoxKV) -> None:
    keys = await seed(kv, 1500)
    emu.set_faults(latency=0.01)
    listing: Listing[Any] = kv.iter_items("w:", concurrency=4)
    listed: list[str] = []

    async def outage() -> None:
        emu.set_faults(http_503=1.0, latency=0.01)
        await asyncio.sleep(2.0)  # longer than the breaker needs to open
        emu.set_faults(http_503=0.0, latency=0.01)

    down: asyncio.Task[None] | None = None
    async for item in listing:
        listed.append(item.key)
        if len(listed) == 300:
            down = asyncio.create_task(outage())
    assert down is not None
    await down
    assert listed == keys
    assert listing.report.retried > 0
    assert listing._pager.breaker.openings >= 1


async def test_a_page_that_keeps_failing_fails_the_walk(emu: Emulator, kv: VoxKV) -> None:
    await seed(kv, 10)
    emu.set_faults(http_503=1.0)
    listing = kv.iter_items("w:", retry=RetryPolicy(max_attempts=3, base=0.01))
    with pytest.raises(Exception, match="gave up after 3"):
        async for _ in listing:
            pass
    assert listing.report.requests == 3
