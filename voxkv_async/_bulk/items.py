"""The items of a bulk run between the input and their outcome, and reading the input."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .._errors import (
    ApplicationNotFoundError,
    AuthenticationError,
    PermissionDeniedError,
    TLSVerificationError,
    VoxKVError,
    shorten,
)
from .._models import KeyValueItem

__all__ = [
    "HOPELESS",
    "Item",
    "Later",
    "close_input",
    "describe_item",
    "index_and_raw",
    "next_item",
]

#: Errors every later item would meet too: the run stops at the first.
HOPELESS = (AuthenticationError, PermissionDeniedError, ApplicationNotFoundError,
            TLSVerificationError)


class Item:
    """One input item between the input and its outcome."""

    __slots__ = ("attempts", "failures", "index", "key", "last_error", "maybe_applied",
                 "prepared", "raw", "throttles", "unknown_until")

    def __init__(self, index: int, raw: object, key: str, prepared: Any) -> None:
        self.index = index
        self.raw = raw
        self.key = key
        self.prepared = prepared
        self.attempts = 0
        self.failures = 0  # transient failures other than throttles: what the retry limit counts
        self.throttles = 0
        self.maybe_applied = False
        self.last_error: VoxKVError | None = None
        # Until when (loop time) an attempt of unknown outcome may still be applied.
        self.unknown_until = -math.inf


class Later:
    """Items waiting out a delay before they go back to the workers' queue.

    Args:
        ready: Puts an item back in the queue.
    """

    def __init__(self, ready: Callable[[Item], object]) -> None:
        self._ready = ready
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def add(self, item: Item, delay: float) -> None:
        """Hand ``item`` back after ``delay`` seconds (at once for 0)."""
        if delay <= 0:
            self._ready(item)
            return
        loop = asyncio.get_running_loop()
        self._timers[item.index] = loop.call_later(delay, self._due, item)

    def _due(self, item: Item) -> None:
        del self._timers[item.index]
        self._ready(item)

    def cancel_all(self) -> None:
        """Drop every waiting item's timer (they stay pending in the run's books)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


def index_and_raw(entry: Item | tuple[int, object]) -> tuple[int, object]:
    """``(index, raw)`` of an item, or of an entry taken but not yet an item."""
    return (entry.index, entry.raw) if isinstance(entry, Item) else entry


async def next_item(iterator: Iterator[object] | AsyncIterator[object]) -> object:
    """The next input item; ``StopAsyncIteration`` at the end, sync or async alike."""
    if isinstance(iterator, AsyncIterator):
        return await anext(iterator)
    try:
        return next(iterator)
    except StopIteration:
        raise StopAsyncIteration from None


async def close_input(iterator: object) -> None:
    """Close a generator or async generator we were reading (no-op when exhausted)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def describe_item(raw: object) -> str:
    """A short, value-free description of an input item, for error notes."""
    key: object = raw
    if isinstance(raw, KeyValueItem):
        key = raw.key
    elif isinstance(raw, tuple | list) and raw:
        key = raw[0]
    return f"key {shorten(key)!r}" if isinstance(key, str) else type(raw).__name__
