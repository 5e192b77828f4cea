"""The adaptive send rate of bulk runs (botocore's adaptive mode, with a cooldown)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

__all__ = ["AdaptiveRate"]


class AdaptiveRate:
    """A send rate that drops on throttling and grows back when it stops.

    Dormant (no pacing) until the first throttle. Then, like botocore's adaptive mode:
    a throttle sets ``rate = beta * min(measured send rate, rate)``; each success sets
    ``rate = scale * (t - K)**3 + W`` (CUBIC), where ``W`` is the rate at the last
    throttle, ``t`` the seconds since, and ``K`` when the curve gets back to ``W``;
    capped at twice the measured rate and floored at ``min_rate``. Share one between
    runs (``adaptive=`` argument) to carry what it learned over.

    Unlike botocore, and like TCP, throttles arriving within ``cooldown`` seconds of a
    decrease count as the same congestion event: the answers to requests already in
    flight at the old rate come back throttled together, and cutting the rate once per
    answer would drive it to the floor in one burst (0.7**64 at 64 in flight).

    Attributes:
        enabled: Whether a throttle has been seen (pacing is on).
        rate: The allowed send rate, requests/s (``inf`` while dormant).
        measured_rate: The smoothed rate of answers, requests/s.
        last_max_rate: ``W``: the rate in force at the last throttle.
        throttles: Throttle signals received.
    """

    def __init__(
        self,
        *,
        min_rate: float = 0.5,
        beta: float = 0.7,
        scale: float = 0.4,
        smoothing: float = 0.8,
        bucket: float = 0.5,
        cooldown: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_rate <= 0 or not 0 < beta < 1:
            raise ValueError("need min_rate > 0 and 0 < beta < 1")
        self.min_rate = min_rate
        self._beta = beta
        self._scale = scale
        self._smoothing = smoothing
        self._bucket = bucket
        self._cooldown = cooldown
        self._clock = clock
        self.enabled = False
        self.rate = math.inf
        self.measured_rate = 0.0
        self.last_max_rate = 0.0
        self.throttles = 0
        self._k = 0.0
        self._last_throttle = 0.0
        self._tokens = 0.0
        self._refilled = clock()
        self._first_seen: float | None = None
        self._last_bucket = 0.0
        self._count = 0
        self._answers = 0

    def __repr__(self) -> str:
        return (f"<AdaptiveRate enabled={self.enabled} rate={self.rate:.1f}/s "
                f"measured={self.measured_rate:.1f}/s throttles={self.throttles}>")

    def on_success(self) -> None:
        """An answer that was not a throttle."""
        now = self._measure()
        if not self.enabled:
            return
        cubic = self._scale * (now - self._last_throttle - self._k) ** 3 + self.last_max_rate
        self.rate = max(self.min_rate, min(cubic, 2 * max(self.measured_rate, self.min_rate)))

    def on_throttle(self) -> None:
        """A throttling answer (HTTP 429, code 340, 416)."""
        now = self._measure()
        self.throttles += 1
        if self.enabled and now - self._last_throttle < self._cooldown:
            return  # the same congestion event as the last decrease
        base = min(self.measured_rate, self.rate) if self.enabled else self.measured_rate
        base = max(base, self.min_rate)
        self.last_max_rate = base
        self._k = (base * (1 - self._beta) / self._scale) ** (1 / 3)
        self._last_throttle = now
        self.rate = max(self.min_rate, base * self._beta)
        self.enabled = True

    async def acquire(self) -> None:
        """Wait for a send token; tokens accrue at :attr:`rate`, one second's worth at most.

        Waiters re-check the bucket after each sleep rather than booking a future slot,
        so a rate that grows back takes effect at once for everyone already waiting.
        """
        while self.enabled:
            now = self._clock()
            self._tokens = min(max(self.rate, 1.0),
                               self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate)

    def _measure(self) -> float:
        """Count one answer into the smoothed rate (botocore's RateClocker); the time."""
        now = self._clock()
        if self._first_seen is None:
            self._first_seen = now
            self._last_bucket = math.floor(now / self._bucket) * self._bucket
        self._count += 1
        self._answers += 1
        bucket = math.floor(now / self._bucket) * self._bucket
        if bucket > self._last_bucket:
            # The first bucket is measured from the first answer, not from its start:
            # one answer late in a half-second bucket is not a rate of 2/s.
            span = max(bucket - max(self._last_bucket, self._first_seen), 0.05)
            current = self._count / span
            if self.measured_rate == 0.0:
                self.measured_rate = current
            else:
                s = self._smoothing
                self.measured_rate = current * s + self.measured_rate * (1 - s)
            self._count = 0
            self._last_bucket = bucket
        elif self.measured_rate == 0.0 and now > self._first_seen:
            # No full bucket yet: a throttle in the first half second must not collapse
            # the rate to the floor, so estimate from what has been seen.
            self.measured_rate = self._answers / (now - self._first_seen)
        return now
