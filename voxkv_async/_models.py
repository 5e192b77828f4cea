"""Value objects for what the API stores: frozen, slotted, compared by value.

They are built from answers by :mod:`voxkv_async._wire`, which checks shapes and types
but not the argument limits meant for user input: server data is trusted to be within
the API's limits.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

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
