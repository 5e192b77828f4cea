"""Each switchable answer for what the real API leaves UNKNOWN."""

from __future__ import annotations

import pytest

from voxkv_async.emulator import EmulatorModes

from .conftest import Api


def test_defaults() -> None:
    assert EmulatorModes().to_json() == {
        "missing_get": "null",
        "missing_del": "zero",
        "keys_shape": "objects",
        "ttl_conflict": "ttl",
        "unknown_application": "error",
    }


def test_invalid_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        EmulatorModes(missing_get="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no_such"):
        EmulatorModes().evolve({"no_such": 1})


@pytest.mark.parametrize(("mode", "answer"), [("null", None), ("empty", {})])
async def test_missing_get(api: Api, mode: str, answer: object) -> None:
    api.emu.set_modes(missing_get=mode)
    assert await api.result("GetKeyValueItem", key="nope") == answer


async def test_missing_get_error(api: Api) -> None:
    api.emu.set_modes(missing_get="error")
    _status, body = await api.call("GetKeyValueItem", key="nope")
    assert body["error"]["code"] == 101
    assert "not found" in body["error"]["msg"]


async def test_missing_del(api: Api) -> None:
    assert await api.result("DelKeyValueItem", key="nope") == 0
    api.emu.set_modes(missing_del="error")
    _status, body = await api.call("DelKeyValueItem", key="nope")
    assert body["error"]["code"] == 101
    assert "not found" in body["error"]["msg"]


async def test_keys_shape(api: Api) -> None:
    item = await api.result("SetKeyValueItem", key="a:1", value="v")
    assert await api.result("GetKeyValueKeys", key="a") == [
        {"key": "a:1", "expires_at": item["expires_at"]}
    ]
    api.emu.set_modes(keys_shape="strings")
    assert await api.result("GetKeyValueKeys", key="a") == ["a:1"]


@pytest.mark.parametrize(("mode", "wins"), [("ttl", "ttl"), ("expires_at", "expires_at")])
async def test_ttl_conflict(api: Api, mode: str, wins: str) -> None:
    api.emu.set_modes(ttl_conflict=mode)
    item = await api.result("SetKeyValueItem", key="k", value="v", ttl=100, expires_at=2_000_000)
    # expires_at=2_000_000 is in 1970: it can only come from the expires_at parameter.
    assert (item["expires_at"] == 2_000_000) == (wins == "expires_at")


async def test_ttl_conflict_error(api: Api) -> None:
    api.emu.set_modes(ttl_conflict="error")
    assert await api.error("SetKeyValueItem", key="k", value="v", ttl=1, expires_at=2) == 101
    assert api.emu.items() == {}
