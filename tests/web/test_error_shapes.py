"""Every error answer shape maps to the same typed exceptions (on MockTransport)."""

from __future__ import annotations

from typing import Any

import pytest
from _mock_api import GET_URL, ITEM, SET_URL
from _mock_api import make_kv as mocked_kv

from voxkv_async import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    InvalidArgumentError,
    ProtocolError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
)

ONE = {"code": 558, "msg": "Application is not found."}
TWO = {"code": 496, "msg": "The 'key' parameter is invalid."}

SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("error", {"error": ONE}),
    ("errors", {"errors": [ONE]}),
    ("both", {"error": ONE, "errors": [ONE, TWO]}),
    ("errors with a result", {"result": ITEM, "errors": [ONE, TWO]}),
]


@pytest.mark.parametrize(("name", "body"), SHAPES, ids=[n for n, _ in SHAPES])
async def test_every_shape_is_the_same_typed_error(credentials, mock_api, name, body) -> None:
    mock_api.post(SET_URL, payload=body)
    async with mocked_kv(credentials, mock_api) as kv:
        with pytest.raises(ApplicationNotFoundError) as info:
            await kv.set("ns:k", "v")
    exc = info.value
    assert (exc.code, exc.msg) == (558, "Application is not found.")
    assert exc.errors[0] == (558, "Application is not found.")
    assert exc.method == "SetKeyValueItem"


async def test_the_others_are_kept_on_the_exception(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"error": ONE, "errors": [ONE, TWO, {"msg": "no code"}]})
    async with mocked_kv(credentials, mock_api) as kv:
        with pytest.raises(ApplicationNotFoundError) as info:
            await kv.set("ns:k", "v")
    # The array's repeat of ``error`` is not kept twice; order is the answer's.
    assert info.value.errors == (
        (558, "Application is not found."),
        (496, "The 'key' parameter is invalid."),
        (None, "no code"),
    )


async def test_the_first_error_decides_the_class(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"errors": [TWO, ONE]})
    async with mocked_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError) as info:
            await kv.set("ns:k", "v")
    assert info.value.code == 496
    assert [code for code, _ in info.value.errors] == [496, 558]


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        ({"errors": [{"code": 340, "msg": "Rate limit exceed"}]}, RateLimitedError),
        ({"errors": [{"code": "2", "msg": "Internal error"}]}, ServerError),
        ({"errors": [{"code": 100, "msg": "Authorization failed"}]}, AuthenticationError),
        ({"errors": [{"code": 9999, "msg": "new"}]}, ApiError),
    ],
)
async def test_errors_array_codes_map_like_error(credentials, mock_api, body, cls) -> None:
    mock_api.post(GET_URL, payload=body, repeat=True)
    async with mocked_kv(credentials, mock_api) as kv:
        with pytest.raises(cls) as info:
            await kv.get("ns:k")
    assert type(info.value) is cls


async def test_errors_array_throttle_is_retried(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"errors": [{"code": 340, "msg": "Rate limit exceed"}]})
    mock_api.post(GET_URL, payload={"result": ITEM})
    async with mocked_kv(credentials, mock_api, retry=RetryPolicy.for_testing()) as kv:
        item = await kv.get("ns:k")
        assert item is not None
        assert kv.stats.retries == 1


async def test_errors_array_saying_not_found_is_a_missing_key(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"errors": [{"code": 101, "msg": "Key 'ns:k' not found"}]})
    async with mocked_kv(credentials, mock_api) as kv:
        assert await kv.get("ns:k") is None


@pytest.mark.parametrize(
    "body",
    [{"errors": []}, {"errors": {"code": 2}}, {"errors": "oops"}, {"errors": None}],
)
async def test_no_error_and_no_result_is_a_protocol_error(credentials, mock_api, body) -> None:
    mock_api.post(GET_URL, payload=body)
    async with mocked_kv(credentials, mock_api) as kv:
        with pytest.raises(ProtocolError, match="neither 'result' nor 'error'"):
            await kv.get("ns:k")


async def test_empty_errors_beside_a_result_is_a_success(credentials, mock_api) -> None:
    mock_api.post(GET_URL, payload={"result": ITEM, "errors": []})
    async with mocked_kv(credentials, mock_api) as kv:
        item = await kv.get("ns:k")
    assert item is not None
    assert item.value == "v"
