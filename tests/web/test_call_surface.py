"""One call surface: the calls are written once, their options declared once, items
checked once.

The client and namespace views share the very same methods (issue 15: a new parameter of
a call is one edit); an unknown keyword is still a ``TypeError`` before any request; a
bulk run checks each item once, when it takes it, and rejects a bad one there with the
error a single call gives.
"""

from __future__ import annotations

import pytest

import voxkv_async._commands as commands_module
from voxkv_async import (
    BulkError,
    CallOptions,
    Namespace,
    SetOptions,
    ValidationError,
    VoxKV,
)
from voxkv_async.emulator import Emulator

CALLS = ("set", "get", "delete", "items", "keys", "iter_items", "iter_keys", "set_many",
         "get_many", "delete_many", "set_json", "get_json", "set_many_json", "get_many_json")


@pytest.mark.parametrize("name", CALLS)
def test_the_client_and_a_view_share_each_call(name: str) -> None:
    assert getattr(VoxKV, name) is getattr(Namespace, name)


def test_the_options_are_declared_once() -> None:
    assert SetOptions.__optional_keys__ == {"ttl", "expires_at", "retry", "timeout"}
    assert CallOptions.__optional_keys__ == {"retry", "timeout"}


async def test_an_unknown_keyword_is_a_type_error_before_any_request(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    users = voxkv_client.namespace("users")
    calls = {
        "set": lambda kv: kv.set("k", "v", tll=60),
        "get": lambda kv: kv.get("k", timeuot=1.0),
        "delete": lambda kv: kv.delete("k", ttl=5),
        "items": lambda kv: kv.items("k", page_size=5),
        "keys": lambda kv: kv.keys(retries=3),
        "set_json": lambda kv: kv.set_json("k", {}, tll=60),
        "get_json": lambda kv: kv.get_json("k", retries=3),
    }
    for view in (voxkv_client, users):
        for name, call in calls.items():
            with pytest.raises(TypeError, match=rf"^{name.removesuffix('_json')}\(\) got an "
                                                r"unexpected keyword argument"):
                await call(view)
        for name in ("iter_items", "iter_keys"):
            with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword"):
                await anext(getattr(view, name)("k", count=5))
    assert voxkv_emulator.stats.total_requests == 0


async def test_a_bulk_run_checks_each_item_once(voxkv_client: VoxKV,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[object] = []
    check_key = commands_module.check_key

    def counting(key: object, field: str = "key") -> str:
        checked.append(key)
        return check_key(key, field)

    monkeypatch.setattr(commands_module, "check_key", counting)
    pairs = [(f"once:{i}", "v") for i in range(50)]
    report = await voxkv_client.set_many(pairs, concurrency=8)
    assert report.succeeded == 50
    assert sorted(checked) == sorted(key for key, _ in pairs)  # once each, not per layer
    checked.clear()
    assert len(await voxkv_client.get_many([key for key, _ in pairs])) == 50
    assert len(checked) == 50


async def test_bad_items_fail_at_intake_with_a_single_call_s_error(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    too_long = "x" * 2001
    report = await voxkv_client.set_many(
        [("ok", "v"), ("bad key", "v"), ("long", too_long), ("num", 5), "no pair"])
    assert (report.succeeded, report.failed) == (1, 4)
    errors = {str(f.item)[:12]: f.error for f in report.failures}
    assert all(isinstance(e, ValidationError) for e in errors.values())
    fields = sorted(e.field for e in errors.values())  # type: ignore[attr-defined]
    assert fields == ["item", "key", "value", "value"]
    with pytest.raises(ValidationError) as single:
        await voxkv_client.set("long", too_long)
    long_error = next(f.error for f in report.failures if f.index == 2)
    assert str(long_error) == str(single.value)
    assert too_long not in str(long_error)
    assert voxkv_emulator.stats.requests["SetKeyValueItem"] == 1


async def test_a_view_s_bulk_run_checks_keys_with_its_prefix(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    ns = voxkv_client.namespace("n" * 50)  # 51 characters of the 200
    report = await ns.set_many([("k" * 149, "fits"), ("k" * 150, "too long")])
    assert (report.succeeded, report.failed) == (1, 1)
    (failure,) = report.failures
    assert failure.item == ("k" * 150, "too long")  # as the input gave it
    assert "201 with the prefix" in str(failure.error)
    assert voxkv_emulator.items() == {"n" * 50 + ":" + "k" * 149: "fits"}
    with pytest.raises(BulkError):
        await ns.get_many(["k" * 149, "k" * 150])


async def test_a_view_s_bulk_run_is_its_client_s(voxkv_client: VoxKV) -> None:
    users = voxkv_client.namespace("users").namespace("vip")
    stats = voxkv_client.stats
    calls = stats.calls
    report = await users.set_many({"1": "a", "2": "b"}, concurrency=2)
    assert report.succeeded == 2
    assert stats.calls == calls + 2  # counted by the client, as its own calls
    found = await users.get_many(["2", "1", "3"])
    assert [None if i is None else (i.key, i.value) for i in found] == [
        ("2", "b"), ("1", "a"), None]
    assert (await users.delete_many(["1", "3"])).missing == 1
