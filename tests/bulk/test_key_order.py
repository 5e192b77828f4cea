"""Order per key after an unknown outcome (issue 18, item 1), over real sockets.

The emulator's ``late_apply`` switch makes it go on with a write after the connection
dropped, and apply it later: the real server may do exactly that with a request whose
client gave up. A later row of the same key sent meanwhile would then be overwritten by
the earlier row. The run holds the later row ``unknown_outcome_delay`` seconds after
the earlier attempt ended, so the last input value wins, whether the earlier row then
failed (no retries) or a retry of it succeeded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from voxkv_async import RetryPolicy, VoxKV
from voxkv_async.emulator import Emulator, Faults

LATE = 0.5  # seconds after the drop at which the emulator applies the write
HOLD = 1.0  # the run's unknown_outcome_delay: longer than LATE


def rows(keys: int, gap: int) -> list[tuple[str, str]]:
    """Each key twice, "early" then "late", the later row ``gap`` rows after."""
    out: list[tuple[str, str]] = []
    for i in range(keys + gap):
        if i < keys:
            out.append((f"o:{i}", "early"))
        if i >= gap:
            out.append((f"o:{i - gap}", "late"))
    return out


def client(emu: Emulator) -> VoxKV:
    return VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                 ssl=emu.ssl_context)


async def write(rows: list[tuple[str, str]], seed: int, **options: Any) -> dict[str, str]:
    """``set_many`` with dropped writes applied late; the store once every one landed."""
    faults = Faults(drop_after=0.3, late_apply=LATE, methods={"SetKeyValueItem"})
    async with Emulator(tls=True, seed=seed, faults=faults) as emu, client(emu) as kv:
        report = await kv.set_many(rows, concurrency=16, **options)
        assert report.total == len(rows)
        assert emu.stats.faults["drop_after"] > 0
        await asyncio.sleep(LATE + 0.3)  # every late write has landed
        return emu.items()


@pytest.mark.parametrize("gap", [3, 60], ids=["later-row-waiting", "later-row-read-after"])
@pytest.mark.parametrize("retry", [RetryPolicy.disabled(), None], ids=["no-retries", "retries"])
async def test_the_last_input_value_wins_when_writes_land_late(
    gap: int, retry: RetryPolicy | None
) -> None:
    # gap 60 > the run's capacity (3 x 16): the later row is read from the input after
    # the earlier one settled, so the hold must outlive the earlier item itself.
    stored = await write(rows(150, gap), seed=gap, retry=retry, unknown_outcome_delay=HOLD)
    assert stored == {f"o:{i}": "late" for i in range(150)}


async def test_without_the_hold_the_earlier_value_wins_somewhere() -> None:
    # What the hold prevents, so the switch is shown to bite: not a wanted behaviour.
    stored = await write(rows(150, 3), seed=3, retry=RetryPolicy.disabled(),
                         unknown_outcome_delay=0)
    assert "early" in stored.values()


async def test_keys_seen_once_are_not_held() -> None:
    faults = Faults(drop_after=0.3, late_apply=LATE, methods={"SetKeyValueItem"})
    async with Emulator(tls=True, seed=4, faults=faults) as emu, client(emu) as kv:
        started = time.monotonic()
        report = await kv.set_many(((f"u:{i}", "v") for i in range(200)), concurrency=16,
                                   unknown_outcome_delay=3600)
        # An hour's hold on every dropped write, yet the run ends: no later row waits.
        assert time.monotonic() - started < 60
        assert report.failed == 0
        assert emu.stats.faults["drop_after"] > 0
