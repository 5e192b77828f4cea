"""Cancelling a run, and the adaptive slow-down on throttling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxkv_async import VoxKV
from voxkv_async._bulk import BulkReport, set_many
from voxkv_async.emulator import Emulator, Faults


def client_tasks() -> set[asyncio.Task[object]]:
    """The loop's tasks but the in-process emulator's (its handlers outlive a request)."""
    return {t for t in asyncio.all_tasks()
            if not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")}


async def test_cancel_stops_promptly_and_the_completed_items_are_known(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    voxkv_emulator.faults = Faults(latency=0.005)
    closed = asyncio.Event()

    async def items() -> AsyncIterator[tuple[str, str]]:
        try:
            for i in range(100_000):
                yield f"c:{i}", str(i)
        finally:
            closed.set()

    before = client_tasks()
    report = BulkReport()
    reached = asyncio.Event()

    def watch(r: BulkReport) -> None:
        if r.done >= 300:
            reached.set()

    run = asyncio.create_task(set_many(voxkv_client, items(), concurrency=16, report=report,
                                       progress=watch, progress_interval=0))
    await reached.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 2.0)

    assert client_tasks() == before
    assert closed.is_set()
    assert report.cancelled
    assert report.finished_at is not None
    assert report.total < 1000  # the producer stopped with the queue, not the input
    unfinished = {i for i, _ in report.unfinished}
    assert len(unfinished) <= 3 * 16 + 1  # queue + workers + the one being put
    assert report.done + len(unfinished) == report.total
    succeeded = set(range(report.total)) - unfinished - {f.index for f in report.failures}
    stored = voxkv_emulator.items()
    assert all(stored[f"c:{i}"] == str(i) for i in succeeded)
    assert set(stored) <= {f"c:{i}" for i in succeeded | unfinished}
