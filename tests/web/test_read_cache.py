# ruff: noqa: SIM117 - the client is made from the emulator the outer block starts
"""The opt-in read cache: bounds, ages, expiry, own writes, negative answers, stats."""

from __future__ import annotations

import asyncio
import time

import pytest
from aioresponses import CallbackResult, aioresponses

from voxkv_async import (
    KeyValueItem,
    MockTransport,
    ReadCache,
    Request,
    Response,
    RetryPolicy,
    VoxKV,
    VoxKVError,
)
from voxkv_async._cache import MISS, CacheStore
from voxkv_async.emulator import Emulator, FakeClock, Faults

from ._helpers import GET_URL, SET_URL, emulator_kv, mocked_kv

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# --- the store, with fake clocks ---------------------------------------------------------


def test_entries_age_out_and_expire() -> None:
    mono, wall = Clock(), Clock()
    cache = CacheStore(ReadCache(max_items=10, max_age=5, negative_max_age=1),
                       clock=mono, wall=wall)
    cache.put("a", KeyValueItem("a", "1", 1010))
    cache.put("gone", None)
    assert cache.get("a") == KeyValueItem("a", "1", 1010)
    assert cache.get("gone") is None
    mono.t += 1.5
    assert cache.get("gone") is MISS  # its own, shorter bound
    assert cache.get("a") is not MISS
    wall.t = 1010  # the item's own expires_at has come
    assert cache.get("a") is MISS
    cache.put("b", KeyValueItem("b", "2", None))
    mono.t += 5
    assert cache.get("b") is MISS  # max_age
    assert len(cache) == 0


def test_lru_bound() -> None:
    cache = CacheStore(ReadCache(max_items=2), clock=Clock(), wall=Clock())
    for key in "abc":
        cache.put(key, KeyValueItem(key, key))
        if key == "b":
            assert cache.get("a") is not MISS  # a is now the most recent
    assert cache.get("b") is MISS
    assert cache.get("a") is not MISS
    assert cache.get("c") is not MISS


def test_negative_max_age_zero_caches_no_misses() -> None:
    cache = CacheStore(ReadCache(negative_max_age=0), clock=Clock(), wall=Clock())
    cache.put("k", None)
    assert cache.get("k") is MISS


@pytest.mark.parametrize("bad", [{"max_items": 0}, {"max_age": -1}, {"negative_max_age": "1"}])
def test_settings_are_checked(bad) -> None:
    with pytest.raises((ValueError, TypeError)):
        ReadCache(**bad)


# --- through the client, over real sockets ---------------------------------------------------


async def test_hits_misses_and_own_writes() -> None:
    async with Emulator(tls=False) as emu:
        async with emulator_kv(emu, read_cache=ReadCache(max_age=60)) as kv:
            await kv.set("k", "v1")
            assert (await kv.get("k")).value == "v1"  # the set filled the cache
            assert await kv.get("missing") is None
            assert await kv.get("missing") is None
            assert emu.stats.requests["GetKeyValueItem"] == 1
            assert kv.stats.cache_hits == 2
            assert kv.stats.cache_misses == 1
            await kv.set("k", "v2")
            assert (await kv.get("k")).value == "v2"
            assert await kv.delete("k") is True
            assert await kv.get("k") is None
            await kv.set_many({"a": "1", "b": "2"})
            assert [i.value for i in await kv.get_many(["a", "b"])] == ["1", "2"]
            await kv.delete_many(["a"])
            assert await kv.get("a") is None
            assert emu.stats.requests["GetKeyValueItem"] == 1
            snapshot = kv.stats.as_dict()
            assert snapshot["cache_hits"] == kv.stats.cache_hits


def virtual_clock() -> FakeClock:
    """One clock for the emulator's storage and tokens and for the client (its tokens
    and its read cache): time moves only when a test moves it."""
    return FakeClock(now=time.time())


async def test_other_writers_are_seen_after_max_age() -> None:
    clock = virtual_clock()
    async with Emulator(tls=False, clock=clock, token_clock=clock) as emu:
        async with emulator_kv(emu, clock=clock, read_cache=ReadCache(max_age=30)) as kv, \
                emulator_kv(emu, clock=clock) as other:
            await kv.set("k", "mine")
            await other.set("k", "theirs")
            assert (await kv.get("k")).value == "mine"  # the staleness accepted
            clock.advance(29.9)
            assert (await kv.get("k")).value == "mine"  # still within max_age
            clock.advance(0.2)
            assert (await kv.get("k")).value == "theirs"
            assert emu.stats.requests["GetKeyValueItem"] == 1


async def test_never_served_past_the_items_expiry() -> None:
    clock = virtual_clock()
    async with Emulator(tls=False, clock=clock, token_clock=clock) as emu:
        async with emulator_kv(emu, clock=clock, read_cache=ReadCache(max_age=600)) as kv:
            await kv.set("k", "v", expires_at=int(clock.now) + 60)
            clock.advance(59.5 - (clock.now - int(clock.now)))
            assert await kv.get("k") is not None  # served by the cache
            assert emu.stats.requests["GetKeyValueItem"] == 0
            clock.advance(1)
            assert await kv.get("k") is None  # a request, and the emulator expired it too
            assert emu.stats.requests["GetKeyValueItem"] == 1


async def test_a_failed_write_leaves_no_entry() -> None:
    async with Emulator(tls=False) as emu, emulator_kv(emu, read_cache=ReadCache(max_age=60),
                           retry=RetryPolicy.disabled()) as kv:
        await kv.set("k", "v1")
        emu.faults = Faults(drop_after=1.0, methods={"SetKeyValueItem"})
        with pytest.raises(VoxKVError):
            await kv.set("k", "v2")  # applied, but no answer came back
        emu.faults = Faults()
        assert (await kv.get("k")).value == "v2"  # read again, not the stale v1


async def test_a_read_in_flight_during_a_write_is_not_cached(credentials) -> None:
    release = asyncio.Event()

    async def slow_old(url, **kwargs):
        await release.wait()
        return CallbackResult(payload={"result": {"key": "k", "value": "old",
                                                  "expires_at": 2_000_000_000}})

    with aioresponses() as mock:
        mock.post(GET_URL, callback=slow_old)
        mock.post(SET_URL, payload={"result": {"key": "k", "value": "new",
                                               "expires_at": 2_000_000_000}})
        async with mocked_kv(credentials, read_cache=ReadCache(max_age=60)) as kv:
            reader = asyncio.create_task(kv.get("k"))
            await asyncio.sleep(0.01)
            await kv.set("k", "new")
            release.set()
            assert (await reader).value == "old"  # started before the write: may be old
            assert (await kv.get("k")).value == "new"  # but it did not replace the cache


async def test_a_cancelled_write_leaves_no_entry(credentials) -> None:
    # The write's outcome is unknown (it may still land): the cached v1 must not be served.
    gate = asyncio.Event()
    gets = 0

    async def answer(request: Request) -> Response:
        nonlocal gets
        value = request.form.get("value", "v1")
        if request.method == "GetKeyValueItem":
            gets += 1
        elif value == "v2":
            await gate.wait()  # never set: this write hangs until cancelled
        return Response.of_json({"result": {"key": "k", "value": value,
                                            "expires_at": 2_000_000_000}})

    async with VoxKV(credentials, 77, transport=MockTransport(answer),
                     read_cache=ReadCache(max_age=60)) as kv:
        await kv.set("k", "v1")
        assert (await kv.get("k")).value == "v1"
        assert gets == 0  # served by the cache the set filled
        write = asyncio.create_task(kv.set("k", "v2"))
        await asyncio.sleep(0.01)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        await kv.get("k")
        assert gets == 1  # not the cached v1: asked again
