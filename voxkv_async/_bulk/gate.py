"""What lets a bulk run's attempt go, and what it is told of how the attempt ended.

Two limits stack: the :class:`~voxkv_async._bulk.pacing.AdaptiveRate` (on by default,
dormant until the first throttle) and a fixed ``rate_limit`` (an ``aiolimiter`` bucket,
bursts of 100 ms). The pacer hears the end of every attempt it let through exactly once:
a throttle (with the server's delay hint), any other answer, or no answer at all.
"""

from __future__ import annotations

from typing import Any

from .._errors import ApiError, RateLimitedError
from .pacing import AdaptiveRate

__all__ = ["SendGate"]

# What the pacer is told of a slot it gave for a request that got no answer.
_NOT_SENT = ConnectionAbortedError("no answer")


class SendGate:
    """The pacer and the fixed rate limit of one run.

    Args:
        pacer: The adaptive rate, or ``None`` for none.
        rate_limit: At most this many requests per second, or ``None`` (checked already).
    """

    def __init__(self, pacer: AdaptiveRate | None, rate_limit: float | None) -> None:
        self.pacer = pacer
        self._limiter = _limiter(rate_limit)

    async def wait(self) -> None:
        """Wait for the pacer and the fixed rate limit, if any."""
        if self.pacer is not None:
            await self.pacer.acquire()
        if self._limiter is not None:
            await self._limiter.acquire()

    def ended(self, outcome: Exception | None) -> None:
        """An attempt let through ended with ``outcome`` (``None``: success)."""
        pacer = self.pacer
        if pacer is None:
            return
        if isinstance(outcome, RateLimitedError):
            pacer.on_throttle(outcome.retry_after)
        elif outcome is None or isinstance(outcome, ApiError):
            pacer.on_success()  # an error envelope too: the server took the request
        else:
            pacer.on_error()

    def not_sent(self) -> None:
        """A slot was given for an attempt that never got an answer (stopped, cancelled)."""
        self.ended(_NOT_SENT)


def _limiter(rate: float | None) -> Any:
    """An ``aiolimiter.AsyncLimiter`` allowing ``rate`` requests/s, bursts of 100 ms."""
    if rate is None:
        return None
    try:
        from aiolimiter import AsyncLimiter
    except ImportError as exc:
        raise ImportError(
            "rate_limit needs aiolimiter: pip install 'voxkv_async[bulk]'"
        ) from exc
    burst = max(1.0, rate / 10)
    return AsyncLimiter(burst, burst / rate)
