"""Clearly impossible expiries are refused locally, before any request."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from voxkv_async import ValidationError, VoxKV
from voxkv_async._validation import EXPIRY_SLACK, TTL_MAX
from voxkv_async.emulator import Emulator

DAY = 86_400


@pytest.mark.parametrize(
    "offset",
    [-3600, -EXPIRY_SLACK - 5, TTL_MAX + EXPIRY_SLACK + 5, 91 * DAY, 10 * 365 * DAY],
)
async def test_out_of_window_expires_at_is_refused(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, offset: int
) -> None:
    at = int(time.time()) + offset
    for given in (at, datetime.fromtimestamp(at, UTC)):
        with pytest.raises(ValidationError) as info:
            await voxkv_client.set("k", "v", expires_at=given)
        exc = info.value
        assert exc.field == "expires_at"
        assert str(TTL_MAX) in exc.limit
        assert f"{EXPIRY_SLACK} s" in exc.limit
        assert str(at) in exc.given
    assert voxkv_emulator.stats.total_requests == 0


@pytest.mark.parametrize("offset", [-EXPIRY_SLACK // 2, 0, 60, 89 * DAY, TTL_MAX])
async def test_in_window_expires_at_is_sent(
    voxkv_client: VoxKV, voxkv_emulator: Emulator, offset: int
) -> None:
    at = int(time.time()) + offset
    item = await voxkv_client.set("k", "v", expires_at=at)
    assert item.expires_at == at
    assert voxkv_emulator.stats.total_requests == 1


async def test_ttl_over_90_days_is_refused_the_same_way(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    with pytest.raises(ValidationError) as info:
        await voxkv_client.set("k", "v", ttl=TTL_MAX + 1)
    assert info.value.field == "ttl"
    assert voxkv_emulator.stats.total_requests == 0


async def test_bulk_item_with_a_stale_expiry_fails_alone(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    from voxkv_async import KeyValueItem

    past = int(time.time()) - DAY
    report = await voxkv_client.set_many([KeyValueItem("old", "v", past), ("new", "v")])
    assert (report.succeeded, report.failed) == (1, 1)
    assert isinstance(report.failures[0].error, ValidationError)
    assert voxkv_emulator.items() == {"new": "v"}
