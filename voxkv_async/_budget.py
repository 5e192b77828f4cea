"""The client-wide retry budget: a token bucket that retries draw from and successes refill.

One per client, shared by single calls and bulk runs, so an outage does not multiply the
load on the API (botocore's "standard" retry mode); :mod:`._retry` draws from it.
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    """A client-wide token bucket that retries draw from and successes refill."""

    __slots__ = ("_capacity", "tokens")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.tokens = capacity

    def withdraw(self, cost: int) -> bool:
        """Take ``cost`` tokens for a retry; ``False`` (and nothing taken) if too few."""
        if self._capacity == 0:
            return True
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def deposit(self, amount: int) -> None:
        """Put tokens back, up to capacity."""
        self.tokens = min(self._capacity, self.tokens + amount)
