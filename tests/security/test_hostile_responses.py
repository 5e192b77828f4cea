"""Hostile and broken answers: a correct result or a documented VoxKVError, never else.

Generated bodies (random JSON, wrong types, bad encodings, HTML, huge and truncated
bodies) with random statuses are served by aioresponses; what aioresponses cannot
serve (bodies broken off, lying lengths, endless streams, compression bombs, garbage
HTTP) comes from a raw TCP server on loopback. The oracle:

* a JSON object with a non-null ``error``: an ``ApiError`` (the class its code maps to);
* otherwise HTTP 429: ``RateLimitedError``; 5xx: ``ServerError``; 401/403: their classes;
* otherwise a JSON object with ``result`` and a 2xx status: the parsed result, exactly,
  when the result has the documented shape, else the result or a ``ProtocolError``;
* anything else: ``ProtocolError``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aioresponses import aioresponses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from voxkv_async import (
    ApiError,
    AuthenticationError,
    ConnectError,
    Credentials,
    IncompleteResponseError,
    InvalidArgumentError,
    KeyInfo,
    KeyValueItem,
    Limits,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Timeouts,
    VoxKV,
    VoxKVError,
)

LIMIT = 4096
BASE = "http://127.0.0.1:9/platform_api"  # never contacted: aioresponses answers
KEY, VALUE = "ns:k1", "v"
METHODS = {
    "set": "SetKeyValueItem",
    "get": "GetKeyValueItem",
    "delete": "DelKeyValueItem",
    "items": "GetKeyValueItems",
    "keys": "GetKeyValueKeys",
}
CODE_CLASSES = {
    **dict.fromkeys((100, 433, 447, 454, 455, 456), AuthenticationError),
    104: PermissionDeniedError,
    **dict.fromkeys((101, 134, 477, 485, 496, 497, 499), InvalidArgumentError),
    **dict.fromkeys((340, 416), RateLimitedError),
    **dict.fromkeys((1, 2, 4, 162, 484, 515), ServerError),
}


def make_client(credentials: Credentials, base_url: str = BASE) -> VoxKV:
    return VoxKV(
        credentials,
        application_id=7,
        base_url=base_url,
        retry=RetryPolicy.disabled(),
        limits=Limits(max_response_bytes=LIMIT),
        timeouts=Timeouts(connect=1.0, attempt=2.0, deadline=3.0),
    )


async def call(kv: VoxKV, method: str) -> Any:
    if method == "set":
        return await kv.set(KEY, VALUE)
    if method == "get":
        return await kv.get(KEY)
    if method == "delete":
        return await kv.delete(KEY)
    if method == "items":
        return await kv.items("ns:")
    return await kv.keys("ns:")


# --- strategies -------------------------------------------------------------------------

leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
any_json = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10,
)
expiry = (st.integers(0, 2**40) | st.integers(0, 2**40).map(str) | st.just(1.7e9)
          | st.sampled_from(["\u00b2", "١٢", "-5", " 5", "5.0"]) | any_json)
item = st.fixed_dictionaries(
    {},
    optional={
        "key": st.from_regex(r"[a-z:0-9]{1,12}", fullmatch=True) | any_json,
        "value": st.text(max_size=30) | any_json,
        "expires_at": expiry,
    },
)
result = (
    item
    | st.lists(item | any_json | st.text(max_size=8), max_size=4)
    | st.sampled_from([1, True, "1", "ok", "OK", 0, "0", None, {}, [], "", False])
    | st.fixed_dictionaries({}, optional={"items": st.lists(item, max_size=3),
                                          "keys": st.lists(st.text(max_size=5), max_size=3),
                                          "total": any_json})
    | any_json
)
error = (
    st.fixed_dictionaries(
        {},
        optional={
            "code": st.sampled_from(sorted(CODE_CLASSES)) | st.integers(-5, 1000)
            | st.integers(0, 600).map(str) | any_json,
            "msg": st.text(max_size=40) | st.just("Repeat the request after 2 seconds")
            | any_json,
            "message": st.text(max_size=10),
        },
    )
    | any_json
)
envelope = (
    st.fixed_dictionaries({}, optional={"result": result, "error": error,
                                        "errors": st.lists(error, max_size=3) | any_json})
    | any_json
)


def _encodings(payload: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(payload)
    return st.sampled_from(
        [
            text.encode(),
            json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass"),
            text.encode("utf-16"),
            json.dumps(payload, ensure_ascii=False).encode("latin-1", "replace"),
            b"\xef\xbb\xbf" + text.encode(),  # a BOM
        ]
    )


def _truncated(payload: Any) -> st.SearchStrategy[bytes]:
    raw = json.dumps(payload).encode()
    return st.integers(0, max(0, len(raw) - 1)).map(lambda n: raw[:n])


bodies = st.one_of(
    envelope.flatmap(_encodings),
    envelope.flatmap(_truncated),
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b"<!DOCTYPE html><title>Login</title>",
            b"",
            b"null",
            b"\x00" * 50,
            b'{"result": ' + b"[" * 50 + b"]" * 50 + b"}",
            b'{"result": {"key": "ns:k1", "value": "' + b"x" * (LIMIT + 10) + b'"}}',
            b" " * (LIMIT + 1),
        ]
    ),
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502,
                            503, 504]) | st.integers(200, 599)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.sampled_from(["1", "0", "-3", "nan", "inf", "1e400", "soon",
                                        "Wed, 21 Oct 2015 07:28:00 GMT",
                                        "Fri, 31 Dec 9999 23:59:59 GMT"]) | st.text(max_size=12),
        "Date": st.sampled_from(["Mon, 01 Jan 2024 00:00:00 GMT", "garbage",
                                 "Fri, 31 Dec 9999 23:59:59 -2359"]) | st.text(max_size=12),
        "Content-Type": st.sampled_from(["application/json", "text/html", "text/plain",
                                         "application/json; charset=latin-1"]),
    },
)


# --- the oracle ----------------------------------------------------------------------------

_NOT_JSON = object()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _expiry_of(raw: Any) -> tuple[bool, int | None]:
    if raw is None:
        return True, None
    if type(raw) is int:
        return True, raw
    if isinstance(raw, float) and raw.is_integer():
        return True, int(raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return True, int(raw)
    return False, None


def _item_of(raw: Any) -> KeyValueItem | None:
    """The item a well-formed ``{key, value, expires_at}`` stands for, else None."""
    if type(raw) is not dict or type(raw.get("key")) is not str:
        return None
    if type(raw.get("value")) is not str:
        return None
    ok, exp = _expiry_of(raw.get("expires_at"))
    return KeyValueItem(raw["key"], raw["value"], exp) if ok else None


def _key_of(raw: Any) -> KeyInfo | None:
    if type(raw) is str:
        return KeyInfo(raw)
    if type(raw) is not dict or type(raw.get("key")) is not str:
        return None
    ok, exp = _expiry_of(raw.get("expires_at"))
    return KeyInfo(raw["key"], exp) if ok else None


_EMPTY = (None, {}, [], "", False)


def _is_empty(r: Any) -> bool:
    return r is None or r is False or (type(r) in (dict, list, str) and not r)


def expected_result(method: str, r: Any) -> tuple[bool, Any]:
    """``(known, value)``: the exact answer for documented shapes; known=False otherwise."""
    if method == "get":
        if _is_empty(r):
            return True, None
        item_ = _item_of(r)
        return item_ is not None, item_
    if method == "set":
        if type(r) is dict:
            item_ = _item_of(r)
            return item_ is not None, item_
        if any(r == x and type(r) is type(x) for x in (1, True, "1", "ok", "OK")):
            return True, KeyValueItem(KEY, VALUE, None)
        return False, None
    if method == "delete":
        if _is_empty(r) or (type(r) is int and r == 0) or r == "0":
            return True, False
        if (type(r) is int and r == 1) or r is True:
            return True, True
        return False, None
    parse = _item_of if method == "items" else _key_of
    if _is_empty(r):
        return True, []
    if type(r) is not list:
        return False, None
    parsed = [parse(x) for x in r]
    return all(p is not None for p in parsed), parsed


def _is_error_answer(payload: dict[str, Any]) -> bool:
    """A non-null ``error``, or a non-empty ``errors`` array (anything else there is ignored)."""
    errors = payload.get("errors")
    return payload.get("error") is not None or (type(errors) is list and len(errors) > 0)


def check_outcome(method: str, status: int, raw: bytes, outcome: Any) -> None:
    payload = _loads(raw)
    is_obj = type(payload) is dict
    if isinstance(outcome, BaseException) and not isinstance(outcome, VoxKVError):
        raise AssertionError(f"foreign exception {type(outcome).__name__}") from outcome
    if len(raw) > LIMIT:  # refused before it is even decoded
        assert type(outcome) is ProtocolError, outcome
        assert "limit" in str(outcome)
        return
    if is_obj and _is_error_answer(payload):
        assert isinstance(outcome, ApiError), outcome
        assert outcome.status == status
        # The first error decides: ``error`` if present, else the first of ``errors``.
        err = payload["error"] if payload.get("error") is not None else payload["errors"][0]
        assert outcome.errors[0] == (outcome.code, outcome.msg)
        code = err.get("code") if type(err) is dict else None
        if type(code) is int and code in CODE_CLASSES:
            assert type(outcome) is CODE_CLASSES[code], (code, type(outcome))
            assert outcome.code == code
        return
    by_status = {429: RateLimitedError, 401: AuthenticationError, 403: PermissionDeniedError}
    if status == 429 or status >= 500 or status in by_status:
        assert type(outcome) is by_status.get(status, ServerError), outcome
        assert outcome.status == status
        assert outcome.code is None
        return
    if is_obj and "result" in payload and status < 300:
        if isinstance(outcome, VoxKVError):
            assert type(outcome) is ProtocolError, outcome
            known, _ = expected_result(method, payload["result"])
            assert not known, f"a well-formed answer was refused: {outcome}"
            return
        known, value = expected_result(method, payload["result"])
        if known:
            assert outcome == value
        else:
            _check_types(method, outcome)
        return
    assert type(outcome) is ProtocolError, outcome
    assert str(outcome)


def _check_types(method: str, outcome: Any) -> None:
    if method == "delete":
        assert type(outcome) is bool
        return
    items = outcome if method in ("items", "keys") else [outcome]
    if method == "get" and outcome is None:
        return
    assert type(items) is list
    for x in items:
        assert type(x) is (KeyInfo if method == "keys" else KeyValueItem), x
        assert type(x.key) is str
        assert x.expires_at is None or type(x.expires_at) is int
        if method != "keys":
            assert type(x.value) is str


# --- generated answers through aioresponses --------------------------------------------------


@pytest.fixture
def runner_kv(credentials: Credentials) -> Iterator[tuple[asyncio.Runner, VoxKV]]:
    """One loop and one client for every generated example (hypothesis drives it)."""
    with asyncio.Runner() as runner:
        kv = make_client(credentials)
        runner.run(kv.__aenter__())
        try:
            yield runner, kv
        finally:
            runner.run(kv.close())


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from(sorted(METHODS)), status=statuses, raw=bodies, hdrs=headers)
@example(method="get", status=200, raw=b'{"result": {"key": "a", "value": "b", "expires_at": 5}}',
         hdrs={})
@example(method="set", status=200, raw=b'{"error": {"code": 455, "msg": "future"}}',
         hdrs={"Date": "Fri, 31 Dec 9999 23:59:59 -2359"})
@example(method="set", status=503, raw=b"", hdrs={"Retry-After": "1e400"})
@example(method="get", status=200, raw=b'{"errors": [{"code": 340, "msg": "slow down"}]}',
         hdrs={})
@example(method="get", status=200, raw=b'{"result": null, "errors": []}', hdrs={})
@example(method="keys", status=200, raw=b'{"result": ["a", {"key": "b"}]}', hdrs={})
def test_generated_answers(
    runner_kv: tuple[asyncio.Runner, VoxKV], method: str, status: int, raw: bytes,
    hdrs: dict[str, str],
) -> None:
    runner, kv = runner_kv
    outcome = runner.run(_serve_once(kv, method, status, raw, hdrs))
    check_outcome(method, status, raw, outcome)


async def _serve_once(kv: VoxKV, method: str, status: int, raw: bytes,
                      hdrs: dict[str, str]) -> Any:
    with aioresponses() as mock:
        mock.post(re.compile(r".*"), status=status, body=raw, headers=hdrs, repeat=True)
        try:
            return await call(kv, method)
        except Exception as exc:  # the oracle judges it
            return exc


# --- known bugs --------------------------------------------------------------------------------


async def test_digit_like_strings_in_expires_at(credentials: Credentials) -> None:
    body = b'{"result": {"key": "ns:k1", "value": "v", "expires_at": "\\u00b2"}}'
    async with make_client(credentials) as kv:
        with aioresponses() as mock:
            mock.post(re.compile(r".*"), body=body)
            with pytest.raises(ProtocolError):
                await kv.get(KEY)


@pytest.mark.parametrize("code", ["--5", "\u00b2"])
async def test_digit_like_strings_in_error_code(credentials: Credentials, code: str) -> None:
    body = json.dumps({"error": {"code": code, "msg": "x"}}).encode()
    async with make_client(credentials) as kv:
        with aioresponses() as mock:
            mock.post(re.compile(r".*"), body=body)
            with pytest.raises(ApiError):
                await kv.get(KEY)


# --- a raw server for what aioresponses cannot serve ---------------------------------------------

Responder = Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """An HTTP/1.1 server written by hand: answers each request with ``respond``."""

    def __init__(self) -> None:
        self.respond: Responder = _bytes(b"HTTP/1.1 204 No Content\r\n\r\n")
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            self.requests += 1
            await self.respond(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _bytes(data: bytes) -> Responder:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return respond


def _http(status: str, body: bytes, *extra: str, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest_asyncio.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def raw_kv(raw_server: RawServer, credentials: Credentials) -> AsyncIterator[VoxKV]:
    async with make_client(credentials, f"http://127.0.0.1:{raw_server.port}/platform_api") as kv:
        yield kv


GOOD = b'{"result": {"key": "ns:k1", "value": "v", "expires_at": 1700000000}}'


@pytest.mark.parametrize("cut", [0, 1, len(GOOD) // 2, len(GOOD) - 1])
async def test_body_broken_off_before_content_length(
    raw_server: RawServer, raw_kv: VoxKV, cut: int
) -> None:
    raw_server.respond = _bytes(_http("200 OK", GOOD[:cut], length=len(GOOD)))
    with pytest.raises(IncompleteResponseError) as info:
        await raw_kv.get(KEY)
    assert info.value.retryable  # a transport fault: retried under a normal policy


async def test_chunked_body_broken_off(raw_server: RawServer, raw_kv: VoxKV) -> None:
    raw_server.respond = _bytes(
        _http("200 OK", b"40\r\n" + GOOD[:20], "Transfer-Encoding: chunked")
    )
    with pytest.raises(IncompleteResponseError):
        await raw_kv.get(KEY)


@given(cut=st.integers(0, len(GOOD)))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_close_delimited_body_cut_anywhere(credentials: Credentials, cut: int) -> None:
    """No length given, connection closed early: a shorter body is just JSON or not."""

    async def scenario() -> Any:
        server = RawServer()
        server.respond = _bytes(_http("200 OK", GOOD[:cut], "Connection: close"))
        await server.start()
        try:
            async with make_client(credentials,
                                   f"http://127.0.0.1:{server.port}/platform_api") as kv:
                try:
                    return await kv.get(KEY)
                except Exception as exc:  # the oracle judges it
                    return exc
        finally:
            await server.stop()

    outcome = asyncio.run(scenario())
    check_outcome("get", 200, GOOD[:cut], outcome)


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 abc Broken\r\n\r\n",
        b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    ],
    ids=["status", "version", "not-http", "negative-length", "two-lengths", "bad-header",
         "bad-chunk", "bad-gzip"],
)
async def test_malformed_http(raw_server: RawServer, raw_kv: VoxKV, response: bytes) -> None:
    raw_server.respond = _bytes(response)
    with pytest.raises(ProtocolError):
        await raw_kv.get(KEY)


async def test_deeply_nested_json(raw_server: RawServer, credentials: Credentials) -> None:
    body = b"[" * 100_000 + b"]" * 100_000  # 200 kB, under the 4 MB default limit
    raw_server.respond = _bytes(_http("200 OK", body, length=len(body)))
    async with VoxKV(credentials, application_id=7, retry=RetryPolicy.disabled(),
                     base_url=f"http://127.0.0.1:{raw_server.port}/platform_api") as kv:
        with pytest.raises(ProtocolError):
            await kv.get(KEY)


async def test_no_answer_at_all_is_a_connect_error(raw_server: RawServer, raw_kv: VoxKV) -> None:
    raw_server.respond = _bytes(b"")
    with pytest.raises(ConnectError):
        await raw_kv.get(KEY)


# --- size limits and memory -----------------------------------------------------------------------


def _endless(chunk: bytes, head: bytes) -> Responder:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        for _ in range(20_000):  # up to ~1.3 GB: far past any limit
            writer.write(chunk)
            await writer.drain()

    return respond


async def _peak_during(coro: Awaitable[Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            result: Any = await coro
        except Exception as exc:  # returned for the caller to check
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("framing", ["close-delimited", "chunked"])
async def test_endless_body_is_cut_at_the_limit(
    raw_server: RawServer, raw_kv: VoxKV, framing: str
) -> None:
    block = b"[" + b"0," * 32_000 + b"0]"
    if framing == "chunked":
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    else:
        head, chunk = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", block
    raw_server.respond = _endless(chunk, head)
    outcome, peak = await _peak_during(raw_kv.get(KEY))
    assert type(outcome) is ProtocolError, outcome
    assert "limit" in str(outcome)
    assert peak < 8 * LIMIT + 1_000_000, peak


async def test_announced_huge_length_is_refused_unread(raw_server: RawServer, raw_kv: VoxKV
                                                     ) -> None:
    raw_server.respond = _endless(b"x" * 65536, _http("200 OK", b"", length=10**10))
    outcome, peak = await _peak_during(raw_kv.get(KEY))
    assert type(outcome) is ProtocolError, outcome
    assert "limit" in str(outcome)
    assert peak < 1_000_000, peak


async def test_compression_bomb_is_bounded(raw_server: RawServer, raw_kv: VoxKV) -> None:
    """50 MB of zeros gzipped to ~50 kB: the size limit applies to the decoded body."""
    bomb = gzip.compress(b'{"result": "' + b"0" * 50_000_000 + b'"}', compresslevel=9)
    raw_server.respond = _bytes(
        _http("200 OK", bomb, "Content-Encoding: gzip", length=len(bomb))
    )
    outcome, peak = await _peak_during(raw_kv.get(KEY))
    assert type(outcome) is ProtocolError, outcome
    assert "limit" in str(outcome)
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while decoding a bomb"
