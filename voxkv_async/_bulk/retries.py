"""When a bulk run sends an item again: the retry policy's own waits, and the budget.

A bulk run retries items itself (each call it makes is a single attempt), but it waits
as the client's retry policy does: :func:`~voxkv_async._retry.policy_waits` gives the
same full jitter (``throttle_base`` after a throttle without a hint, ``base`` after
other transient failures) and the same honouring of a server's delay. Where a single
call gives up on a delay over ``max_retry_after``, an item waits ``max_retry_after``: a
``Retry-After: 3600`` must neither fail the item nor park it for an hour.

Each retry draws on the client-wide retry budget; an empty budget slows the run down
(a retry then waits :data:`BUDGET_WAIT` at least) and never fails an item. Each retry is
told to the client's event stream as a :class:`~voxkv_async.RetryScheduled` (with the
item's index, and whether the budget paid): ``kv.stats`` and other subscribers count it
from there.
"""

from __future__ import annotations

import random

from .._errors import RateLimitedError, VoxKVError
from .._events import RetryScheduled
from .._retry import RetryPolicy, policy_waits
from .items import Item
from .protocol import BulkClient

__all__ = ["ItemRetries"]

#: How long a retry waits at least while the client-wide retry budget is empty.
BUDGET_WAIT = 1.0
#: The API method each operation's items call, for the events.
_METHODS = {"set_many": "SetKeyValueItem", "get_many": "GetKeyValueItem",
            "delete_many": "DelKeyValueItem"}


class ItemRetries:
    """The delay before each item's next attempt, under one retry policy.

    Args:
        kv: The client (its retry budget and event stream).
        operation: The run's operation (``"set_many"`` ...).
        policy: The items' retry policy (``max_attempts`` is checked by the engine).
    """

    def __init__(self, kv: BulkClient, operation: str, policy: RetryPolicy) -> None:
        self._budget = kv.retry_budget
        self._events = kv.events
        self._method = _METHODS.get(operation, operation)
        self._policy = policy
        self._waits = policy_waits(policy)

    def delay(self, item: Item, error: VoxKVError) -> float:
        """Seconds ``item`` waits before it is sent again after ``error``."""
        throttled = isinstance(error, RateLimitedError)
        failures = item.throttles if throttled else item.failures
        delay = min(self._waits(error, failures), self._policy.max_retry_after)
        paid = self._budget.withdraw(self._policy.retry_cost)
        if not paid:
            delay = max(delay, BUDGET_WAIT)
        # Spread what was refused together, so it does not come back together.
        delay *= random.uniform(1.0, 1.1)
        self._events.emit(RetryScheduled(self._method, item.key, item.attempts, delay, error,
                                         budget_allowed=paid, item=item.index))
        return delay
