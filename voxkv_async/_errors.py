"""The exception hierarchy, and the map from Voximplant error codes to it.

Every exception the client raises on purpose derives from :class:`VoxKVError`. Messages
name the method and the key, never a stored value, a token or a private key.

    VoxKVError
    ├── ClientClosedError (also RuntimeError)
    ├── WrongEventLoopError (also RuntimeError)
    ├── CredentialsError
    ├── ValidationError (also ValueError)
    ├── DecodeError (also ValueError)  a stored value its codec cannot read
    ├── ApiError                   the API answered with an error
    │   ├── AuthenticationError    100, 433, 447, 454, 455, 456, HTTP 401
    │   ├── PermissionDeniedError  104, HTTP 403
    │   ├── InvalidArgumentError   101, 134, 477, 485, 496, 497, 499
    │   ├── ApplicationNotFoundError 116, 558
    │   ├── RateLimitedError       314, 340, 416, HTTP 429       (retried)
    │   └── ServerError            1, 2, 4, 162, 484, 515, HTTP 5xx (retried)
    ├── TransportError             the request did not complete   (retried)
    │   ├── ConnectError
    │   ├── RequestTimeoutError (also TimeoutError)
    │   └── TLSVerificationError   (never retried)
    └── ProtocolError              the answer is not what the API sends
        └── IncompleteResponseError  the body broke off midway (retried)
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "ApplicationNotFoundError",
    "AuthenticationError",
    "ClientClosedError",
    "ConnectError",
    "CredentialsError",
    "DecodeError",
    "IncompleteResponseError",
    "InvalidArgumentError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TLSVerificationError",
    "TransportError",
    "ValidationError",
    "VoxKVError",
    "WrongEventLoopError",
    "api_error",
    "shorten",
    "status_error",
    "timed_out",
]


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class VoxKVError(Exception):
    """Base class of every error raised by voxkv_async."""

    #: Whether the retry policy may try the call again after this error.
    retryable: ClassVar[bool] = False
    #: Whether the request may have been applied although the call failed: it left, and
    #: no answer came back that says it was not (a timeout, a connection dropped after
    #: sending, a gateway's 500/502/504), in this or an earlier attempt of the call. False
    #: when nothing was sent (no connection, none free in time, a refused token not
    #: repeated in time). Bulk runs report such items as unknown outcomes.
    may_have_applied: bool = False


class ClientClosedError(VoxKVError, RuntimeError):
    """The client was closed: before the call, or while it ran."""


class WrongEventLoopError(VoxKVError, RuntimeError):
    """The client was used from another event loop than the one it was opened on.

    A client's connections belong to one event loop: make one client per loop (per
    thread running a loop), inside that loop.
    """


class DecodeError(VoxKVError, ValueError):
    """A stored value could not be decoded (e.g. ``get_json`` of a value that is no JSON).

    Attributes:
        key: The key whose value it is.
        codec: The codec's name (``"json"``).
    """

    def __init__(self, key: str, codec: str, problem: str) -> None:
        self.key = key
        self.codec = codec
        # The problem names a position, never the value: values may be secrets.
        super().__init__(f"the value of key {shorten(key)!r} is not valid {codec}: {problem}")


class CredentialsError(VoxKVError):
    """The service-account credentials are missing or invalid.

    Attributes:
        source: The file (or environment variable) they came from.
        field: The offending field of ``credentials.json``, or ``None`` for the whole file.
    """

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        where = f"{source}: field {field!r}" if field else source
        super().__init__(f"credentials {where} {problem}")


class ValidationError(VoxKVError, ValueError):
    """An argument is out of the API's limits; raised before any request is made.

    Attributes:
        field: The argument's name (``key``, ``value``, ``ttl``, ...).
        limit: The rule it breaks, in words.
        given: A short, safe description of what was given (values are never echoed).
    """

    def __init__(self, field: str, limit: str, given: str) -> None:
        self.field = field
        self.limit = limit
        self.given = given
        super().__init__(f"{field}: {limit}; got {given}")


class ApiError(VoxKVError):
    """The API answered with an error envelope, or an HTTP error status.

    Attributes:
        code: The Voximplant error code, or ``None`` for a bare HTTP error.
        msg: The server's message.
        method: The API method (``SetKeyValueItem`` ...).
        key: The key the call was about, if any.
        status: The HTTP status of the answer.
        retry_after: Seconds the server asked to wait before trying again
            (``Retry-After``, or code 416's "after N seconds"), when it said so.
        errors: Every ``(code, msg)`` the answer carried, the first one (which decided
            the class) included: an answer may hold an ``errors`` array beside or
            instead of ``error``.
        server_date: The answer's HTTP ``Date`` header, if it had one: the server's
            clock, which the client learns from after a clock error (codes 455, 456).
    """

    def __init__(
        self,
        msg: str,
        *,
        code: int | None = None,
        method: str = "",
        key: str | None = None,
        status: int = 200,
        retry_after: float | None = None,
        errors: tuple[tuple[int | None, str], ...] = (),
        server_date: str | None = None,
    ) -> None:
        self.code = code
        self.msg = msg
        self.method = method
        self.key = key
        self.status = status
        self.retry_after = retry_after
        self.errors = errors or ((code, msg),)
        self.server_date = server_date
        super().__init__(self._describe())

    def _describe(self) -> str:
        what = f"code {self.code}" if self.code is not None else f"HTTP {self.status}"
        about = f" for key {shorten(self.key)!r}" if self.key else ""
        return f"{self.method or 'API'} failed{about}: {what}: {shorten(self.msg, 200)}"


class AuthenticationError(ApiError):
    """The token was refused: bad credentials, unknown key id, or clock skew."""


class PermissionDeniedError(ApiError):
    """The service account lacks a role: key-value calls need Owner, Admin or Developer."""

    def _describe(self) -> str:
        return super()._describe() + " (the service account needs role Owner, Admin or Developer)"


class InvalidArgumentError(ApiError):
    """The API rejected an argument."""


class ApplicationNotFoundError(ApiError):
    """The application id or name does not exist in this account."""


class RateLimitedError(ApiError):
    """The API asked to slow down (codes 314, 340, 416, HTTP 429); see ``retry_after``.

    Code 314, "Concurrent resource limit exceeded", and HTTP 429 without a delay refuse a
    request beyond the account's limit on requests in flight; 340, 416 and 429 with
    ``Retry-After`` one beyond its rate. Both are throttles: retried, never final.
    """

    retryable = True


class ServerError(ApiError):
    """A transient failure on the far side (codes 1, 2, 4, 162, 484, 515, HTTP 5xx).

    ``retry_after`` holds a 503's ``Retry-After``, if any.
    """

    retryable = True

    def __init__(self, msg: str, **kw: Any) -> None:
        super().__init__(msg, **kw)
        # A gateway's 500/502/504 with no API code may hide an applied request.
        self.may_have_applied = self.code is None and self.status in _AMBIGUOUS_STATUSES


class TransportError(VoxKVError):
    """The request did not complete: connection refused or reset, DNS, TLS handshake.

    ``may_have_applied`` is ``False`` when the request is known not to have left (no
    connection could be made, or no pooled connection became free in time).
    """

    retryable = True
    may_have_applied = True

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.may_have_applied = sent


class ConnectError(TransportError):
    """No connection could be made, or it broke before the answer arrived."""


class RequestTimeoutError(TransportError, TimeoutError):
    """An attempt took longer than its timeout, or the call ran past its deadline."""


class TLSVerificationError(TransportError):
    """The server's certificate did not verify. Never retried: it will not fix itself."""

    retryable = False
    may_have_applied = False


class ProtocolError(VoxKVError):
    """The answer is not one the API sends: not JSON, wrong shape, too large.

    Attributes:
        status: The HTTP status.
        excerpt: The start of a non-JSON body (JSON bodies are described, not quoted, as
            they may carry stored values).
        method: The API method.
    """

    def __init__(self, problem: str, *, status: int, method: str = "", excerpt: str = "") -> None:
        self.status = status
        self.excerpt = excerpt
        self.method = method
        tail = f": {excerpt!r}" if excerpt else ""
        super().__init__(f"{method or 'API'}: HTTP {status}: {problem}{tail}")


class IncompleteResponseError(ProtocolError):
    """The answer's body broke off before its end: a transport fault, so retried."""

    retryable = True
    may_have_applied = True


# Codes from the API's error list that this client treats specially. Unknown codes
# become a plain ApiError: not retried, since retrying what we do not understand can
# multiply load during an incident.
_CODE_CLASSES: dict[int, type[ApiError]] = {
    **dict.fromkeys((100, 433, 447, 454, 455, 456), AuthenticationError),
    104: PermissionDeniedError,
    **dict.fromkeys((101, 134, 477, 485, 496, 497, 499), InvalidArgumentError),
    **dict.fromkeys((116, 558), ApplicationNotFoundError),
    **dict.fromkeys((314, 340, 416), RateLimitedError),
    **dict.fromkeys((1, 2, 4, 162, 484, 515), ServerError),
}

# HTTP statuses of a gateway that may have passed the request on before failing.
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})

# Which HTTP statuses are errors whatever the body says, and of which class (5xx: ServerError).
_STATUS_CLASSES: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    429: RateLimitedError,
}


def status_error(status: int) -> type[ApiError] | None:
    """The class of error an HTTP ``status`` is by itself, or ``None`` if it is none."""
    return ServerError if status >= 500 else _STATUS_CLASSES.get(status)


#: Auth codes after which a freshly signed token may succeed (re-signed once per call).
RESIGN_CODES = frozenset({100, 455, 456})
#: Codes that say the client's clock disagrees with the server's.
CLOCK_CODES = frozenset({455, 456})

_AFTER_N_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)


def _seconds_in(msg: str) -> float | None:
    """The N of code 416's 'repeat after N seconds', if the message has one."""
    m = _AFTER_N_SECONDS.search(msg)
    return float(m.group(1)) if m else None


def api_error(
    code: int | None,
    msg: str,
    *,
    method: str,
    key: str | None,
    status: int = 200,
    retry_after: float | None = None,
    errors: tuple[tuple[int | None, str], ...] = (),
    server_date: str | None = None,
) -> ApiError:
    """The exception for an API error envelope or an HTTP error status.

    ``errors`` is every ``(code, msg)`` of the answer; ``code`` and ``msg`` (the first)
    decide the class.
    """
    # A known code decides; an unknown one (or none) leaves it to the HTTP status, so a
    # 429 or 5xx with an unfamiliar error body is still retried.
    cls = (_CODE_CLASSES.get(code) if code is not None else None) or status_error(status)
    if retry_after is None and code == 416:
        retry_after = _seconds_in(msg)
    return (cls or ApiError)(msg, code=code, method=method, key=key, status=status,
                             retry_after=retry_after, errors=errors, server_date=server_date)


def timed_out(method: str, why: str, *, sent: bool) -> RequestTimeoutError:
    """The one maker of :class:`RequestTimeoutError`: ``method: why``.

    ``sent`` says whether the request may have reached the server, and so whether the
    call may have applied: ``False`` when time ran out before anything was sent (waiting
    for a connection, connecting, between attempts, after a refused token), ``True``
    once it may have been written.
    """
    return RequestTimeoutError(f"{method}: {why}", sent=sent)
