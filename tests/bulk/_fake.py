"""A fake bulk client: no sockets, every call runs a test's ``behave(key, attempt)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from voxkv_async import EventStream, KeyValueItem, RetryPolicy, Stats
from voxkv_async._retry import RetryBudget

Behaviour = Callable[[str, int], Awaitable[None]]


class FakeClient:
    """A ``BulkClient`` whose every call runs ``behave(key, attempt_number)`` first.

    Its ``stats`` subscribe to its ``events``, as a ``VoxKV``'s do.
    """

    def __init__(self, behave: Behaviour, *, budget: int = 500) -> None:
        self.stats = Stats()
        self.events = EventStream()
        self.events.subscribe(self.stats)
        self.retry_policy = RetryPolicy(throttle_base=0.05)
        self.retry_budget = RetryBudget(budget)
        self.store: dict[str, str] = {}
        self.calls: dict[str, int] = {}
        self._behave = behave

    def add_attempt_hook(self, hook: Any) -> Callable[[], None]:
        return lambda: None

    async def set(self, key: str, value: str, **options: Any) -> KeyValueItem:
        self.calls[key] = self.calls.get(key, 0) + 1
        await self._behave(key, self.calls[key])
        self.store[key] = value
        return KeyValueItem(key, value)

    async def get(self, key: str, **options: Any) -> KeyValueItem | None:
        value = self.store.get(key)
        return None if value is None else KeyValueItem(key, value)

    async def delete(self, key: str, **options: Any) -> bool:
        return self.store.pop(key, None) is not None
