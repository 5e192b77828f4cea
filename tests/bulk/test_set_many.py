"""set_many / get_many / delete_many against the emulator: accounting, faults, inputs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from voxkv_async import (
    BulkAbortedError,
    KeyValueItem,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
    VoxKV,
)
from voxkv_async._bulk import BulkError, BulkReport, delete_many, get_many, set_many
from voxkv_async.emulator import FAULT_KINDS, Emulator, Faults


def pairs(n: int, prefix: str = "k") -> Iterator[tuple[str, str]]:
    return ((f"{prefix}:{i}", f"value-{i}") for i in range(n))


async def test_10k_with_every_fault_kind_accounts_for_every_item(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    voxkv_emulator.faults = Faults.spread(0.15, slow=0.005, slow_seconds=2.5, retry_after=0)
    n = 10_000
    # The emulator throttles at random, whatever our rate: the adaptive rate would settle
    # at ~10/s (its fixed point for load-independent throttling). This test is about the
    # accounting under retries; test_cancel_throttle covers the adaptive rate.
    report = await set_many(voxkv_client, pairs(n), concurrency=64, adaptive=False)

    assert report.total == n
    assert report.succeeded + report.failed == n
    assert not report.cancelled
    assert not report.unfinished
    assert report.retried > 0
    assert all(voxkv_emulator.stats.faults[kind] > 0 for kind in FAULT_KINDS)
    stored = voxkv_emulator.items()
    failed = {f.index: f.error for f in report.failures}
    for i in range(n):
        key = f"k:{i}"
        if i not in failed:
            assert stored.get(key) == f"value-{i}", key
        elif key in stored:
            # Only a failure whose last attempt lost the answer may have been applied.
            assert isinstance(failed[i], TransportError), failed[i]
    assert set(stored) <= {f"k:{i}" for i in range(n)}
    assert len(stored) >= report.succeeded


async def test_validation_mix_fails_bad_items_without_a_request(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    items: list[object] = [(f"ok:{i}", "v") for i in range(200)]
    bad = {7: ("bad key!", "v"), 50: ("", "v"), 99: ("ok:long", "x" * 2001),
           120: ("ok:a", "b", "c"), 150: ("ok:n", 5), 180: "just-a-string"}
    for i, item in bad.items():
        items[i] = item
    own_expiry = int(time.time()) + 3600
    items.append(KeyValueItem("ok:own-expiry", "v", own_expiry))

    report = await set_many(voxkv_client, items, ttl=60)  # type: ignore[arg-type]

    assert (report.total, report.succeeded, report.failed) == (201, 195, 6)
    assert {f.index for f in report.failures} == set(bad)
    assert all(isinstance(f.error, ValidationError) for f in report.failures)
    assert voxkv_emulator.stats.requests["SetKeyValueItem"] == 195
    assert len(voxkv_emulator.items()) == 195
    own = next(i for i in voxkv_emulator.dump()[1] if i.key == "ok:own-expiry")
    assert own.expires_at == own_expiry
    with pytest.raises(BulkError) as caught:
        report.raise_for_errors()
    assert caught.value.report is report
    assert len(caught.value.exceptions) == 6


async def test_raise_on_error_and_failures_cap(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    seen: list[int] = []
    report = BulkReport(max_failures=2)
    with pytest.raises(BulkError) as caught:
        await set_many(voxkv_client, [(f"bad {i}", "v") for i in range(5)],
                       raise_on_error=True, report=report,
                       on_failure=lambda f: seen.append(f.index))
    assert caught.value.report is report
    assert (report.failed, len(report.failures), report.failures_dropped) == (5, 2, 3)
    assert sorted(seen) == [0, 1, 2, 3, 4]


async def test_failures_after_retries_keep_their_exception(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    voxkv_emulator.faults = Faults(http_503=1.0)
    report = await set_many(voxkv_client, pairs(20), concurrency=4, adaptive=False,
                            retry=RetryPolicy(max_attempts=2, base=0.01))
    assert report.failed == 20
    assert report.succeeded == 0
    assert {type(f.error).__name__ for f in report.failures} == {"ServerError"}
    assert {f.attempts for f in report.failures} == {2}
    assert voxkv_emulator.items() == {}


async def test_a_server_down_past_the_outage_tolerance_stops_the_run(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    voxkv_emulator.faults = Faults(http_503=1.0)
    report = BulkReport()
    with pytest.raises(BulkAbortedError) as caught:
        await set_many(voxkv_client, pairs(2000), concurrency=4, outage_tolerance=1.5,
                       report=report)
    assert caught.value.report is report
    assert isinstance(report.stopped_by, ServerError)
    assert report.succeeded == 0
    # Items tried failed with their last error; the others taken are listed; the rest
    # of the input was never read.
    assert report.failed + len(report.not_attempted) == report.total < 2000
    assert {type(f.error).__name__ for f in report.failures} == {"ServerError"}
    assert report.pauses == 1
    assert voxkv_emulator.items() == {}


async def test_generator_and_async_generator_inputs(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    closed: list[str] = []

    async def agen() -> AsyncIterator[KeyValueItem]:
        try:
            for i in range(300):
                yield KeyValueItem(f"a:{i}", str(i))
        finally:
            closed.append("agen")

    r1 = await set_many(voxkv_client, pairs(300, "s"), concurrency=8)
    r2 = await set_many(voxkv_client, agen(), concurrency=8)
    r3 = await set_many(voxkv_client, {f"m:{i}": "v" for i in range(50)})
    assert (r1.succeeded, r2.succeeded, r3.succeeded) == (300, 300, 50)
    assert closed == ["agen"]
    assert len(voxkv_emulator.items()) == 650


async def test_input_error_is_raised_after_taken_items_finish(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    def broken() -> Iterator[tuple[str, str]]:
        yield from pairs(100, "b")
        raise OSError("cursor lost")

    report = BulkReport()
    with pytest.raises(OSError, match="cursor lost") as caught:
        await set_many(voxkv_client, broken(), concurrency=8, report=report)
    assert any("after 100 items" in note for note in caught.value.__notes__)
    assert report.total == report.succeeded == 100
    assert len(voxkv_emulator.items()) == 100


async def test_get_many_keeps_input_order_and_delete_many_counts_missing(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    first = await set_many(voxkv_client, pairs(100, "g"))
    assert first.succeeded == 100, first.failures
    keys = [f"g:{i}" if i % 3 else f"nope:{i}" for i in range(150)]
    got = await get_many(voxkv_client, keys, concurrency=16)
    assert [None if item is None else item.key for item in got] == [
        k if k.startswith("g:") and int(k[2:]) < 100 else None for k in keys
    ]
    assert all(item.value == f"value-{item.key[2:]}" for item in got if item)

    report = await delete_many(voxkv_client, (f"g:{i}" for i in range(120)))
    assert (report.succeeded, report.missing) == (120, 20)
    assert voxkv_emulator.items() == {}

    with pytest.raises(BulkError):
        await get_many(voxkv_client, ["ok", "bad key"])
    with pytest.raises(TypeError):
        await delete_many(voxkv_client, "g:1")


async def test_progress_callback_is_throttled_and_final(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    calls: list[int] = []
    report = await set_many(voxkv_client, pairs(500), progress=lambda r: calls.append(r.done),
                            progress_interval=10.0)
    assert calls[0] <= 1
    assert calls[-1] == report.done == 500
    assert len(calls) == 2


async def test_failure_reprs_do_not_show_values(voxkv_client: VoxKV) -> None:
    report = await set_many(voxkv_client, [("bad key!", "SECRET-VALUE-123456789")])
    assert report.failed == 1
    assert "SECRET-VALUE" not in repr(report)
    assert "SECRET-VALUE" not in repr(report.failures[0])


async def test_a_raising_progress_callback_leaves_every_item_accounted_for(
    voxkv_client: VoxKV,
) -> None:
    report = BulkReport()

    def boom(r: BulkReport) -> None:
        if r.done >= 50:
            raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):  # the caller's own, not a group
        await set_many(voxkv_client, pairs(2000), concurrency=8, report=report,
                       progress=boom, progress_interval=0)
    assert not report.cancelled
    assert report.done + len(report.unfinished) == report.total
