"""Errors: the documented codes map to their classes, and messages leak nothing."""

from __future__ import annotations

import pytest

from voxkv_async import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    ConnectError,
    CredentialsError,
    IncompleteResponseError,
    InvalidArgumentError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TLSVerificationError,
    TransportError,
    ValidationError,
    VoxKVError,
)

from _support import SET_URL, everything_said, make_kv

SECRET = "TOP-SECRET-VALUE-42"

# docs/explanation/real-api.md, "Error codes".
CODE_TABLE = {
    1: ServerError, 2: ServerError, 4: ServerError,
    100: AuthenticationError,
    104: PermissionDeniedError,
    101: InvalidArgumentError, 134: InvalidArgumentError, 477: InvalidArgumentError,
    485: InvalidArgumentError, 496: InvalidArgumentError, 497: InvalidArgumentError,
    499: InvalidArgumentError,
    116: ApplicationNotFoundError, 558: ApplicationNotFoundError,
    162: ServerError, 484: ServerError, 515: ServerError,
    340: RateLimitedError,
    416: RateLimitedError,
    433: AuthenticationError, 447: AuthenticationError, 454: AuthenticationError,
    455: AuthenticationError, 456: AuthenticationError,
}
RETRIED = {1, 2, 4, 162, 484, 515, 340, 416}


@pytest.mark.parametrize(("code", "cls"), sorted(CODE_TABLE.items()), ids=str)
async def test_documented_code_maps_to_class(credentials, mock_api, code, cls) -> None:
    mock_api.post(SET_URL, repeat=True,
                  payload={"error": {"code": code, "msg": f"failure number {code}"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ApiError) as info:
            await kv.set("ns:key", SECRET)
        expected_requests = 2 if code in (100, 455, 456) else 1
        assert kv.stats.requests == expected_requests
        assert kv.stats.errors == {cls.__name__: 1}
    exc = info.value
    assert type(exc) is cls
    assert exc.code == code
    assert exc.msg == f"failure number {code}"
    assert exc.method == "SetKeyValueItem"
    assert exc.key == "ns:key"
    assert exc.status == 200
    assert exc.retryable is (code in RETRIED)
    text = everything_said(exc)
    assert "SetKeyValueItem" in text
    assert "ns:key" in text
    assert str(code) in text
    assert SECRET not in text
    for request in mock_api.sent(SET_URL):
        token = request.headers["Authorization"].removeprefix("Bearer ")
        assert token not in text
        assert token[:40] not in text
    assert "Bearer" not in text


async def test_unknown_code_is_plain_api_error_not_retried(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"error": {"code": 31337, "msg": "novel"}})
    async with make_kv(credentials, mock_api, retry=RetryPolicy.for_testing()) as kv:
        with pytest.raises(ApiError) as info:
            await kv.set("ns:key", SECRET)
        assert kv.stats.requests == 1
    assert type(info.value) is ApiError
    assert info.value.code == 31337


@pytest.mark.parametrize(
    ("status", "cls"),
    [(429, RateLimitedError), (500, ServerError), (502, ServerError), (503, ServerError),
     (504, ServerError), (401, AuthenticationError), (403, PermissionDeniedError)],
)
async def test_http_status_maps_to_class(credentials, mock_api, status, cls) -> None:
    mock_api.post(SET_URL, status=status, body="", content_type="text/plain")
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(cls) as info:
            await kv.set("ns:key", SECRET)
    exc = info.value
    assert type(exc) is cls
    assert exc.code is None
    assert exc.status == status
    assert str(status) in str(exc)
    assert SECRET not in everything_said(exc)


async def test_permission_denied_names_the_roles(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"error": {"code": 104, "msg": "Forbidden command"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(PermissionDeniedError) as info:
            await kv.set("ns:key", SECRET)
    msg = str(info.value)
    for role in ("Owner", "Admin", "Developer"):
        assert role in msg


async def test_rate_limited_carries_retry_after_header(credentials, mock_api) -> None:
    mock_api.post(SET_URL, status=429, body="slow down", headers={"Retry-After": "12"})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(RateLimitedError) as info:
            await kv.set("ns:key", "v")
    assert info.value.retry_after == 12.0


async def test_rate_limited_416_carries_seconds_from_message(credentials, mock_api) -> None:
    mock_api.post(SET_URL,
                payload={"error": {"code": 416, "msg": "Repeat the request after 3 seconds"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(RateLimitedError) as info:
            await kv.set("ns:key", "v")
    assert info.value.retry_after == 3.0


async def test_rate_limited_340_without_hint_has_no_retry_after(credentials, mock_api) -> None:
    mock_api.post(SET_URL, payload={"error": {"code": 340, "msg": "Rate limit exceeded"}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(RateLimitedError) as info:
            await kv.set("ns:key", "v")
    assert info.value.retry_after is None


async def test_server_error_503_carries_retry_after(credentials, mock_api) -> None:
    mock_api.post(SET_URL, status=503, body="", headers={"Retry-After": "4"})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(ServerError) as info:
            await kv.set("ns:key", "v")
    assert info.value.retry_after == 4.0


async def test_long_key_shortened_and_long_msg_capped(credentials, mock_api) -> None:
    key = "k" * 200
    mock_api.post(SET_URL, payload={"error": {"code": 101, "msg": "m" * 5000}})
    async with make_kv(credentials, mock_api) as kv:
        with pytest.raises(InvalidArgumentError) as info:
            await kv.set(key, "v")
    assert info.value.key == key
    assert key not in str(info.value)
    assert len(str(info.value)) < 600


def test_hierarchy() -> None:
    for cls in (CredentialsError, ValidationError, ApiError, TransportError, ProtocolError):
        assert issubclass(cls, VoxKVError)
    for cls in (AuthenticationError, PermissionDeniedError, InvalidArgumentError,
                ApplicationNotFoundError, RateLimitedError, ServerError):
        assert issubclass(cls, ApiError)
    for cls in (ConnectError, RequestTimeoutError, TLSVerificationError):
        assert issubclass(cls, TransportError)
    assert issubclass(ValidationError, ValueError)
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(IncompleteResponseError, ProtocolError)
    assert IncompleteResponseError.retryable
    assert not TLSVerificationError.retryable
    assert not ProtocolError.retryable
    assert ConnectError.retryable
