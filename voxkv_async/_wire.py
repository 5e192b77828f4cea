"""The wire format, in one place: what the API accepts and what it answers.

Requests go as ``POST {base_url}/{Method}`` with every parameter in an
``application/x-www-form-urlencoded`` body (:class:`RequestBuilder`). The URL style puts
the method in access logs and metrics; the body keeps values and keys out of them.

Answers are JSON envelopes: ``{"result": ...}``, or ``{"error": {"msg", "code"}}`` (usually
with HTTP 200), or ``{"errors": [{"msg", "code"}, ...]}``, or both error forms at once.
:func:`decode` turns an answer into its ``result`` or raises the typed error;
the ``read_*`` functions turn a result into value objects, tolerating every shape the
real API may plausibly send where its docs are silent (see the docs page "The real API:
what we know"): a missing key as ``null``, ``{}``, ``""``, ``false`` or a "not found"
error; a deleted count as ``1``/``true``; key lists as objects or bare strings; pages
wrapped as ``{"items": [...]}``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

from ._errors import (
    ApiError,
    InvalidArgumentError,
    ProtocolError,
    ValidationError,
    api_error,
    status_error,
)
from ._httpdate import parse_http_date
from ._models import KeyInfo, KeyValueItem

__all__ = [
    "DEL",
    "GET",
    "ITEMS",
    "KEYS",
    "METHODS",
    "SET",
    "RequestBuilder",
    "decode",
    "means_missing",
    "offset_ignored",
    "read_deleted",
    "read_get",
    "read_item",
    "read_items",
    "read_keys",
    "read_set",
]

SET, GET, DEL = "SetKeyValueItem", "GetKeyValueItem", "DelKeyValueItem"
ITEMS, KEYS = "GetKeyValueItems", "GetKeyValueKeys"
#: The five API methods this client calls.
METHODS = (SET, GET, DEL, ITEMS, KEYS)

#: The request body's content type.
FORM = "application/x-www-form-urlencoded"

_EXCERPT = 200
_MAX_ERRORS = 20  # entries of an ``errors`` array kept on the exception
_NOT_JSON = object()
_INT_TEXT = re.compile(r"\s*(-?[0-9]+)\s*")  # ASCII digits only: int() takes "²" too
# How the API may say "no such key" when it answers with an error (UNKNOWN: its code for
# this is undocumented, so the message decides).
_MISSING = re.compile(r"not\s+(?:be\s+)?found|does\s*n[o']?t\s+exist|no\s+such|unknown\s+key", re.I)
# A bare success flag some servers may answer Set with instead of the item.
_SET_FLAGS = (1, True, "1", "ok", "OK")


# --- requests --------------------------------------------------------------------------


class RequestBuilder:
    """Encodes the form bodies of the five calls for one application.

    It only encodes: the arguments come checked (keys, values, expiries, pages are
    checked once, where a call's command is built: :class:`~voxkv_async._commands.Commands`).

    Args:
        application_id: Sent with every call.
        application_name: Sent along when given.
    """

    __slots__ = ("_application",)

    def __init__(self, application_id: int, application_name: str | None = None) -> None:
        form: dict[str, Any] = {"application_id": application_id}
        if application_name is not None:
            form["application_name"] = application_name
        # Every body starts with these fields: encoded once.
        self._application = urlencode(form)

    def set(self, key: str, value: str, expiry: tuple[str, int]) -> str:
        """The body of a ``SetKeyValueItem``; ``expiry`` is ``("ttl", n)`` or
        ``("expires_at", ts)``."""
        name, seconds = expiry
        try:
            # quote_plus per field: the bytes urlencode() gives, at under half its cost.
            return (f"{self._application}&key={quote_plus(key)}&value={quote_plus(value)}"
                    f"&{name}={seconds}")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it, so no request
            raise ValidationError(
                "value", "must be valid Unicode text (no lone surrogates)",
                f"{len(value)} characters",
            ) from None

    def key(self, key: str) -> str:
        """The body of a ``GetKeyValueItem`` or ``DelKeyValueItem``."""
        return f"{self._application}&key={quote_plus(key)}"

    def page(self, prefix: str | None, count: int, offset: int) -> str:
        """The body of a ``GetKeyValueItems``/``GetKeyValueKeys`` page (``None``: all keys)."""
        params: dict[str, Any] = {"count": count, "offset": offset}
        if prefix is not None:
            params["key"] = prefix
        return f"{self._application}&{urlencode(params)}"


# --- answers -----------------------------------------------------------------------------


def decode(status: int, raw: bytes, headers: Mapping[str, str], method: str,
           key: str | None) -> Any:
    """The ``result`` of an answer; raises the :class:`ApiError` or :class:`ProtocolError`.

    Args:
        status: The HTTP status.
        raw: The body.
        headers: The answer's headers (``Retry-After``, ``Date``).
        method: The API method, for messages.
        key: The key the call was about, for messages.
    """
    try:
        payload: Any = json.loads(raw)
    except (ValueError, RecursionError):  # bad UTF-8 is a ValueError; [[[...]]] recurses
        payload = _NOT_JSON
    if type(payload) is dict:
        errors = _errors_of(payload)
        if errors:
            (code, msg), *_ = errors
            raise api_error(code, msg, method=method, key=key, status=status,
                            retry_after=_retry_after(headers), errors=errors,
                            server_date=headers.get("Date"))
        if "result" in payload and status < 300:
            return payload["result"]
    if status_error(status) is not None:
        reason = _excerpt(raw) if payload is _NOT_JSON else "HTTP error"
        raise api_error(None, reason or f"HTTP {status}", method=method, key=key,
                        status=status, retry_after=_retry_after(headers),
                        server_date=headers.get("Date"))
    if payload is _NOT_JSON:
        raise ProtocolError("answer is not JSON", status=status, method=method,
                            excerpt=_excerpt(raw))
    if type(payload) is not dict:
        raise ProtocolError(f"answer is a JSON {type(payload).__name__}, not an object",
                            status=status, method=method)
    raise ProtocolError("answer has neither 'result' nor 'error'/'errors'", status=status,
                        method=method)


def _errors_of(payload: dict[str, Any]) -> tuple[tuple[int | None, str], ...]:
    """Every ``(code, msg)`` of an error answer; ``()`` when it is no error answer.

    The answer is an error when it has a non-null ``error`` or a non-empty ``errors``
    array (the shape the Go, Node and PHP SDKs model), or both. ``error`` comes first;
    then each entry of ``errors`` (repeats of an entry already read left out). Anything else
    under ``errors`` (an empty array, an object, a string) is not read.
    """
    found: list[tuple[int | None, str]] = []
    error = payload.get("error")
    if error is not None:
        found.append(_code_and_msg(error))
    array = payload.get("errors")
    if type(array) is list:
        for entry in array[:_MAX_ERRORS]:
            pair = _code_and_msg(entry)
            if pair not in found:
                found.append(pair)
    return tuple(found)


def _code_and_msg(error: object) -> tuple[int | None, str]:
    if not isinstance(error, dict):
        return None, _short_text(error)
    code: Any = error.get("code")
    if isinstance(code, str):
        match = _INT_TEXT.fullmatch(code)
        code = int(match.group(1)) if match else None
    if type(code) is not int:
        code = None
    msg = error.get("msg", error.get("message", ""))
    return code, _short_text(msg)


def _short_text(obj: object) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)[:_EXCERPT]
    return text[:_EXCERPT]


def _excerpt(raw: bytes) -> str:
    return " ".join(raw[:_EXCERPT].decode("utf-8", "replace").split())


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds: a number, or a date read against the answer's ``Date``."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    until = parse_http_date(value)
    if until is None:
        return None
    # Measured from the answer's own Date when it has one: our clock may be skewed.
    now = parse_http_date(headers.get("Date"))
    return max(0.0, until - (time.time() if now is None else now))


def means_missing(exc: ApiError) -> bool:
    """Whether an error answer says "no such key" (an UNKNOWN shape of the real API)."""
    # Only an argument error or an unclassified one can mean "no such key": an
    # application, permission or auth error that says "not found" is about something else.
    if type(exc) not in (ApiError, InvalidArgumentError):
        return False
    if exc.status != 200:  # a 404 "Not Found" from a gateway is no answer about the key
        return False
    return _MISSING.search(exc.msg) is not None and "application" not in exc.msg.lower()


# --- results -----------------------------------------------------------------------------


def _bad(method: str, problem: str) -> ProtocolError:
    # Describe the shape, never quote it: JSON answers may carry stored values.
    return ProtocolError(problem, status=200, method=method)


def offset_ignored(method: str) -> ProtocolError:
    """A listing's pages do not move with ``offset``: the walk would never end."""
    return _bad(method, "the server ignores offset: the same page came back at "
                        "every offset")


def _is_empty(result: Any) -> bool:
    """Whether ``result`` is one of the answers that mean "no such item"."""
    return result is None or result == {} or result == [] or result == "" or result is False


def read_set(result: Any, key: str, value: str) -> KeyValueItem:
    """The stored item of a Set answer."""
    if type(result) is dict:
        return read_item(result, SET)
    # Some servers may answer a bare success flag: the item is what we sent.
    if result in _SET_FLAGS:
        return KeyValueItem(key, value, None)
    raise _bad(SET, f"result is {type(result).__name__}, expected the item")


def read_get(result: Any) -> KeyValueItem | None:
    """The item of a Get answer; ``None`` for any of the "missing" shapes."""
    return None if _is_empty(result) else read_item(result, GET)


def read_deleted(result: Any) -> bool:
    """Whether a Del answer says a key was deleted (``1``/``true``) or not (``0``, empty)."""
    return not (_is_empty(result) or result in (0, "0"))


def read_item(raw: object, method: str) -> KeyValueItem:
    """A :class:`KeyValueItem` from one ``{key, value, expires_at}`` object."""
    if type(raw) is not dict:
        raise _bad(method, f"item is {type(raw).__name__}, expected an object")
    key = raw.get("key")
    value = raw.get("value")
    if type(key) is not str:
        raise _bad(method, "item has no string 'key'")
    if type(value) is not str:
        # Numbers and booleans are what a JSON-minded server might send for "1" or "true".
        if value is None or isinstance(value, dict | list):
            raise _bad(method, "item has no string 'value'")
        value = str(value)
    return KeyValueItem(key, value, _expiry(raw.get("expires_at"), method))


def _read_key(raw: object, method: str) -> KeyInfo:
    """A :class:`KeyInfo` from ``{key, expires_at}`` or a bare key string."""
    if type(raw) is str:
        return KeyInfo(raw)
    if type(raw) is not dict:
        raise _bad(method, f"key entry is {type(raw).__name__}, expected an object or a string")
    key = raw.get("key")
    if type(key) is not str:
        raise _bad(method, "key entry has no string 'key'")
    return KeyInfo(key, _expiry(raw.get("expires_at"), method))


def read_items(result: Any) -> list[KeyValueItem]:
    """The items of a ``GetKeyValueItems`` page."""
    return [read_item(x, ITEMS) for x in _list_of(result, ITEMS)]


def read_keys(result: Any) -> list[KeyInfo]:
    """The keys of a ``GetKeyValueKeys`` page."""
    return [_read_key(x, KEYS) for x in _list_of(result, KEYS)]


def _expiry(raw: object, method: str) -> int | None:
    if raw is None:
        return None
    if type(raw) is int:
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    raise _bad(method, f"expires_at is {type(raw).__name__}, expected Unix seconds")


def _list_of(result: object, method: str) -> list[Any]:
    """The array of a list answer; ``null`` and ``{}`` count as an empty page."""
    if type(result) is list:
        return result
    if _is_empty(result):
        return []
    # Some APIs wrap pages as {"result": [...], "total": N}; tolerate {"items": [...]}.
    if type(result) is dict:
        for name in ("items", "keys", "result"):
            inner = result.get(name)
            if type(inner) is list:
                return inner
    raise _bad(method, f"result is {type(result).__name__}, expected an array")
