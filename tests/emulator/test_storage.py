"""Storage semantics, parameter validation and the two URL styles."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from voxkv_async.emulator import Emulator, FakeClock

from .conftest import Api


@pytest_asyncio.fixture
async def clocked(session: aiohttp.ClientSession) -> AsyncIterator[tuple[Api, FakeClock]]:
    clock = FakeClock()
    async with Emulator(clock=clock) as emu:
        yield Api(emu, session), clock


@pytest.mark.parametrize("style", ["path", "cmd", "query", "multipart"])
async def test_set_get_delete_in_every_url_style(api: Api, style: str) -> None:
    item = await api.result("SetKeyValueItem", style=style, key="ns:k", value="v1", ttl=60)
    assert item["key"] == "ns:k"
    assert item["value"] == "v1"
    assert isinstance(item["expires_at"], int)
    assert await api.result("GetKeyValueItem", style=style, key="ns:k") == item
    assert await api.result("DelKeyValueItem", style=style, key="ns:k") == 1
    assert await api.result("GetKeyValueItem", style=style, key="ns:k") is None


async def test_set_is_an_upsert(api: Api) -> None:
    await api.result("SetKeyValueItem", key="k", value="old")
    item = await api.result("SetKeyValueItem", key="k", value="new")
    assert item["value"] == "new"
    assert api.emu.items() == {"k": "new"}


async def test_body_wins_over_query(api: Api) -> None:
    url = f"{api.emu.base_url}/SetKeyValueItem?key=k&value=query&application_id=1"
    headers = {"Authorization": f"Bearer {api.token}"}
    async with api.session.post(
        url, data={"value": "body"}, headers=headers, ssl=api.emu.ssl_context
    ) as resp:
        assert (await resp.json())["result"]["value"] == "body"


async def test_ttl_expiry_follows_the_clock(clocked: tuple[Api, FakeClock]) -> None:
    api, clock = clocked
    item = await api.result("SetKeyValueItem", key="k", value="v", ttl=10)
    assert item["expires_at"] == int(clock.now) + 10
    clock.advance(9)
    assert (await api.result("GetKeyValueItem", key="k"))["value"] == "v"
    clock.advance(1)
    assert await api.result("GetKeyValueItem", key="k") is None
    assert await api.result("GetKeyValueItems", key="k") == []
    assert await api.result("DelKeyValueItem", key="k") == 0


async def test_default_ttl_is_30_days(clocked: tuple[Api, FakeClock]) -> None:
    api, clock = clocked
    item = await api.result("SetKeyValueItem", key="k", value="v")
    assert item["expires_at"] == int(clock.now) + 2_592_000


async def test_expires_at_is_stored_as_given(clocked: tuple[Api, FakeClock]) -> None:
    api, clock = clocked
    at = int(clock.now) + 100
    item = await api.result("SetKeyValueItem", key="k", value="v", expires_at=at)
    assert item["expires_at"] == at


async def test_expired_keys_are_not_listed(clocked: tuple[Api, FakeClock]) -> None:
    api, clock = clocked
    await api.result("SetKeyValueItem", key="a:1", value="x", ttl=5)
    await api.result("SetKeyValueItem", key="a:2", value="y", ttl=50)
    clock.advance(6)
    assert [i["key"] for i in await api.result("GetKeyValueItems", key="a")] == ["a:2"]
    assert [k["key"] for k in await api.result("GetKeyValueKeys", key="a")] == ["a:2"]
    assert api.emu.items() == {"a:2": "y"}


async def test_prefix_listing_is_sorted_and_paginated(api: Api) -> None:
    for i in (3, 1, 12, 2):
        await api.result("SetKeyValueItem", key=f"ns:{i}", value=str(i))
    await api.result("SetKeyValueItem", key="ns", value="bare")
    await api.result("SetKeyValueItem", key="other:1", value="x")
    keys = [i["key"] for i in await api.result("GetKeyValueItems", key="ns")]
    assert keys == ["ns", "ns:1", "ns:12", "ns:2", "ns:3"]
    page = await api.result("GetKeyValueItems", key="ns:", count=2, offset=1)
    assert [i["key"] for i in page] == ["ns:12", "ns:2"]
    assert await api.result("GetKeyValueItems", key="ns:", count=2, offset=10) == []
    everything = await api.result("GetKeyValueKeys")
    assert [k["key"] for k in everything] == [*keys, "other:1"]


async def test_count_defaults_to_10(api: Api) -> None:
    for i in range(12):
        await api.result("SetKeyValueItem", key=f"k{i:02}", value="v")
    assert len(await api.result("GetKeyValueItems", key="k")) == 10
    assert len(await api.result("GetKeyValueKeys", key="k", count=50)) == 12


async def test_applications_are_separate(api: Api) -> None:
    api.emu.add_application(2)
    await api.result("SetKeyValueItem", key="k", value="one")
    await api.result("SetKeyValueItem", key="k", value="two", app=2)
    assert (await api.result("GetKeyValueItem", key="k", app=2))["value"] == "two"
    assert api.emu.items() == {"k": "one"}


async def test_cyrillic_keys_are_valid(api: Api) -> None:
    item = await api.result("SetKeyValueItem", key="ключ:Ёж_1.#+;-", value="значение")
    assert item["value"] == "значение"


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("SetKeyValueItem", {"value": "v"}, 134),
        ("SetKeyValueItem", {"key": "", "value": "v"}, 134),
        ("SetKeyValueItem", {"key": "k"}, 134),
        ("SetKeyValueItem", {"key": "k" * 201, "value": "v"}, 477),
        ("SetKeyValueItem", {"key": "a b", "value": "v"}, 101),
        ("SetKeyValueItem", {"key": "a/b", "value": "v"}, 101),
        ("SetKeyValueItem", {"key": "k\n", "value": "v"}, 101),
        ("SetKeyValueItem", {"key": "k", "value": "v" * 2001}, 477),
        ("SetKeyValueItem", {"key": "k", "value": "v", "ttl": "1.5"}, 101),
        ("SetKeyValueItem", {"key": "k", "value": "v", "ttl": -1}, 499),
        ("SetKeyValueItem", {"key": "k", "value": "v", "ttl": 7_776_001}, 499),
        ("SetKeyValueItem", {"key": "k", "value": "v", "expires_at": "soon"}, 101),
        ("SetKeyValueItem", {"key": "k", "value": "v", "expires_at": 99_999_999_999}, 499),
        ("GetKeyValueItem", {}, 134),
        ("GetKeyValueItems", {}, 134),
        ("GetKeyValueItems", {"key": "k", "count": 0}, 499),
        ("GetKeyValueItems", {"key": "k", "count": 51}, 499),
        ("GetKeyValueItems", {"key": "k", "count": "ten"}, 101),
        ("GetKeyValueKeys", {"offset": -1}, 499),
        ("GetKeyValueKeys", {"offset": " 1"}, 101),
        ("NoSuchMethod", {"key": "k"}, 101),
        ("", {"key": "k"}, 101),
    ],
)
async def test_validation_codes(
    api: Api, method: str, params: dict[str, object], code: int
) -> None:
    assert await api.error(method, style="cmd", **params) == code


@pytest.mark.parametrize(("app", "code"), [(None, 134), ("x", 101), (0, 499), (-3, 499)])
async def test_application_id_is_required_and_positive(api: Api, app: object, code: int) -> None:
    assert await api.error("GetKeyValueItem", key="k", app=app) == code


async def test_limits_themselves_are_accepted(api: Api) -> None:
    key, value = "k" * 200, "v" * 2000
    item = await api.result("SetKeyValueItem", key=key, value=value, ttl=7_776_000)
    assert item["value"] == value
    assert await api.result("SetKeyValueItem", key="e", value="", ttl=0)


async def test_errors_are_counted_by_code(api: Api) -> None:
    await api.error("GetKeyValueItem")
    await api.error("GetKeyValueItem", authorization=None, key="k")
    assert api.emu.stats.errors == {134: 1, 447: 1}
    assert api.emu.stats.requests == {"GetKeyValueItem": 2}
