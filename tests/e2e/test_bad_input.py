"""Bad arguments: every public method gives a correct result or a ``ValidationError``,
and a ``ValidationError`` comes before any request is sent.

Arguments are generated as a mix of valid and invalid ones; the oracle (``*_ok``
below) restates the API's documented limits independently of the client's code. The
calls go to an emulator (plain HTTP on loopback), whose store checks the results.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxkv_async import KeyInfo, KeyValueItem, RetryPolicy, ValidationError, VoxKV
from voxkv_async.emulator import Emulator

KEY_CHARS = "abcXYZ019абвЖёЁ_-:;.#+"
KEY_RE = re.compile(r"[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]{1,200}")
NOW = int(time.time())
DAYS_80 = 80 * 86400
DAYS_91 = 91 * 86400


class Text(str):
    """A str subclass: not a str as far as the API's types go."""


valid_keys = st.text(alphabet=KEY_CHARS, min_size=1, max_size=200)
keys = st.one_of(
    valid_keys,
    valid_keys,
    st.just(""),
    st.text(alphabet=KEY_CHARS, min_size=201, max_size=260),
    st.text(min_size=1, max_size=30),  # mostly characters outside the pattern
    valid_keys.map(lambda k: k + "\n"),
    valid_keys.map(lambda k: " " + k),
    st.sampled_from(["ключ", "ns:k", "a/b", "a b", "ä", "k\x00", "%2F", "k&v=1", "Ⅷ", "١٢"]),
    st.integers() | st.none() | st.binary(max_size=5) | st.lists(st.text(max_size=2), max_size=2),
    valid_keys.map(Text),
)
values = st.one_of(
    st.text(max_size=2000),
    st.text(max_size=30),
    st.just(""),
    st.text(min_size=2001, max_size=2100),
    st.integers() | st.none() | st.binary(max_size=5) | st.floats(),
    st.text(max_size=5).map(Text),
)
ints_and_junk = st.one_of(
    st.booleans(), st.floats(allow_nan=True), st.text(max_size=4),
    st.integers().map(str), st.decimals(allow_nan=False, places=1), st.none(),
)
ttls = st.one_of(st.none(), st.integers(0, 7_776_000), st.integers(-(2**40), 2**40), ints_and_junk)
expiries = st.one_of(
    st.none(),
    st.integers(NOW, NOW + DAYS_80),
    st.integers(-(2**40), -1),
    st.integers(0, NOW - 3600),  # in the past
    st.integers(NOW + DAYS_91, 2**40),  # beyond 90 days
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1)),  # naive
    st.datetimes(max_value=datetime(1969, 12, 31), timezones=st.just(UTC)),
    st.integers(NOW, NOW + DAYS_80).map(lambda t: datetime.fromtimestamp(t, UTC)),
    st.integers(NOW, NOW + DAYS_80).map(
        lambda t: datetime.fromtimestamp(t, timezone(timedelta(hours=-7)))
    ),
    st.booleans(), st.floats(allow_nan=True), st.text(max_size=4),
)
counts = st.one_of(st.integers(1, 50), st.integers(-5, 60), ints_and_junk)
offsets = st.one_of(st.integers(0, 200), st.integers(-(2**20), -1), ints_and_junk)


# --- the oracle: the documented limits ---------------------------------------------------


def key_ok(key: Any) -> bool:
    return type(key) is str and KEY_RE.fullmatch(key) is not None


def value_ok(value: Any) -> bool:
    # A lone surrogate has no UTF-8 form: no request can carry it.
    return type(value) is str and len(value) <= 2000 and not _has_surrogate(value)


def int_ok(x: Any, lo: int, hi: int | None = None) -> bool:
    return type(x) is int and x >= lo and (hi is None or x <= hi)


def _in_window(ts: int) -> bool:
    now = time.time()
    return now - 60 <= ts <= now + 7_776_000 + 60


def expiry_ok(ttl: Any, expires_at: Any) -> bool:
    if ttl is not None and expires_at is not None:
        return False
    if expires_at is not None:
        # Refused locally: an expiry in the past or beyond 90 days (60 s of clock slack).
        if isinstance(expires_at, datetime):
            return expires_at.tzinfo is not None and _in_window(int(expires_at.timestamp()))
        return int_ok(expires_at, 0) and _in_window(expires_at)
    return ttl is None or int_ok(ttl, 0, 7_776_000)


# --- one emulator and client for every example ----------------------------------------------


class Env:
    def __init__(self, runner: asyncio.Runner, emu: Emulator, kv: VoxKV) -> None:
        self.runner, self.emu, self.kv = runner, emu, kv

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on a fresh store; its result or exception, and requests sent."""
        self.emu.reset()
        before = self.kv.stats.requests

        async def wrapped() -> Any:
            try:
                return await coro
            except Exception as exc:  # the test judges it
                return exc

        outcome = self.runner.run(wrapped())
        sent = self.kv.stats.requests - before
        assert sent == self.emu.stats.total_requests
        return outcome, sent


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with asyncio.Runner() as runner:
        emu = Emulator(tls=False)
        runner.run(emu.start())
        kv = VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
                   retry=RetryPolicy.disabled())
        try:
            yield Env(runner, emu, kv)
        finally:
            runner.run(kv.close())
            runner.run(emu.stop())


def expect(outcome: Any, sent: int, valid: bool) -> None:
    if valid:
        assert not isinstance(outcome, BaseException), repr(outcome)
        assert sent >= 1
    else:
        assert isinstance(outcome, ValidationError), repr(outcome)
        assert sent == 0, "a request was sent for invalid arguments"
        assert outcome.field
        assert outcome.limit


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _has_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


# --- the methods ------------------------------------------------------------------------------


@SETTINGS
@given(key=keys, value=values, ttl=ttls, expires_at=expiries)
def test_set(env: Env, key: Any, value: Any, ttl: Any, expires_at: Any) -> None:
    valid = key_ok(key) and value_ok(value) and expiry_ok(ttl, expires_at)
    outcome, sent = env.run(env.kv.set(key, value, ttl=ttl, expires_at=expires_at))
    expect(outcome, sent, valid)
    if valid:
        assert outcome.key == key
        assert outcome.value == value
        assert type(outcome.expires_at) is int
        if type(expires_at) is int:
            assert outcome.expires_at == expires_at
        stored = env.emu.items()
        if outcome.expires_at > time.time():
            assert stored == {key: value}
        else:
            assert stored == {}  # expired as soon as written


async def _after_maybe_storing(env: Env, key: Any, present: bool, call: Any) -> Any:
    """``call(key)`` once ``key`` was stored (if ``present`` and valid)."""
    if present and key_ok(key):
        await env.kv.set(key, "stored")
    return await call(key)


@SETTINGS
@given(key=keys, present=st.booleans())
def test_get(env: Env, key: Any, present: bool) -> None:
    outcome, sent = env.run(_after_maybe_storing(env, key, present, env.kv.get))
    expect(outcome, sent, key_ok(key))
    if key_ok(key):
        assert outcome == (KeyValueItem(key, "stored", outcome.expires_at) if present else None)


@SETTINGS
@given(key=keys, present=st.booleans())
def test_delete(env: Env, key: Any, present: bool) -> None:
    outcome, sent = env.run(_after_maybe_storing(env, key, present, env.kv.delete))
    expect(outcome, sent, key_ok(key))
    if key_ok(key):
        assert outcome is present
        assert env.emu.items() == {}


def _fill(n: int) -> dict[str, str]:
    return {f"p:{i:03d}": f"v{i}" for i in range(n)}


async def _seeded(env: Env, pairs: dict[str, str], listing: Any) -> Any:
    """``await listing()`` once every pair is stored."""
    for k, v in pairs.items():
        await env.kv.set(k, v)
    return await listing()


def _matching_keys(outcome: Any, sent: int, valid: bool, pairs: dict[str, str],
                   prefix: Any) -> list[str] | None:
    """The keys a valid listing must return, in order; ``None`` for invalid arguments,
    after checking they gave a ``ValidationError`` and sent nothing but the seeding."""
    if not valid:
        assert isinstance(outcome, ValidationError), repr(outcome)
        assert sent == len(pairs), "a request was sent for invalid arguments"
        return None
    assert not isinstance(outcome, BaseException), repr(outcome)
    return sorted(k for k in pairs if prefix is None or k.startswith(prefix))


@SETTINGS
@given(method=st.sampled_from(["items", "keys"]), prefix=keys | st.none(), count=counts,
       offset=offsets)
def test_items_and_keys(env: Env, method: str, prefix: Any, count: Any, offset: Any) -> None:
    pairs = _fill(7)

    def listing() -> Any:
        return getattr(env.kv, method)(prefix, count=count, offset=offset)

    prefix_ok = key_ok(prefix) or (method == "keys" and prefix is None)
    valid = prefix_ok and int_ok(count, 1, 50) and int_ok(offset, 0)
    outcome, sent = env.run(_seeded(env, pairs, listing))
    matching = _matching_keys(outcome, sent, valid, pairs, prefix)
    if matching is None:
        return
    want = matching[offset: offset + count]
    if method == "keys":
        assert [x.key for x in outcome] == want
        assert all(type(x) is KeyInfo for x in outcome)
    else:
        assert outcome == [KeyValueItem(k, pairs[k], x.expires_at) for k, x in zip(want, outcome,
                                                                                     strict=True)]


@SETTINGS
@given(method=st.sampled_from(["iter_items", "iter_keys"]), prefix=keys | st.none(),
       page_size=counts)
def test_iterators(env: Env, method: str, prefix: Any, page_size: Any) -> None:
    pairs = _fill(12)

    async def walk() -> Any:
        return [x async for x in getattr(env.kv, method)(prefix, page_size=page_size)]

    prefix_ok = key_ok(prefix) or (method == "iter_keys" and prefix is None)
    valid = prefix_ok and int_ok(page_size, 1, 50)
    outcome, sent = env.run(_seeded(env, pairs, walk))
    matching = _matching_keys(outcome, sent, valid, pairs, prefix)
    if matching is None:
        return
    assert [x.key for x in outcome] == matching
    # One request per page (pages overlap by one entry), plus the empty page that ends
    # the walk, plus at most the pages asked for ahead (one more per full page).
    pages = -(-len(matching) // max(1, page_size - 1)) + 1
    assert pages - 1 <= sent - len(pairs) <= 2 * pages


def test_constructor_arguments(credentials: Any) -> None:
    for app in (0, -1, True, 1.5, "7", None):
        with pytest.raises(ValidationError):
            VoxKV(credentials, application_id=app)
    for name in ("", 5):
        with pytest.raises(ValidationError):
            VoxKV(credentials, application_id=1, application_name=name)
    for url in ("http://example.com/platform_api", "ftp://127.0.0.1/x",
                "https://h/platform_api?x=1", "not a url"):
        with pytest.raises(ValueError):
            VoxKV(credentials, application_id=1, base_url=url)
    with pytest.raises(TypeError):
        VoxKV({"account_id": 1}, application_id=1)  # type: ignore[arg-type]


# --- known bugs ---------------------------------------------------------------------------------


def test_value_with_lone_surrogate(env: Env) -> None:
    outcome, sent = env.run(env.kv.set("k", "abc\ud800"))
    assert isinstance(outcome, ValidationError), repr(outcome)
    assert sent == 0


def test_expires_at_datetime_before_epoch(env: Env) -> None:
    outcome, sent = env.run(env.kv.set("k", "v", expires_at=datetime(1960, 1, 1, tzinfo=UTC)))
    assert isinstance(outcome, ValidationError), repr(outcome)
    assert sent == 0
