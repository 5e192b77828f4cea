"""VoxKV against the emulator over real TLS sockets: the five calls, every UNKNOWN mode,
the pool, timeouts, TLS verification and cancellation."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from _tasks import client_tasks

from voxkv_async import (
    ApplicationNotFoundError,
    KeyInfo,
    KeyValueItem,
    Limits,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    Timeouts,
    TLSVerificationError,
    VoxKV,
    VoxKVError,
)
from voxkv_async.emulator import Emulator, Faults


def client_for(emu: Emulator, **options: Any) -> VoxKV:
    options.setdefault("ssl", emu.ssl_context)
    return VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
                 **options)


# --- the five calls ----------------------------------------------------------------------


async def test_five_calls_round_trip(voxkv_client: VoxKV, voxkv_emulator: Emulator) -> None:
    kv = voxkv_client
    item = await kv.set("ns:a", "значение 1", ttl=60)
    assert (item.key, item.value) == ("ns:a", "значение 1")
    assert item.expires_at is not None
    await kv.set("ns:b", "2")
    await kv.set("other:c", "3")
    assert voxkv_emulator.items() == {"ns:a": "значение 1", "ns:b": "2", "other:c": "3"}

    assert await kv.get("ns:a") == item
    assert [i.key for i in await kv.items("ns:")] == ["ns:a", "ns:b"]
    assert [k.key for k in await kv.keys("ns:")] == ["ns:a", "ns:b"]
    assert {k.key for k in await kv.keys()} == {"ns:a", "ns:b", "other:c"}

    assert await kv.delete("ns:a") is True
    assert await kv.delete("ns:a") is False
    assert await kv.get("ns:a") is None
    assert voxkv_emulator.items() == {"ns:b": "2", "other:c": "3"}


async def test_upsert_and_expiry_fields(voxkv_client: VoxKV) -> None:
    first = await voxkv_client.set("k", "v1", ttl=100)
    second = await voxkv_client.set("k", "v2", expires_at=first.expires_at)
    assert second.value == "v2"
    assert (await voxkv_client.get("k")) == KeyValueItem("k", "v2", first.expires_at)


async def test_iterators_walk_every_page(voxkv_client: VoxKV) -> None:
    keys = [f"p:{i:03d}" for i in range(123)]
    await asyncio.gather(*(voxkv_client.set(k, k.upper()) for k in keys))
    walked = [i async for i in voxkv_client.iter_items("p:", page_size=50)]
    assert [i.key for i in walked] == keys
    assert all(i.value == i.key.upper() for i in walked)
    assert [k.key async for k in voxkv_client.iter_keys("p:", page_size=7)] == keys


# --- every UNKNOWN answer of the API, as the emulator can give it -----------------------


@pytest.mark.parametrize("mode", ["null", "empty", "error"])
async def test_get_missing_key_is_none_in_every_mode(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, mode: str
) -> None:
    voxkv_emulator.set_modes(missing_get=mode)
    assert await voxkv_client.get("nope") is None
    assert not voxkv_client.stats.errors


@pytest.mark.parametrize("mode", ["zero", "error"])
async def test_delete_missing_key_is_false_in_every_mode(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, mode: str
) -> None:
    voxkv_emulator.set_modes(missing_del=mode)
    assert await voxkv_client.delete("nope") is False
    await voxkv_client.set("yes", "1")
    assert await voxkv_client.delete("yes") is True


@pytest.mark.parametrize("shape", ["objects", "strings"])
async def test_keys_in_every_shape(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, shape: str
) -> None:
    voxkv_emulator.set_modes(keys_shape=shape)
    await voxkv_client.set("s:1", "x")
    [info] = await voxkv_client.keys("s:")
    assert isinstance(info, KeyInfo)
    assert info.key == "s:1"
    assert (info.expires_at is None) == (shape == "strings")


@pytest.mark.parametrize("mode", ["ttl", "expires_at", "error"])
async def test_client_never_sends_both_ttl_and_expires_at(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, mode: str
) -> None:
    # Whatever the server would do with both, the client refuses to send both, and one
    # alone is accepted in every mode.
    voxkv_emulator.set_modes(ttl_conflict=mode)
    with pytest.raises(ValueError, match="ttl"):
        await voxkv_client.set("t", "v", ttl=5, expires_at=2_000_000_000)
    assert voxkv_emulator.stats.total_requests == 0
    assert (await voxkv_client.set("t", "v", ttl=5)).value == "v"


async def test_unknown_application_is_a_typed_error(voxkv_emulator: Emulator) -> None:
    voxkv_emulator.set_modes(unknown_application="error")
    async with VoxKV(voxkv_emulator.credentials, application_id=999_999,
                     base_url=voxkv_emulator.base_url, ssl=voxkv_emulator.ssl_context) as kv:
        with pytest.raises(ApplicationNotFoundError) as info:
            await kv.get("k")
    assert info.value.code == 558
    assert voxkv_emulator.stats.total_requests == 1  # not retried


# --- pool and tokens ----------------------------------------------------------------------


async def test_pool_bounds_connections_and_one_token_serves_all() -> None:
    async with Emulator(faults=Faults(latency=0.005)) as emu:
        async with client_for(emu, limits=Limits(max_connections=8)) as kv:
            await asyncio.gather(*(kv.set(f"k{i}", "v") for i in range(300)))
            await asyncio.gather(*(kv.get(f"k{i}") for i in range(300)))
        assert emu.stats.total_requests == 600
        assert 1 <= emu.stats.connections <= 8
        assert emu.stats.distinct_tokens == 1
        assert kv.stats.token_signings == 1


async def test_sequential_calls_reuse_one_connection(voxkv_client: VoxKV,
                                                     voxkv_emulator: Emulator) -> None:
    for i in range(20):
        await voxkv_client.set(f"k{i}", "v")
    assert voxkv_emulator.stats.connections == 1


# --- timeouts -----------------------------------------------------------------------------


async def test_slow_answer_times_out_per_attempt_then_succeeds() -> None:
    async with Emulator(faults=Faults(slow=1.0, slow_seconds=5.0)) as emu:
        kv = client_for(emu, timeouts=Timeouts(attempt=0.2, deadline=1.0),
                        retry=RetryPolicy(max_attempts=2, base=0.01))
        async with kv:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(RequestTimeoutError):
                await kv.get("k")
            # The answer would take 5 s; the margin is for a loaded CI machine.
            assert loop.time() - started < 3.0
            assert kv.stats.requests == 2
            emu.set_faults(slow=0.0)
            assert await kv.get("k") is None  # the pool recovered from the aborted attempts


async def test_deadline_bounds_the_whole_call() -> None:
    async with Emulator(faults=Faults(http_503=1.0)) as emu:
        kv = client_for(emu, timeouts=Timeouts(attempt=0.5, deadline=0.3),
                        retry=RetryPolicy(max_attempts=100, base=0.05))
        async with kv:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(VoxKVError) as info:
                await kv.set("k", "v")
            # Without the deadline, 100 attempts with backoff take far longer; the margin
            # is for a loaded CI machine. The note says which limit ended the call.
            assert loop.time() - started < 2.0
            assert any("deadline" in note for note in getattr(info.value, "__notes__", []))


# --- TLS ------------------------------------------------------------------------------------


async def test_untrusted_certificate_fails_fast_and_is_not_retried(
    voxkv_emulator: Emulator,
) -> None:
    async with client_for(voxkv_emulator, ssl=ssl.create_default_context()) as kv:
        with pytest.raises(TLSVerificationError):
            await kv.get("k")
        assert kv.stats.requests == 1
    assert voxkv_emulator.stats.total_requests == 0


async def test_ca_file_is_trusted(voxkv_emulator: Emulator) -> None:
    async with client_for(voxkv_emulator, ssl=None, ca_file=voxkv_emulator.ca_file) as kv:
        assert await kv.get("k") is None


async def test_plain_http_to_loopback_is_allowed() -> None:
    async with Emulator(tls=False) as emu, client_for(emu, ssl=None) as kv:
        assert (await kv.set("k", "v")).value == "v"


# --- cancellation ------------------------------------------------------------------------


async def test_cancelled_call_propagates_and_leaves_the_client_usable() -> None:
    async with Emulator(faults=Faults(latency=2.0)) as emu, client_for(emu) as kv:
        before = asyncio.all_tasks()
        task = asyncio.create_task(kv.set("k", "v"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert kv.stats.retries == 0
        assert client_tasks(asyncio.all_tasks() - before) == []
        emu.set_faults(latency=0.0)
        assert (await kv.set("k2", "v")).key == "k2"


async def test_cancelled_during_backoff_is_not_swallowed() -> None:
    # 429 with Retry-After: 5 makes the wait deterministic (a jittered one could be ~0).
    async with (
        Emulator(faults=Faults(http_429=1.0, retry_after=5.0)) as emu,
        client_for(emu) as kv,
    ):
        task = asyncio.create_task(kv.get("k"))
        await asyncio.sleep(0.2)  # the first attempt failed; the task now sleeps 5 s
        assert kv.stats.requests == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_close_is_idempotent_and_final(voxkv_emulator: Emulator) -> None:
    kv = client_for(voxkv_emulator)
    await kv.set("k", "v")  # opened lazily, inside the loop
    await kv.close()
    await kv.close()
    assert kv.closed
    with pytest.raises(RuntimeError, match="closed"):
        await kv.get("k")


# --- instrumentation -----------------------------------------------------------------------


async def test_attempt_hooks_see_every_attempt_and_can_be_removed() -> None:
    seen: list[object] = []
    async with (
        Emulator(faults=Faults(code_340=1.0)) as emu,
        client_for(emu, retry=RetryPolicy.for_testing(max_attempts=3)) as kv,
    ):
        remove = kv.add_attempt_hook(lambda outcome: seen.append(type(outcome)))
        kv.add_attempt_hook(lambda outcome: 1 / 0)  # a broken hook breaks nothing
        with pytest.raises(RateLimitedError):
            await kv.get("k")
        emu.set_faults(code_340=0.0)
        await kv.get("k")
        remove()
        await kv.get("k")
    assert seen == [RateLimitedError] * 3 + [type(None)]


async def test_more_calls_than_connections_queue_fairly_without_timeouts() -> None:
    # aiohttp's pool lets a newcomer take a freed connection ahead of older waiters; with
    # 4x more calls than connections some waited past the connect timeout and failed.
    async with Emulator(faults=Faults(latency=0.02)) as emu:
        kv = client_for(emu, limits=Limits(max_connections=8),
                        timeouts=Timeouts(connect=0.3, attempt=5.0, deadline=10.0),
                        retry=RetryPolicy.disabled())
        async with kv:
            await asyncio.gather(*(kv.set(f"k{i}", "v") for i in range(400)))
        assert kv.stats.errors == {}
        assert emu.stats.connections <= 8


async def test_resigning_after_code_100_stays_within_the_attempt_time() -> None:
    # A token the server refuses (wrong iss: code 100 every time), answered in 0.6 s: the
    # one repeat with a new token gets only what is left of the 1 s attempt, so the call
    # times out at 1 s. With a fresh attempt it would get its refusal at 1.2 s and raise
    # AuthenticationError: the deadline, well after both, does not decide it.
    from voxkv_async import Credentials

    async with Emulator(faults=Faults(latency=0.6)) as emu:
        impostor = Credentials(account_id=999, key_id=emu.credentials.key_id,
                               private_key=emu.credentials.private_key)
        kv = VoxKV(impostor, application_id=emu.application_id, base_url=emu.base_url,
                   ssl=emu.ssl_context, timeouts=Timeouts(attempt=1.0, deadline=10.0),
                   retry=RetryPolicy.disabled())
        async with kv:
            with pytest.raises(RequestTimeoutError):
                await kv.get("k")
