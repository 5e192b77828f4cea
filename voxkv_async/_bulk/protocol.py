"""What the bulk operations need of a client: a small typed protocol, not ``VoxKV`` itself.

As redis-py's command mixins are typed against ``CommandsProtocol``, the bulk package
depends on :class:`BulkClient` only, so it never imports the client (no circle) and never
touches its private names. Its calls are the client's own primitive
(:class:`~voxkv_async._commands.Executor`): a run builds each item's checked command when
it takes the item from the input, and runs it with ``_execute``. ``VoxKV`` and namespace
views satisfy it; so does any test double that does.
"""

from __future__ import annotations

from typing import Protocol

from .._commands import Executor
from .._events import EventStream
from .._retry import RetryBudget, RetryPolicy
from .._stats import Stats

__all__ = ["BulkClient"]


class BulkClient(Executor, Protocol):
    """The call primitive and the counters, retry policy and budget that bulk runs use."""

    @property
    def stats(self) -> Stats:
        """The client's counters (retries are counted in it)."""
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
