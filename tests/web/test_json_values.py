"""JSON values: compact encoding, the 2,000-character limit, clear decode errors, codecs."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from voxkv_async import (
    Codec,
    DecodeError,
    JsonCodec,
    ValidationError,
    VoxKV,
    VoxKVError,
)
from voxkv_async.emulator import Emulator


async def test_round_trip_compact_and_non_ascii(voxkv_client: VoxKV,
                                                voxkv_emulator: Emulator) -> None:
    obj = {"name": "Ёжик", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None}
    item = await voxkv_client.set_json("cfg", obj, ttl=60)
    stored = voxkv_emulator.items()["cfg"]
    assert stored == '{"name":"Ёжик","tags":["a","b"],"n":1.5,"ok":true,"none":null}'
    assert item.value == stored
    assert await voxkv_client.get_json("cfg") == obj


async def test_default_for_a_missing_key(voxkv_client: VoxKV) -> None:
    assert await voxkv_client.get_json("missing") is None
    assert await voxkv_client.get_json("missing", default={"x": 1}) == {"x": 1}
    assert await voxkv_client.get_json("missing", {}) == {}


async def test_too_long_once_encoded_is_refused_before_any_request(
    voxkv_client: VoxKV, voxkv_emulator: Emulator
) -> None:
    obj = ["é" * 995, "x"]  # 995 + 2 + 1 + 1 + 3 + 1 = 1003 characters: fits
    await voxkv_client.set_json("fits", obj)
    big = {"k": "x" * 1995}  # {"k":"xxx..."} is 2003 characters
    with pytest.raises(ValidationError) as info:
        await voxkv_client.set_json("big", big)
    assert info.value.field == "value"
    assert "2003 characters" in str(info.value)
    assert "2000" in info.value.limit
    assert voxkv_emulator.stats.requests["SetKeyValueItem"] == 1


@pytest.mark.parametrize("obj", [{1, 2}, float("nan"), object()])
async def test_unencodable_objects(voxkv_client: VoxKV, voxkv_emulator: Emulator,
                                   obj: Any) -> None:
    with pytest.raises(ValidationError, match="encodable as json"):
        await voxkv_client.set_json("k", obj)
    assert voxkv_emulator.stats.total_requests == 0


async def test_a_stored_value_that_is_not_json_names_the_key(voxkv_client: VoxKV) -> None:
    await voxkv_client.set("plain", "SECRET-not json {")
    with pytest.raises(DecodeError) as info:
        await voxkv_client.get_json("plain")
    exc = info.value
    assert isinstance(exc, VoxKVError)
    assert isinstance(exc, ValueError)
    assert not isinstance(exc, json.JSONDecodeError)
    assert exc.key == "plain"
    assert "'plain'" in str(exc)
    assert "SECRET" not in str(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or "SECRET" not in str(exc.__context__)


async def test_bulk_forms(voxkv_client: VoxKV, voxkv_emulator: Emulator) -> None:
    report = await voxkv_client.set_many_json(
        {"a": {"n": 1}, "b": [1, 2], "bad": {1, 2}, "long": "x" * 2001}
    )
    assert (report.succeeded, report.failed) == (2, 2)
    assert all(isinstance(f.error, ValidationError) for f in report.failures)
    assert "2003 characters" in str(next(f.error for f in report.failures
                                        if f.item and "long" in str(f.item)))
    assert await voxkv_client.get_many_json(["a", "b", "zz"], default=0) == [{"n": 1}, [1, 2], 0]

    async def pairs():
        yield "c", {"async": True}

    await voxkv_client.set_many_json(pairs())
    assert await voxkv_client.get_json("c") == {"async": True}
    await voxkv_client.set("broken", "{")
    with pytest.raises(DecodeError, match="broken"):
        await voxkv_client.get_many_json(["a", "broken"])


class ZlibJson:
    """A codec of our own: compressed JSON as base64 text."""

    name = "zlib+json"

    def encode(self, obj: Any) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.b64encode(zlib.compress(raw)).decode("ascii")

    def decode(self, text: str) -> Any:
        return json.loads(zlib.decompress(base64.b64decode(text, validate=True)))


async def test_other_codecs_plug_in(voxkv_client: VoxKV) -> None:
    codec = ZlibJson()
    assert isinstance(codec, Codec)
    assert isinstance(JsonCodec(), Codec)
    big = {"rows": ["same text again"] * 400}  # 6,000+ characters as JSON
    await voxkv_client.set_json("z", big, codec=codec)
    assert await voxkv_client.get_json("z", codec=codec) == big
    await voxkv_client.set("z2", "not base64!")
    with pytest.raises(DecodeError, match="zlib\\+json"):
        await voxkv_client.get_json("z2", codec=codec)


def test_json_codec_sort_keys() -> None:
    assert JsonCodec(sort_keys=True).encode({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert JsonCodec().name == "json"
