"""The opt-in read cache: ``VoxKV(..., read_cache=ReadCache(...))``.

A bounded LRU (an :class:`~collections.OrderedDict`) of what ``get`` answered, kept by
the client that read it. An entry is served only while it is younger than its bound
(``max_age`` for an item, ``negative_max_age`` for "no such key") and, for an item,
before its own ``expires_at``. This client's own writes keep it right: a ``set`` or
``delete`` drops the entry when it starts and stores its outcome when it completes
(``set_many``/``delete_many`` write through ``set``/``delete``, so bulk runs do too); a
write that fails leaves no entry. Writes by anyone else (another process, a call
scenario, another client object) are seen once the entry ages out: after at most
``max_age`` (``negative_max_age`` for a key read as missing).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

from ._models import KeyValueItem

__all__ = ["MISS", "CacheStore", "ReadCache"]

#: What :meth:`CacheStore.get` returns when it has nothing to serve (its only meaning).
MISS = object()


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{attribute.name} must be a number of seconds >= 0, got {value!r}")


@attrs.frozen
class ReadCache:
    """Settings of the read cache; pass one as ``VoxKV(..., read_cache=ReadCache())``.

    What a user accepts by turning it on: a ``get`` may answer what this client read or
    wrote up to ``max_age`` seconds ago (``negative_max_age`` for a missing key), even
    if another process has changed or deleted the key since. Writes through this client
    are seen at once. An item is never served past its own ``expires_at``.

    Attributes:
        max_items: Entries kept; the least recently used goes first beyond it.
        max_age: Seconds an item read (or written) is served from the cache.
        negative_max_age: Seconds a "no such key" answer is served from the cache;
            ``0`` does not cache misses.
    """

    max_items: int = attrs.field(default=10_000, validator=attrs.validators.gt(0))
    max_age: float = attrs.field(default=1.0, validator=_positive)
    negative_max_age: float = attrs.field(default=0.5, validator=_positive)


class CacheStore:
    """The cache itself: key -> ``(item or None, monotonic time it was stored)``.

    Hits and misses are not counted here: the read path reports them as events
    (``kv.stats.cache_hits``/``cache_misses``).

    Args:
        settings: Bounds and ages.
        clock: Seconds, for ages: monotonic by default; the client passes its own clock
            when it was given one, so a test's virtual clock ages the entries.
        wall: Unix seconds, compared with the items' ``expires_at``.
    """

    __slots__ = ("_clock", "_entries", "_settings", "_wall")

    def __init__(
        self,
        settings: ReadCache,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._wall = wall
        self._entries: OrderedDict[str, tuple[KeyValueItem | None, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> KeyValueItem | object | None:
        """The cached answer for ``key``, or :data:`MISS`."""
        entry = self._entries.get(key)
        if entry is not None:
            item, stored = entry
            bound = self._settings.max_age if item is not None else self._settings.negative_max_age
            fresh = self._clock() - stored < bound
            if fresh and (item is None or item.expires_at is None
                          or item.expires_at > self._wall()):
                self._entries.move_to_end(key)
                return item
            del self._entries[key]
        return MISS

    def put(self, key: str, item: KeyValueItem | None) -> None:
        """Remember ``item`` (``None``: no such key) as the answer for ``key``."""
        if item is None and self._settings.negative_max_age <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (item, self._clock())
        self._entries.move_to_end(key)
        if len(self._entries) > self._settings.max_items:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)
