"""Value objects for what the API stores, and their parsing from the wire.

The parsers check shapes and types (a hostile or broken answer becomes a
:class:`~voxkv_async.ProtocolError`, never a ``KeyError``) but skip the argument
validators meant for user input: server data is trusted to be within the API's limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from ._errors import ProtocolError

__all__ = ["KeyInfo", "KeyValueItem"]


def _to_utc(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@attrs.frozen
class KeyValueItem:
    """A stored key-value pair.

    Attributes:
        key: The key, 1 to 200 characters.
        value: The value, up to 2000 characters.
        expires_at: When the item expires, as Unix seconds (``None`` when not known,
            e.g. for an item you built yourself to pass to ``set_many``).
    """

    key: str
    value: str
    expires_at: int | None = None

    @property
    def expires_at_utc(self) -> datetime | None:
        """:attr:`expires_at` as an aware UTC :class:`~datetime.datetime`."""
        return _to_utc(self.expires_at)


@attrs.frozen
class KeyInfo:
    """A key and its expiry, as listed by ``GetKeyValueKeys``.

    Attributes:
        key: The key.
        expires_at: Unix seconds, or ``None`` when the server listed bare key names.
    """

    key: str
    expires_at: int | None = None

    @property
    def expires_at_utc(self) -> datetime | None:
        """:attr:`expires_at` as an aware UTC :class:`~datetime.datetime`."""
        return _to_utc(self.expires_at)


# --- parsing of server answers -------------------------------------------------------


def _bad(method: str, problem: str) -> ProtocolError:
    # Describe the shape, never quote it: JSON answers may carry stored values.
    return ProtocolError(problem, status=200, method=method)


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


def parse_item(raw: object, method: str) -> KeyValueItem:
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


def parse_key(raw: object, method: str) -> KeyInfo:
    """A :class:`KeyInfo` from ``{key, expires_at}`` or a bare key string."""
    if type(raw) is str:
        return KeyInfo(raw)
    if type(raw) is not dict:
        raise _bad(method, f"key entry is {type(raw).__name__}, expected an object or a string")
    key = raw.get("key")
    if type(key) is not str:
        raise _bad(method, "key entry has no string 'key'")
    return KeyInfo(key, _expiry(raw.get("expires_at"), method))


def is_empty(result: Any) -> bool:
    """Whether ``result`` is one of the answers that mean "no such item"."""
    return result is None or result == {} or result == [] or result == "" or result is False


def list_of(result: object, method: str) -> list[Any]:
    """The array of a list answer; ``null`` and ``{}`` count as an empty page."""
    if type(result) is list:
        return result
    if is_empty(result):
        return []
    # Some APIs wrap pages as {"result": [...], "total": N}; tolerate {"items": [...]}.
    if type(result) is dict:
        for name in ("items", "keys", "result"):
            inner = result.get(name)
            if type(inner) is list:
                return inner
    raise _bad(method, f"result is {type(result).__name__}, expected an array")
