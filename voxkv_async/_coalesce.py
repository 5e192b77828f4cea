"""The read path of ``get``: the read cache, then request coalescing, then a request.

Coalescing (on by default; ``VoxKV(coalesce=False)`` switches it off): concurrent
``get`` calls of one key while a request for it is in flight share that request's answer
and its error. The shared request runs as a task of its own with the client's default
policy and deadline; every caller, the first included, awaits it through
:func:`asyncio.shield`, so cancelling one caller (the first included) cancels nothing
for the others; when the last caller waiting for it has gone, the request is cancelled.
A caller with its own ``timeout=`` waits at most that long (then
:class:`~voxkv_async.RequestTimeoutError`, without a cause: the request goes on for the
others); a caller with its own ``retry=`` policy neither joins nor leads a shared
request.

Read-your-writes: a ``get`` started after a ``set``/``delete`` of that key through the
same client has completed never joins a request started before it. Every write of a
key detaches the reads of that key in flight when it starts and again when it
completes: later ``get`` calls start a request of their own, and a detached read's
answer is never put in the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ._cache import MISS, CacheStore
from ._models import KeyValueItem
from ._retry import RetryPolicy, within
from ._stats import Stats
from ._wire import GET

__all__ = ["Fetch", "Reads"]

#: Makes one ``get`` request: ``fetch(key, body, retry, timeout)``.
Fetch = Callable[[str, str, RetryPolicy | None, float | None], Awaitable[KeyValueItem | None]]


class _Flight:
    """One read of a key in flight: shared (it has a task) or a caller's own.

    A shared flight's callers each wait on a future of their own, settled with the
    task's outcome when it is done: what :func:`asyncio.shield` does, with one callback
    for all of them instead of two per caller.
    """

    __slots__ = ("stale", "task", "waiters")

    def __init__(self) -> None:
        self.stale = False
        self.waiters: list[asyncio.Future[KeyValueItem | None]] = []
        self.task: asyncio.Task[KeyValueItem | None] | None = None

    def settle(self, task: asyncio.Task[KeyValueItem | None]) -> None:
        """The task is done: hand its outcome to every caller still waiting."""
        waiters, self.waiters = self.waiters, []
        if task.cancelled():
            for waiter in waiters:
                waiter.cancel()
            return
        error = task.exception()
        for waiter in waiters:
            if waiter.done():
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(task.result())


class Reads:
    """Serves ``get``: from the cache, by joining a request in flight, or by a request.

    Args:
        fetch: Makes the request.
        stats: Counters (``coalesced``; the cache counts ``cache_hits``/``cache_misses``).
        coalesce: Whether concurrent reads of a key share one request.
        cache: The read cache, if any.
    """

    __slots__ = ("_cache", "_coalesce", "_fetch", "_flights", "_stats")

    def __init__(self, fetch: Fetch, stats: Stats, *, coalesce: bool,
                 cache: CacheStore | None) -> None:
        self._fetch = fetch
        self._stats = stats
        self._coalesce = coalesce
        self._cache = cache
        # The reads in flight per key, the joinable one last; detached by writes.
        self._flights: dict[str, list[_Flight]] = {}

    @property
    def cache(self) -> CacheStore | None:
        """The read cache, if any."""
        return self._cache

    @property
    def in_flight(self) -> int:
        """Keys with reads in flight (for tests and introspection)."""
        return len(self._flights)

    async def get(self, key: str, body: str, retry: RetryPolicy | None,
                  timeout: float | None) -> KeyValueItem | None:
        """The item at ``key`` (``body`` is its validated request body)."""
        cache = self._cache
        if cache is not None:
            hit = cache.get(key)
            if hit is not MISS:
                self._stats.cache_hits += 1
                return hit  # type: ignore[return-value]
            self._stats.cache_misses += 1
        if self._coalesce and retry is None:
            return await self._shared(key, body, timeout)
        if cache is None:
            return await self._fetch(key, body, retry, timeout)
        return await self._own(key, body, retry, timeout)

    def write_started(self, key: str) -> None:
        """A write of ``key`` starts: later reads must not join earlier ones."""
        self._detach(key)
        if self._cache is not None:
            self._cache.drop(key)

    def write_done(self, key: str, outcome: KeyValueItem | object | None) -> None:
        """A write of ``key`` ended with ``outcome``: the item set, ``None`` for a
        delete, :data:`~voxkv_async._cache.MISS` for a failure (state unknown)."""
        self._detach(key)
        cache = self._cache
        if cache is not None:
            if outcome is MISS:
                cache.drop(key)
            else:
                cache.put(key, outcome)  # type: ignore[arg-type]

    # --- internals --------------------------------------------------------------------

    async def _shared(self, key: str, body: str, timeout: float | None) -> KeyValueItem | None:
        flights = self._flights.get(key)
        flight = flights[-1] if flights else None
        loop = asyncio.get_running_loop()
        if flight is not None and flight.task is not None:
            self._stats.coalesced += 1
            task = flight.task
        else:
            flight = _Flight()
            self._register(key, flight)
            task = flight.task = loop.create_task(self._lead(key, body, flight))
            task.add_done_callback(flight.settle)
        waiter: asyncio.Future[KeyValueItem | None] = loop.create_future()
        waiters = flight.waiters
        waiters.append(waiter)
        try:
            if timeout is None:
                return await waiter
            return await within(waiter, timeout, GET)
        finally:
            if not waiter.done() or waiter.cancelled():
                # This caller went away (cancelled, or out of its own time).
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters and not task.done():
                    # It was the last: nobody wants the answer any more. Detached
                    # first, so nobody joins it either.
                    self._unregister(key, flight)
                    flight.stale = True
                    task.cancel()

    async def _lead(self, key: str, body: str, flight: _Flight) -> KeyValueItem | None:
        """The shared request: the client's default policy, nobody's own timeout."""
        try:
            item = await self._fetch(key, body, None, None)
        finally:
            self._unregister(key, flight)
        if self._cache is not None and not flight.stale:
            self._cache.put(key, item)
        return item

    async def _own(self, key: str, body: str, retry: RetryPolicy | None,
                   timeout: float | None) -> KeyValueItem | None:
        """A request of the caller's own, tracked so that a write can keep it uncached."""
        flight = _Flight()
        self._register(key, flight)
        try:
            item = await self._fetch(key, body, retry, timeout)
        finally:
            self._unregister(key, flight)
        if self._cache is not None and not flight.stale:
            self._cache.put(key, item)
        return item

    def _register(self, key: str, flight: _Flight) -> None:
        flights = self._flights.get(key)
        if flights is None:
            self._flights[key] = [flight]
        else:
            flights.append(flight)

    def _unregister(self, key: str, flight: _Flight) -> None:
        flights = self._flights.get(key)
        if flights is None or flight.stale:
            return
        flights.remove(flight)
        if not flights:
            del self._flights[key]

    def _detach(self, key: str) -> None:
        flights = self._flights.pop(key, None)
        if flights:
            for flight in flights:
                flight.stale = True
