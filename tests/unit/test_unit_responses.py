"""Answer shapes: every UNKNOWN shape the real API may send, and malformed answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxkv_async import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    Credentials,
    InvalidArgumentError,
    KeyInfo,
    KeyValueItem,
    PermissionDeniedError,
    ProtocolError,
    Request,
    Response,
    RetryPolicy,
    ServerError,
    VoxKV,
    VoxKVError,
)
from voxkv_async._listing import SAME_PAGES

import _support as support
from _support import DEL_URL, GET_URL, ITEM, ITEMS_URL, KEYS_URL, SET_URL, MockApi


def make_kv(credentials: Credentials, api: MockApi | None = None, **kw: Any) -> VoxKV:
    kw.setdefault("retry", RetryPolicy.for_testing(max_attempts=3))
    return support.make_kv(credentials, api, **kw)


# --- get / delete / set --------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"result": None},
        {"result": {}},
        {"result": []},
        {"result": ""},
        {"result": False},
        {"error": {"code": 999, "msg": "Key not found"}},
        {"error": {"code": 101, "msg": "The key 'ns:k' was not found"}},
        {"error": {"code": 134, "msg": "key does not exist"}},
        {"error": {"msg": "No such key"}},
        {"error": {"code": "404", "msg": "NOT FOUND"}},
    ],
)
async def test_get_returns_none_for_every_missing_shape(credentials, mock_api, payload) -> None:
    mock_api.post(GET_URL, payload=payload)
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.get("ns:k") is None
        assert kv.stats.errors == {}
        assert kv.stats.requests == 1


async def test_get_parses_item(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"result": {"key": "ns:k", "value": "v", "expires_at": 5}})
    async with make_kv(credentials, mock_api) as kv:
        item = await kv.get("ns:k")
    assert item == KeyValueItem("ns:k", "v", 5)
    assert item.expires_at_utc is not None
    assert item.expires_at_utc.utcoffset().total_seconds() == 0
    assert item.expires_at_utc.timestamp() == 5


async def test_get_other_errors_still_raise(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": 101, "msg": "Invalid key"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError):
            await kv.get("ns:k")
        assert kv.stats.errors == {"InvalidArgumentError": 1}


@pytest.mark.parametrize(
    ("code", "msg", "cls"),
    [
        (116, "Application not found", ApplicationNotFoundError),
        (558, "Application not found", ApplicationNotFoundError),
        (101, "Application 'x' not found", InvalidArgumentError),
        (433, "Key id not found", AuthenticationError),
        (104, "Role not found for this command", PermissionDeniedError),
    ],
)
@pytest.mark.parametrize("call", ["get", "delete"])
async def test_not_found_about_something_else_still_raises(
    credentials, mock_api, code, msg, cls, call
) -> None:
    url = GET_URL if call == "get" else DEL_URL
    mock_api.post(url, payload={"error": {"code": code, "msg": msg}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(cls):
            await getattr(kv, call)("ns:k")
        assert kv.stats.errors == {cls.__name__: 1}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"result": 1}, True),
        ({"result": True}, True),
        ({"result": "1"}, True),
        ({"result": 0}, False),
        ({"result": "0"}, False),
        ({"result": None}, False),
        ({"result": False}, False),
        ({"result": {}}, False),
        ({"error": {"code": 999, "msg": "Key not found"}}, False),
        ({"error": {"code": 101, "msg": "key does not exist"}}, False),
    ],
)
async def test_delete_result_shapes(credentials, mock_api, payload, expected) -> None:
    mock_api.post(DEL_URL, payload=payload)
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.delete("ns:k") is expected
        assert kv.stats.errors == {}


async def test_set_returns_server_item(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"result": {"key": "ns:k", "value": "v", "expires_at": 99}})
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.set("ns:k", "v", ttl=1) == KeyValueItem("ns:k", "v", 99)


@pytest.mark.parametrize("result", [1, True, "ok"])
async def test_set_tolerates_bare_success_flag(credentials, mock_api, result) -> None:
    mock_api.post(SET_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.set("ns:k", "v") == KeyValueItem("ns:k", "v", None)


@pytest.mark.parametrize("result", [None, 0, "nope", [ITEM], 2.5])
async def test_set_with_unusable_result_is_protocol_error(credentials, mock_api, result) -> None:
    mock_api.post(SET_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError):
            await kv.set("ns:k", "v")


# --- lists ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([{"key": "a", "expires_at": 1}, {"key": "b", "expires_at": 2}],
         [KeyInfo("a", 1), KeyInfo("b", 2)]),
        (["a", "b"], [KeyInfo("a"), KeyInfo("b")]),
        (["a", {"key": "b", "expires_at": 2}, {"key": "c"}],
         [KeyInfo("a"), KeyInfo("b", 2), KeyInfo("c")]),
        (None, []),
        ([], []),
        ({}, []),
        ({"keys": ["a"], "total": 1}, [KeyInfo("a")]),
    ],
)
async def test_keys_shapes(credentials, mock_api, result, expected) -> None:
    mock_api.post(KEYS_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.keys("ns:") == expected


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([{"key": "a", "value": "1", "expires_at": 1}, {"key": "b", "value": "", "expires_at": 2}],
         [KeyValueItem("a", "1", 1), KeyValueItem("b", "", 2)]),
        ([{"key": "a", "value": 5}], [KeyValueItem("a", "5", None)]),
        (None, []),
        ([], []),
        ({"items": [ITEM], "total": 1}, [KeyValueItem("ns:k", "v", 1_900_000_000)]),
    ],
)
async def test_items_shapes(credentials, mock_api, result, expected) -> None:
    mock_api.post(ITEMS_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        assert await kv.items("ns:") == expected


def paging_server(total: list, cap: int, seen: list[tuple[int, int]], shape):
    def answer(request: Request) -> Response:
        form = request.form
        count, offset = int(form["count"]), int(form["offset"])
        seen.append((offset, count))
        page = total[offset:offset + min(count, cap)]
        return Response.of_json({"result": [shape(x) for x in page]})
    return answer


@pytest.mark.parametrize(("n", "cap"), [(0, 50), (3, 50), (23, 10), (50, 50), (120, 50),
                                        (7, 3)])
async def test_iter_items_walks_until_empty_page(credentials, mock_api, n, cap) -> None:
    keys = [f"ns:{i:03}" for i in range(n)]
    seen: list[tuple[int, int]] = []
    mock_api.post(ITEMS_URL, repeat=True, callback=paging_server(
        keys, cap, seen, lambda k: {"key": k, "value": k.upper(), "expires_at": 1}))
    async with make_kv(credentials, mock_api) as kv:
        got = [item async for item in kv.iter_items("ns:")]
    assert [i.key for i in got] == keys
    assert all(i.value == i.key.upper() for i in got)
    assert seen[0] == (0, 50)
    if n < cap:  # one page, and the empty page that ends the walk
        assert seen == [(0, 50), (n, 50)][:1 + (n > 0)]
    else:  # pages overlap by one entry; a server capping pages is asked for that many
        assert len(seen) <= 2 * (-(-n // (cap - 1)) + 2)


async def test_iter_keys_walks_bare_strings_without_prefix(credentials, mock_api) -> None:
    keys = [f"k{i}" for i in range(25)]
    seen: list[tuple[int, int]] = []
    forms: list[dict] = []

    inner = paging_server(keys, 10, seen, lambda k: k)

    def answer(request: Request) -> Response:
        forms.append(request.form)
        return inner(request)

    mock_api.post(KEYS_URL, repeat=True, callback=answer)
    async with make_kv(credentials, mock_api) as kv:
        got = [info async for info in kv.iter_keys(page_size=20, concurrency=1)]
    assert got == [KeyInfo(k) for k in keys]
    # A short first page, a second one not empty: the server caps pages at 10, so pages
    # of 10 follow, each starting at the last entry of the one before.
    assert seen == [(0, 20), (10, 20), (9, 10), (18, 10), (25, 10)]
    assert all("key" not in f for f in forms)


@pytest.mark.parametrize("walk", ["iter_items", "iter_keys"])
async def test_server_ignoring_offset_is_protocol_error(credentials, mock_api, walk) -> None:
    page = [{"key": f"ns:{i}", "value": "v", "expires_at": 1} for i in range(5)]
    url = ITEMS_URL if walk == "iter_items" else KEYS_URL
    mock_api.post(url, repeat=True, payload={"result": page})
    got: list = []

    async def walk_all(kv: VoxKV) -> None:
        async for x in getattr(kv, walk)("ns:"):
            got.append(x)
            assert len(got) < 1000, "infinite loop"

    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError, match="offset"):
            await walk_all(kv)
        assert kv.stats.requests <= 2 * SAME_PAGES + 2
    assert len(got) == 5


async def test_offset_error_names_the_keys_method(credentials, mock_api) -> None:
    mock_api.post(KEYS_URL, repeat=True, payload={"result": ["a", "b"]})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError) as info:
            async for _ in kv.iter_keys("ns:"):
                pass
    assert info.value.method == "GetKeyValueKeys"
    assert "GetKeyValueKeys" in str(info.value)


# --- malformed answers ---------------------------------------------------------------


async def test_non_json_200_is_protocol_error_with_excerpt(credentials, mock_api) -> None:
    mock_api.post(GET_URL, status=200, body="hello, not json", content_type="text/plain")
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 1  # not retried
    exc = info.value
    assert exc.status == 200
    assert "hello, not json" in exc.excerpt
    assert "200" in str(exc)
    assert "GetKeyValueItem" in str(exc)


async def test_invalid_utf8_body_is_protocol_error(credentials, mock_api) -> None:
    mock_api.post(GET_URL, status=200, body=b"\xff\xfe{garbage", content_type="text/plain")
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError):
            await kv.get("ns:k")


async def test_html_502_gateway_page_is_server_error_after_retries(credentials, mock_api) -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>" \
           "<hr><center>nginx</center></body></html>"
    mock_api.post(GET_URL, status=502, body=html, content_type="text/html", repeat=True)
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ServerError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 3
        assert kv.stats.errors == {"ServerError": 1}
    exc = info.value
    assert exc.status == 502
    assert "502" in str(exc)
    assert "Bad Gateway" in str(exc)
    assert exc.code is None


@pytest.mark.parametrize("status", [404, 400, 302])
async def test_html_4xx_is_protocol_error(credentials, mock_api, status) -> None:
    mock_api.post(GET_URL, status=status, body="<html>nope</html>", content_type="text/html")
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 1
    assert info.value.status == status
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("[1, 2]", "list"),
        ('"text"', "str"),
        ("42", "int"),
        ("null", "NoneType|neither|not an object"),
        ("{}", "neither"),
        ('{"results": {}}', "neither"),
    ],
)
async def test_json_of_wrong_shape_is_protocol_error(credentials, mock_api, body, match) -> None:
    mock_api.post(GET_URL, status=200, body=body, content_type="application/json")
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError, match=match):
            await kv.get("ns:k")


@pytest.mark.parametrize(
    "result",
    [
        "a string",
        5,
        True,
        [ITEM],
        {"value": "v", "expires_at": 1},
        {"key": "k", "expires_at": 1},
        {"key": "k", "value": None},
        {"key": 5, "value": "v"},
        {"key": "k", "value": {"nested": 1}},
        {"key": "k", "value": "v", "expires_at": "tomorrow"},
        {"key": "k", "value": "v", "expires_at": 1.5},
        {"key": "k", "value": "v", "expires_at": [1]},
        {"key": "k", "value": "v", "expires_at": True},
    ],
)
async def test_get_wrong_result_is_protocol_error(credentials, mock_api, result) -> None:
    mock_api.post(GET_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError) as info:
            await kv.get("ns:k")
    # Described, never quoted: JSON bodies may carry stored values.
    assert info.value.excerpt == ""


@pytest.mark.parametrize(
    "result",
    [
        "a string",
        5,
        {"total": 3},
        [1, 2],
        ["bare-string-is-not-an-item"],
        [{"key": "k"}],
        [{"value": "v"}],
        [ITEM, None],
        [{"key": "k", "value": "v", "expires_at": "soon"}],
    ],
)
async def test_items_wrong_result_is_protocol_error(credentials, mock_api, result) -> None:
    mock_api.post(ITEMS_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError):
            await kv.items("ns:")


@pytest.mark.parametrize(
    "result", [5, "x", [5], [{"expires_at": 1}], [{"key": 1}], [{"key": "k", "expires_at": "x"}]]
)
async def test_keys_wrong_result_is_protocol_error(credentials, mock_api, result) -> None:
    mock_api.post(KEYS_URL, payload={"result": result})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError):
            await kv.keys("ns:")


@pytest.mark.parametrize(("raw", "parsed"), [("1700000000", 1_700_000_000), (1.7e9, 1_700_000_000)])
async def test_expires_at_tolerated_forms(credentials, mock_api, raw, parsed) -> None:
    mock_api.post(GET_URL, payload={"result": {"key": "k", "value": "v", "expires_at": raw}})
    async with make_kv(credentials, mock_api) as kv:
        item = await kv.get("ns:k")
    assert item is not None
    assert item.expires_at == parsed
    assert type(item.expires_at) is int


@pytest.mark.parametrize("raw", ["²", "1²", "①"])
async def test_expires_at_unicode_digit_string_is_protocol_error(credentials, mock_api,
                                                                 raw) -> None:
    mock_api.post(GET_URL, payload={"result": {"key": "k", "value": "v", "expires_at": raw}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError):
            await kv.get("ns:k")


async def test_error_code_as_string(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": "101", "msg": "Invalid key"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError) as info:
            await kv.get("ns:k")
    assert info.value.code == 101


async def test_error_code_unparseable_is_plain_api_error(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"error": {"code": "abc", "msg": "weird"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ApiError) as info:
            await kv.get("ns:k")
    assert info.value.code is None
    assert info.value.msg == "weird"


async def test_extra_errors_array_is_ignored(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={
        "error": {"code": 101, "msg": "Invalid key"},
        "errors": [{"code": 2, "msg": "Internal"}, {"code": 116, "msg": "x"}],
    })
    mock_api.post(GET_URL, payload={"result": ITEM, "errors": []})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError) as info:
            await kv.get("ns:k")
        assert info.value.code == 101
        assert await kv.get("ns:k") == KeyValueItem("ns:k", "v", 1_900_000_000)


async def test_error_envelope_with_http_500_uses_code(credentials, mock_api) -> None:
    mock_api.post(GET_URL, status=500, payload={"error": {"code": 101, "msg": "Invalid key"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError):
            await kv.get("ns:k")
        assert kv.stats.requests == 1


# --- anything at all: only VoxKVError or a result ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["key", "value", "expires_at", "ns:k", "1", "0"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["key", "value", "expires_at", "result", "error", "code", "msg",
                         "items", "keys", "errors"]) | st.text(max_size=4),
        children, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"result": json_values}).map(json.dumps),
    st.fixed_dictionaries({"error": json_values}).map(json.dumps),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502])


def test_any_answer_gives_a_result_or_a_voxkv_error(credentials, mock_api) -> None:
    loop = asyncio.new_event_loop()
    state: dict = {}

    def answer(request: Request) -> Response:
        return Response(state["status"], {"Content-Type": "application/json"},
                        state["body"].encode())

    try:
        for url in (SET_URL, GET_URL, DEL_URL, ITEMS_URL, KEYS_URL):
            mock_api.post(url, callback=answer, repeat=True)
        kv = make_kv(credentials, mock_api, retry=RetryPolicy.disabled())
        # Each call, and what its result must be when it gives one.
        calls = [
            (lambda: kv.set("ns:k", "v"), lambda r: isinstance(r, KeyValueItem)),
            (lambda: kv.get("ns:k"), lambda r: r is None or isinstance(r, KeyValueItem)),
            (lambda: kv.delete("ns:k"), lambda r: isinstance(r, bool)),
            (lambda: kv.items("ns:"),
             lambda r: isinstance(r, list) and all(isinstance(i, KeyValueItem) for i in r)),
            (lambda: kv.keys("ns:"),
             lambda r: isinstance(r, list) and all(isinstance(i, KeyInfo) for i in r)),
        ]

        async def check(which: int) -> None:
            call, expected = calls[which]
            with contextlib.suppress(VoxKVError):
                result = await call()
                assert expected(result), result

        @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=bodies, status=statuses, which=st.integers(0, 4))
        def run(body: str, status: int, which: int) -> None:
            state["body"], state["status"] = body, status
            loop.run_until_complete(check(which))

        run()
        loop.run_until_complete(kv.close())
    finally:
        loop.close()


async def test_a_404_saying_not_found_is_no_answer_about_the_key(credentials, mock_api) -> None:
    # A gateway's or a wrong path's 404 must not read as "no such key".
    mock_api.post(GET_URL, status=404, payload={"error": "Not Found"})
    mock_api.post(DEL_URL, status=404, payload={"error": "Not Found"})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ApiError) as got:
            await kv.get("ns:k")
        assert got.value.status == 404
        with pytest.raises(ApiError):
            await kv.delete("ns:k")
