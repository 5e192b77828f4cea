"""Input order per key: the value applied last is the last one in the input.

A later item for a key waits until the earlier item of that key is *settled*, and
settled means more than "its last attempt ended". An attempt whose outcome is unknown (a
timeout after the request left, a connection dropped after sending, a gateway's 5xx) may
still be on the wire or queued in the server, and be applied after a later item's write:
the earlier value would then win. So after such an attempt the key stays held for
``hold`` seconds (``BulkOptions.unknown_outcome_delay``), longer than the server could
still apply it, whether the item then failed or a retry of it succeeded.

Why a delay and not a read-back: a read shows what has landed, not what is still on its
way. Not finding the earlier value proves nothing (it may land a moment later); finding
it proves nothing either when another attempt of the same item is still out, or when the
key held that value before. Only time settles it. The delay costs nothing to keys seen
once: it holds back only a later item of the same key, while the run goes on with the
others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from .._errors import shorten
from .items import Item

__all__ = ["KeyOrder"]

logger = logging.getLogger("voxkv_async")


class _Key:
    """One key in progress: the items waiting for it, and the timer of a hold."""

    __slots__ = ("timer", "waiting")

    def __init__(self) -> None:
        self.waiting: deque[Item] = deque()
        self.timer: asyncio.TimerHandle | None = None


class KeyOrder:
    """Lets one item per key go at a time, in input order, holding keys after unknowns.

    Args:
        ready: Hands an item to the workers.
        hold: Seconds a key stays held after an attempt of unknown outcome ended
            (``0``: not held, for runs that write nothing).
    """

    def __init__(self, ready: Callable[[Item], object], hold: float) -> None:
        self._ready = ready
        self._hold = hold
        self._keys: dict[str, _Key] = {}

    def admit(self, item: Item) -> None:
        """Send ``item`` now if its key is free, else after the items before it."""
        state = self._keys.get(item.key)
        if state is None:
            self._keys[item.key] = _Key()
            self._ready(item)
        else:
            state.waiting.append(item)

    def unknown_outcome(self, item: Item, now: float) -> None:
        """An attempt of ``item`` ended and may still be applied: hold its key from now."""
        if self._hold > 0:
            item.unknown_until = now + self._hold

    def settle(self, item: Item, now: float) -> None:
        """``item``'s outcome is final: let the next item of its key go, now or after a hold."""
        state = self._keys.get(item.key)
        if state is None:  # the run stopped and forgot its keys
            return
        wait = item.unknown_until - now
        if wait > 0:
            if state.waiting:
                logger.debug("bulk run: key %r held %.1f s: an earlier write of it may "
                             "still be applied", shorten(item.key), wait)
            # Kept even with nobody waiting: the input may still bring the key.
            state.timer = asyncio.get_running_loop().call_later(wait, self._next, item.key)
        else:
            self._next(item.key)

    def _next(self, key: str) -> None:
        state = self._keys[key]
        state.timer = None
        if state.waiting:
            self._ready(state.waiting.popleft())
        else:
            del self._keys[key]

    def clear(self) -> None:
        """Forget every key and cancel every hold (the run is stopping or ending)."""
        for state in self._keys.values():
            if state.timer is not None:
                state.timer.cancel()
        self._keys.clear()
