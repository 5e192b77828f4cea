"""What the bulk operations need of a client: a small typed protocol, not ``VoxKV`` itself.

As redis-py's command mixins are typed against ``CommandsProtocol``, the bulk package
depends on :class:`BulkClient` only, so it never imports the client (no circle) and never
touches its private names. ``VoxKV`` satisfies it; so does any test double that does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from .._events import AttemptHook, EventStream
from .._models import KeyValueItem
from .._retry import RetryBudget, RetryPolicy
from .._stats import Stats

__all__ = ["BulkClient"]


class BulkClient(Protocol):
    """The calls, counters and hooks of a client that bulk runs use."""

    @property
    def stats(self) -> Stats:
        """The client's counters (retries are read from it)."""
        ...

    @property
    def events(self) -> EventStream:
        """The client's event stream: bulk runs emit their item retries into it."""
        ...

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's retry policy (bulk items back off by its ``base``/``max_wait``)."""
        ...

    @property
    def retry_budget(self) -> RetryBudget:
        """The client-wide retry budget."""
        ...

    def add_attempt_hook(self, hook: AttemptHook) -> Callable[[], None]:
        """Observe every attempt; returns the function that removes the hook."""
        ...

    async def set(
        self,
        key: str,
        value: str,
        *,
        ttl: int | None = None,
        expires_at: int | datetime | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> KeyValueItem:
        """Store one item."""
        ...

    async def get(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> KeyValueItem | None:
        """Read one item."""
        ...

    async def delete(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> bool:
        """Delete one key."""
        ...
