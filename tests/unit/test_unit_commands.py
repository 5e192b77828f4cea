"""Checked commands on their own (no client, no sockets): what each call sends, which
stored key it is about, and how a view prefixes keys in and takes them off results."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from voxkv_async import KeyInfo, KeyValueItem, ValidationError
from voxkv_async._calls import KEY_MISSING
from voxkv_async._commands import Commands
from voxkv_async._wire import DEL, GET, ITEMS, KEYS, SET, RequestBuilder

ROOT = Commands(RequestBuilder(7))
USERS = ROOT.under("users:")


def form(body: str) -> dict[str, str]:
    return dict(parse_qsl(body))


def test_a_set_command_carries_the_checked_form_and_reads_its_answer() -> None:
    command = USERS.set("42", "ada", ("ttl", 60))
    assert (command.method, command.key, command.missing_ok) == (SET, "users:42", False)
    assert form(command.body) == {"application_id": "7", "key": "users:42", "value": "ada",
                                  "ttl": "60"}
    assert command.read(True) == KeyValueItem("users:42", "ada")  # a bare success flag
    assert "ada" not in repr(command)  # the value never shows


def test_get_and_delete_take_a_missing_key_as_an_answer() -> None:
    get, delete = ROOT.get("k"), ROOT.delete("k")
    assert (get.method, delete.method) == (GET, DEL)
    assert get.missing_ok
    assert delete.missing_ok
    assert get.read(KEY_MISSING) is None
    assert delete.read(KEY_MISSING) is False
    assert delete.read(1) is True


@pytest.mark.parametrize(("commands", "prefix", "stored"), [
    (ROOT, None, None), (USERS, None, "users:"), (USERS, "", "users:"),
    (USERS, "vip:", "users:vip:"), (ROOT, "ns:", "ns:"),
])
def test_listing_prefixes(commands: Commands, prefix: str | None, stored: str | None) -> None:
    keys = commands.keys(prefix, 10, 20)
    assert keys.method == KEYS
    assert form(keys.body).get("key") == stored
    assert (form(keys.body)["count"], form(keys.body)["offset"]) == ("10", "20")
    if prefix is not None:
        assert form(commands.items(prefix, 50, 0).body).get("key") == stored


def test_the_api_needs_a_prefix_to_list_items() -> None:
    with pytest.raises(ValidationError) as info:
        ROOT.items("", 50, 0)
    assert info.value.field == "prefix"
    assert ROOT.items("ns:", 50, 0).method == ITEMS


@pytest.mark.parametrize(("build", "field"), [
    (lambda: ROOT.set("bad key", "v", ("ttl", 1)), "key"),
    (lambda: ROOT.set("k", 5, ("ttl", 1)), "value"),
    (lambda: ROOT.set("k", "v" * 2001, ("ttl", 1)), "value"),
    (lambda: USERS.get("k" * 195), "key"),
    (lambda: ROOT.keys("ns:", 51, 0), "count"),
    (lambda: ROOT.keys(None, 50, -1), "offset"),
])
def test_bad_arguments_name_their_field(build, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


def test_a_view_gives_keys_back_relative() -> None:
    assert USERS.view(KeyValueItem("users:42", "ada")) == KeyValueItem("42", "ada")
    assert USERS.view([KeyInfo("users:1"), KeyInfo("users:vip:2")]) == [
        KeyInfo("1"), KeyInfo("vip:2")]
    assert USERS.view(None) is None
    assert USERS.view(True) is True
    item = KeyValueItem("users:42", "ada")
    assert ROOT.view(item) is item  # the whole storage: nothing to take off
