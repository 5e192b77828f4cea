"""Namespace views: relative keys, nesting, the 200-character limit, every method."""

from __future__ import annotations

import pytest

from voxkv_async import KeyInfo, KeyValueItem, Namespace, ValidationError, VoxKV
from voxkv_async.emulator import Emulator


async def test_relative_keys_in_and_out(voxkv_client: VoxKV, voxkv_emulator: Emulator) -> None:
    users = voxkv_client.namespace("users")
    assert isinstance(users, Namespace)
    assert users.prefix == "users:"
    item = await users.set("42", "ada")
    assert item.key == "42"
    assert voxkv_emulator.items() == {"users:42": "ada"}
    assert await users.get("42") == KeyValueItem("42", "ada", item.expires_at)
    assert await users.get("nobody") is None
    await voxkv_client.set("other:1", "x")
    await voxkv_client.set("usersX", "not in the namespace")
    assert [i.key for i in await users.items()] == ["42"]
    assert [k.key for k in await users.keys()] == ["42"]
    assert [i.key async for i in users.iter_items()] == ["42"]
    assert [k async for k in users.iter_keys()] == [KeyInfo("42", item.expires_at)]
    assert await users.delete("42") is True
    assert await users.delete("42") is False


async def test_views_nest(voxkv_client: VoxKV, voxkv_emulator: Emulator) -> None:
    vip = voxkv_client.namespace("users").namespace("vip")
    assert vip.prefix == "users:vip:"
    await vip.set("7", "grace")
    assert voxkv_emulator.items() == {"users:vip:7": "grace"}
    users = voxkv_client.namespace("users")
    assert [i.key async for i in users.iter_items()] == ["vip:7"]
    assert [i.key async for i in users.iter_items("vip:")] == ["vip:7"]
    assert [i.key for i in await vip.items("7")] == ["7"]


async def test_bulk_and_json_through_a_view(voxkv_client: VoxKV,
                                            voxkv_emulator: Emulator) -> None:
    users = voxkv_client.namespace("users")
    report = await users.set_many({"1": "a", "2": "b", "": "no key", "x y": "bad"})
    assert (report.succeeded, report.failed) == (2, 2)
    assert voxkv_emulator.items() == {"users:1": "a", "users:2": "b"}
    found = await users.get_many(["1", "2", "3"])
    assert [None if i is None else (i.key, i.value) for i in found] == [
        ("1", "a"), ("2", "b"), None]
    assert (await users.delete_many(["1"])).succeeded == 1
    await users.set_json("prefs", {"lang": "ru"})
    assert await users.get_json("prefs") == {"lang": "ru"}
    assert voxkv_emulator.items()["users:prefs"] == '{"lang":"ru"}'


async def test_the_prefix_counts_toward_200_characters(voxkv_client: VoxKV,
                                                       voxkv_emulator: Emulator) -> None:
    ns = voxkv_client.namespace("n" * 50)  # prefix "nnn...:" of 51 characters
    await ns.set("k" * 149, "fits")  # 51 + 149 = 200
    for call in (ns.set("k" * 150, "v"), ns.get("k" * 150), ns.delete("k" * 150),
                 ns.items("k" * 150), ns.set_json("k" * 150, 1)):
        with pytest.raises(ValidationError) as info:
            await call
        message = str(info.value)
        assert "150 characters" in message  # the key's own length
        assert "201 with the prefix" in message  # and the full one
        assert "at most 149" in message
    assert voxkv_emulator.stats.requests["SetKeyValueItem"] == 1
    assert voxkv_emulator.stats.total_requests == 1


@pytest.mark.parametrize("name", ["", "a b", "x" * 199, "x" * 250, 5])
def test_bad_namespace_names(voxkv_emulator: Emulator, name) -> None:
    kv = VoxKV(voxkv_emulator.credentials, 1, base_url=voxkv_emulator.base_url)
    with pytest.raises(ValidationError):
        kv.namespace(name)


async def test_bad_relative_keys(voxkv_client: VoxKV, voxkv_emulator: Emulator) -> None:
    users = voxkv_client.namespace("users")
    for key in ("", "a b", None):
        with pytest.raises(ValidationError):
            await users.get(key)  # type: ignore[arg-type]
    assert voxkv_emulator.stats.total_requests == 0
