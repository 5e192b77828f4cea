"""The circuit breaker of a bulk run: pause and probe while the server looks down.

Without it, an outage turns every item into a stream of retries: 64 workers each
hammering a server that refuses connections, draining the retry budget in a second and
then failing thousands of items that would have gone through a few seconds later.

The breaker watches the run's outage-class failures (no connection, timeouts, 5xx,
bodies broken off). It *opens* when no attempt has succeeded for ``open_after`` seconds
and at least ``min_failures`` attempts failed since the last success: then every worker
waits in :meth:`Breaker.admit`, and one request at a time is let through as a probe,
every ``probe_interval`` seconds, doubling up to ``max_probe_interval``. The first
success closes it and the run carries on where it was. Throttling is not an outage
(the pacer handles it), and neither are per-item errors.

The run gives up when the server has been unreachable for ``tolerance`` seconds since
the last success (:attr:`Breaker.exhausted`): see ``BulkOptions.outage_tolerance``.
Random faults never open it: with 30 % of requests failing, a success comes every few
milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .._errors import VoxKVError, shorten

__all__ = ["Breaker", "SlowStart"]

logger = logging.getLogger("voxkv_async")


class Breaker:
    """Opens after a stretch of outage-class failures; one probe at a time while open.

    Args:
        tolerance: Seconds without any success after which the run gives up.
        open_after: Seconds without a success (with ``min_failures``) that open it.
        min_failures: Failures since the last success needed to open it.
        probe_interval: First wait between probes, seconds; doubles per failed probe.
        max_probe_interval: The longest wait between probes.
        clock: Monotonic seconds; a fake one in tests.
    """

    def __init__(
        self,
        *,
        tolerance: float = 300.0,
        open_after: float = 1.0,
        min_failures: int = 5,
        probe_interval: float = 0.25,
        max_probe_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tolerance = tolerance
        self._open_after = open_after
        self._min_failures = min_failures
        self._first_probe_interval = probe_interval
        self._max_probe_interval = max_probe_interval
        self._clock = clock
        self._last_success = clock()
        self._failures = 0
        self._closed = asyncio.Event()
        self._closed.set()
        self._probing = False
        self._interval = probe_interval
        self._next_probe = 0.0
        self._opened_at: float | None = None
        #: Times the breaker opened.
        self.openings = 0
        #: Seconds spent open, summed over the run (while open: up to now).
        self.paused_seconds = 0.0

    @property
    def is_open(self) -> bool:
        """Whether the run is paused for an outage."""
        return not self._closed.is_set()

    @property
    def exhausted(self) -> bool:
        """Whether the server has been unreachable for longer than ``tolerance``."""
        return self.is_open and self._clock() - self._last_success > self.tolerance

    async def admit(self) -> bool:
        """Wait until a request may go; ``True`` when it goes as the probe."""
        while not self._closed.is_set():
            now = self._clock()
            if not self._probing and now >= self._next_probe:
                self._probing = True
                return True
            # Re-checked after the wait: a failed probe must hand the next one to a waiter.
            wait = self._interval if self._probing else max(self._next_probe - now, 0.01)
            try:
                async with asyncio.timeout(wait):
                    await self._closed.wait()
            except TimeoutError:
                pass
        return False

    def on_success(self, probe: bool = False) -> None:
        """An attempt got an answer (any answer that is not an outage): close."""
        self._last_success = self._clock()
        self._failures = 0
        if probe:
            self._probing = False
        if self._closed.is_set():
            return
        self._close()

    def on_no_verdict(self, probe: bool = False) -> None:
        """An attempt that says nothing of the server (refused before it was sent)."""
        if probe:
            self._probing = False

    def on_failure(self, error: VoxKVError, probe: bool = False) -> None:
        """An attempt failed for an outage-class reason."""
        self._failures += 1
        now = self._clock()
        if probe:
            self._probing = False
            self._interval = min(self._interval * 2, self._max_probe_interval)
            self._next_probe = now + self._interval
            return
        if self._closed.is_set() and self._should_open(now):
            self._open(now, error)

    def _should_open(self, now: float) -> bool:
        return (self._failures >= self._min_failures
                and now - self._last_success >= self._open_after)

    def _open(self, now: float, error: VoxKVError) -> None:
        self._closed.clear()
        self.openings += 1
        self._opened_at = now
        self._interval = self._first_probe_interval
        self._next_probe = now + self._interval
        logger.warning(
            "bulk run paused: the server looks down (%s; no success for %.1f s); probing "
            "every %.2f-%.0f s, giving up after %.0f s without a success",
            f"{type(error).__name__}: {shorten(str(error), 120)}", now - self._last_success,
            self._first_probe_interval, self._max_probe_interval, self.tolerance,
        )

    def _close(self, *, answered: bool = True) -> None:
        now = self._clock()
        if self._opened_at is not None:
            self.paused_seconds += now - self._opened_at
            if answered:
                logger.warning("bulk run resumed: the server answered after %.1f s paused",
                               now - self._opened_at)
        self._opened_at = None
        self._closed.set()

    def close_for_good(self) -> None:
        """Release every waiter: the run is ending (given up, stopped or cancelled)."""
        if not self._closed.is_set():
            self._close(answered=False)


class SlowStart:
    """One attempt goes alone until the server has answered one.

    A run whose every call would be refused (a wrong key, an unknown application) then
    stops after one request instead of ``concurrency``, at the cost of one round trip.
    """

    def __init__(self) -> None:
        self._first_sent = False
        self._answered = asyncio.Event()

    async def wait(self) -> None:
        """Return at once for the first attempt and after an answer; else wait for one."""
        if self._answered.is_set():
            return
        if not self._first_sent:
            self._first_sent = True
            return
        await self._answered.wait()

    def answered(self) -> None:
        """The server answered (or the run is ending): let every attempt go."""
        self._answered.set()
