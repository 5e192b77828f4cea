"""Validation before any request: keys, values, ttl/expires_at, paging, application id."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from voxkv_async import ValidationError, VoxKV, VoxKVError

from _support import BASE, ITEM, make_kv

# The documented pattern `^[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]*$` with 1..200 characters, applied
# to the whole string (fullmatch: `$` alone would let a trailing newline through).
DOC_KEY = re.compile(r"[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]*")
ALLOWED = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    + "".join(chr(c) for c in range(ord("а"), ord("я") + 1))
    + "".join(chr(c) for c in range(ord("А"), ord("Я") + 1))
    + "ёЁ_-:;.#+"
)
# Characters near the allowed ones that must still be refused.
TRICKY = "ѐѓєіїўЀЃЄІЇЎ /\\\n\t\r\x00'\"`,!?@$%^&*()[]{}<>|~=ıİſK\u00a0\u200b\ufeffé１"


def documented_ok(key: str) -> bool:
    return 1 <= len(key) <= 200 and DOC_KEY.fullmatch(key) is not None


keys_strategy = st.one_of(
    st.text(alphabet=ALLOWED, min_size=0, max_size=10),
    st.text(alphabet=ALLOWED, min_size=190, max_size=210),
    st.text(alphabet=ALLOWED + TRICKY, min_size=1, max_size=30),
    st.text(min_size=0, max_size=30),
    st.lists(
        st.one_of(st.sampled_from(ALLOWED), st.characters()), min_size=1, max_size=205
    ).map("".join),
)


def test_set_accepts_exactly_the_documented_keys(credentials, mock_api) -> None:
    loop = asyncio.new_event_loop()
    try:
        mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM}, repeat=True)
        kv = make_kv(credentials, mock_api)
        seen = {"ok": 0, "bad": 0}

        async def check(key: str) -> None:
            before = kv.stats.requests
            if documented_ok(key):
                await kv.set(key, "v")
                assert kv.stats.requests == before + 1
                seen["ok"] += 1
            else:
                with pytest.raises(ValidationError) as info:
                    await kv.set(key, "v")
                assert kv.stats.requests == before, "a rejected key must not be sent"
                assert info.value.field == "key"
                seen["bad"] += 1

        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(key=keys_strategy)
        @example(key="")
        @example(key="a" * 200)
        @example(key="a" * 201)
        @example(key="ab\n")
        @example(key="ns:ключ_ёЁ-1;2.3#4+5")
        @example(key="ключ й")
        @example(key="\u0451\u0401")
        @example(key="\u0450")  # ѐ, outside а-я
        def run(key: str) -> None:
            loop.run_until_complete(check(key))

        run()
        assert seen["ok"] > 20
        assert seen["bad"] > 20
        loop.run_until_complete(kv.close())
    finally:
        loop.close()


@pytest.mark.parametrize("call", ["get", "delete"])
@pytest.mark.parametrize("key", ["", "a b", "x" * 201, "ключ\n", None, b"bytes", 5])
async def test_get_and_delete_validate_key(credentials, mock_api, call, key) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await getattr(kv, call)(key)
        assert kv.stats.requests == 0
    assert info.value.field == "key"
    assert "200" in str(info.value)
    assert mock_api.requests == []


@pytest.mark.parametrize("call", ["items", "keys"])
async def test_prefix_validated_as_key(credentials, mock_api, call) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await getattr(kv, call)("bad prefix")
    assert info.value.field == "prefix"
    assert "'bad prefix'" in str(info.value)
    assert mock_api.requests == []


async def test_long_key_is_shortened_in_message(credentials) -> None:
    key = "k" * 150 + "!"
    async with make_kv(credentials) as kv:
        with pytest.raises(ValidationError) as info:
            await kv.get(key)
    msg = str(info.value)
    assert key not in msg
    assert "151 characters" in msg


async def test_value_too_long_never_echoed(credentials, mock_api) -> None:
    value = "SECRET-" + "x" * 1994
    assert len(value) == 2001
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await kv.set("ns:k", value)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, VoxKVError)
    assert exc.field == "value"
    msg = str(exc)
    assert "2000" in msg
    assert "2001" in msg
    assert "SECRET" not in msg
    assert "xxxx" not in msg
    assert "SECRET" not in repr(exc)
    assert mock_api.requests == []


async def test_value_at_limit_is_sent(credentials, mock_api) -> None:
    mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.set("ns:k", "я" * 2000)
        assert kv.stats.requests == 1


@pytest.mark.parametrize("value", [None, 5, b"bytes", ["x"]])
async def test_value_must_be_str(credentials, mock_api, value) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await kv.set("ns:k", value)
    assert info.value.field == "value"
    assert mock_api.requests == []


@pytest.mark.parametrize(
    ("kw", "field", "limit", "given"),
    [
        ({"ttl": -1}, "ttl", "7776000", "-1"),
        ({"ttl": 7_776_001}, "ttl", "7776000", "7776001"),
        ({"ttl": True}, "ttl", "7776000", "bool"),
        ({"ttl": 1.5}, "ttl", "7776000", "float"),
        ({"ttl": "60"}, "ttl", "7776000", "'60'"),
        ({"ttl": 60, "expires_at": 1_900_000_000}, "ttl", "at most one", "both"),
        ({"expires_at": -5}, "expires_at", "Unix seconds", "-5"),
        ({"expires_at": True}, "expires_at", "Unix seconds", "bool"),
        ({"expires_at": datetime(2030, 1, 1)}, "expires_at", "timezone-aware", "naive"),
    ],
)
async def test_expiry_validation(credentials, mock_api, kw, field, limit, given) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await kv.set("ns:k", "the-value", **kw)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert field in exc.field
    msg = str(exc)
    assert limit in msg
    assert given in msg
    assert "the-value" not in msg
    assert mock_api.requests == []


async def test_expires_at_datetime_before_epoch_refused(credentials, mock_api) -> None:
    from datetime import UTC

    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await kv.set("ns:k", "v", expires_at=datetime(1960, 1, 1, tzinfo=UTC))
    assert info.value.field == "expires_at"
    assert mock_api.requests == []


@pytest.mark.parametrize("ttl", [0, 1, 7_776_000])
async def test_ttl_bounds_accepted(credentials, mock_api, ttl) -> None:
    mock_api.post(f"{BASE}/SetKeyValueItem", payload={"result": ITEM})
    async with make_kv(credentials, mock_api) as kv:
        await kv.set("ns:k", "v", ttl=ttl)
    [request] = mock_api.requests
    assert request.form["ttl"] == str(ttl)


@pytest.mark.parametrize("call", ["items", "keys"])
@pytest.mark.parametrize(
    ("kw", "field", "limit", "given"),
    [
        ({"count": 0}, "count", "1..50", "0"),
        ({"count": 51}, "count", "1..50", "51"),
        ({"count": True}, "count", "1..50", "bool"),
        ({"count": "10"}, "count", "1..50", "'10'"),
        ({"offset": -1}, "offset", ">= 0", "-1"),
        ({"offset": 1.0}, "offset", ">= 0", "float"),
    ],
)
async def test_paging_validation(credentials, mock_api, call, kw, field, limit, given) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError) as info:
            await getattr(kv, call)("ns:", **kw)
    assert info.value.field == field
    assert limit in str(info.value)
    assert given in str(info.value)
    assert mock_api.requests == []


@pytest.mark.parametrize("walk", ["iter_items", "iter_keys"])
@pytest.mark.parametrize("page_size", [0, 51])
async def test_walk_page_size_validated(credentials, mock_api, walk, page_size) -> None:
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ValidationError):
            async for _ in getattr(kv, walk)("ns:", page_size=page_size):
                pass
    assert mock_api.requests == []


@pytest.mark.parametrize(
    ("app_id", "given"),
    [(0, "0"), (-3, "-3"), (True, "bool"), (False, "bool"), ("77", "'77'"), (None, "None"),
     (7.0, "float")],
)
def test_application_id_must_be_positive_int(credentials, app_id, given) -> None:
    with pytest.raises(ValidationError) as info:
        VoxKV(credentials, application_id=app_id)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert exc.field == "application_id"
    assert "positive" in str(exc)
    assert given in str(exc)


@pytest.mark.parametrize("name", ["", 5])
def test_application_name_must_be_non_empty_str(credentials, name) -> None:
    with pytest.raises(ValidationError) as info:
        VoxKV(credentials, application_id=1, application_name=name)
    assert info.value.field == "application_name"


def test_credentials_must_be_credentials() -> None:
    with pytest.raises(TypeError):
        VoxKV({"account_id": 1}, application_id=1)
