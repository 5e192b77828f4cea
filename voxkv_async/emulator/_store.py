"""In-memory key-value storage, one namespace per application."""

from __future__ import annotations

import bisect
from collections.abc import Callable

import attrs

__all__ = ["Clock", "FakeClock", "Item", "Store"]

#: A clock: a callable returning the current Unix time in seconds.
Clock = Callable[[], float]


@attrs.define
class FakeClock:
    """A clock for tests: stands still until told to move.

    Pass it as ``Emulator(clock=FakeClock())`` and call :meth:`advance` to expire keys
    without sleeping.

    Attributes:
        now: The current Unix time, in seconds.
    """

    now: float = attrs.field(factory=lambda: 1_700_000_000.0)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


@attrs.frozen
class Item:
    """One stored pair, as the API returns it."""

    key: str
    value: str
    expires_at: int

    def to_json(self) -> dict[str, str | int]:
        """The API's ``{key, value, expires_at}`` object."""
        return {"key": self.key, "value": self.value, "expires_at": self.expires_at}


class _Namespace:
    """One application's pairs: a dict for lookups plus a sorted key list for prefixes.

    ``next_expiry`` is at or before the earliest ``expires_at`` of its pairs, so a listing
    knows without looking whether any pair may have expired since the last purge.
    """

    __slots__ = ("items", "next_expiry", "sorted_keys")

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.sorted_keys: list[str] = []
        self.next_expiry = float("inf")

    def put(self, item: Item) -> None:
        if item.key not in self.items:
            bisect.insort(self.sorted_keys, item.key)
        self.items[item.key] = item
        self.next_expiry = min(self.next_expiry, item.expires_at)

    def purge(self, now: float) -> None:
        """Drop every pair expired at ``now``."""
        live = {k: i for k, i in self.items.items() if now < i.expires_at}
        if len(live) != len(self.items):
            self.items = live
            self.sorted_keys = [k for k in self.sorted_keys if k in live]
        self.next_expiry = min((i.expires_at for i in live.values()), default=float("inf"))

    def page(self, prefix: str, count: int, offset: int) -> list[Item]:
        """``count`` pairs from the ``offset``-th whose key starts with ``prefix``."""
        start = bisect.bisect_left(self.sorted_keys, prefix) + offset
        page = []
        for key in self.sorted_keys[start:start + count]:
            if not key.startswith(prefix):
                break
            page.append(self.items[key])
        return page

    def drop(self, key: str) -> None:
        del self.items[key]
        i = bisect.bisect_left(self.sorted_keys, key)
        del self.sorted_keys[i]



class Store:
    """Pairs per application id, with expiry against an injectable clock.

    A pair is expired, hence invisible, once ``clock() >= expires_at``. Expired pairs
    are purged lazily, when a read or a listing comes across them.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._apps: dict[int, _Namespace] = {}

    def now(self) -> int:
        """The clock's time in whole seconds, as ``expires_at`` is expressed."""
        return int(self.clock())

    def set(self, app: int, key: str, value: str, expires_at: int) -> Item:
        """Create or replace ``key`` (an upsert)."""
        item = Item(key, value, expires_at)
        self._apps.setdefault(app, _Namespace()).put(item)
        return item

    def get(self, app: int, key: str) -> Item | None:
        """The live pair at ``key``, or ``None``."""
        ns = self._apps.get(app)
        item = ns.items.get(key) if ns else None
        if item is None or ns is None:
            return None
        if self._expired(item):
            ns.drop(key)
            return None
        return item

    def delete(self, app: int, key: str) -> bool:
        """Remove ``key``; whether a live pair was there."""
        if self.get(app, key) is None:
            return False
        self._apps[app].drop(key)
        return True

    def scan(self, app: int, prefix: str, count: int, offset: int) -> list[Item]:
        """Live pairs whose key starts with ``prefix``, sorted by key, paginated."""
        ns = self._apps.get(app)
        if ns is None:
            return []
        # Expired pairs are purged first, so the offset counts live pairs only and a page
        # is found by index: listing N keys costs N, not N**2 / page size.
        now = self.clock()
        if now >= ns.next_expiry:
            ns.purge(now)
        return ns.page(prefix, count, offset)

    def dump(self) -> dict[int, list[Item]]:
        """Every live pair, by application, sorted by key."""
        return {
            app: [ns.items[k] for k in ns.sorted_keys if not self._expired(ns.items[k])]
            for app, ns in sorted(self._apps.items())
        }

    def clear(self) -> None:
        """Forget every pair."""
        self._apps.clear()

    def _expired(self, item: Item) -> bool:
        return self.clock() >= item.expires_at
