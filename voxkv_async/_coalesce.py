"""The read path of ``get``: the read cache, then request coalescing, then a request.

Coalescing (on by default; ``VoxKV(coalesce=False)`` switches it off): concurrent
``get`` calls of one key while a request for it is in flight share that request's answer
and its error. The shared request runs as a task of its own with the client's default
policy and deadline; every caller, the first included, awaits it through
:func:`asyncio.shield`, so cancelling one caller (the first included) cancels nothing
for the others; when the last caller waiting for it has gone, the request is cancelled.
A caller with its own ``timeout=`` waits at most that long (then
:class:`~voxkv_async.RequestTimeoutError`, chained from the last error of the shared
request's attempts when it had one; the request goes on for the others); a caller with
its own ``retry=`` policy neither joins nor leads a shared request.

Read-your-writes: a ``get`` started after a ``set``/``delete`` of that key through the
same client has completed never joins a request started before it. Every write of a
key runs inside :meth:`Reads.writing`, which detaches the reads of that key in flight
when the write starts and again when it ends: later ``get`` calls start a request of
their own, and a detached read's answer is never put in the cache. The same context
keeps the cache right: the write's outcome is stored, a failed write leaves no entry.

The read path reports :class:`~voxkv_async.CacheHit`, :class:`~voxkv_async.CacheMiss` and
:class:`~voxkv_async.Coalesced` to the client's event stream (``kv.stats`` counts them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from . import _wire
from ._cache import MISS, CacheStore
from ._calls import KEY_MISSING, CallProgress
from ._events import CacheHit, CacheMiss, Coalesced, EventStream
from ._models import KeyValueItem
from ._retry import RetryPolicy, within

__all__ = ["Fetch", "Reads", "fetcher"]

#: Makes one ``get`` request: ``fetch(key, body, retry, timeout, progress)``.
Fetch = Callable[[str, str, RetryPolicy | None, float | None, CallProgress | None],
                 Awaitable[KeyValueItem | None]]
#: Runs one API call (``Caller.call``'s signature).
CallFn = Callable[..., Awaitable[object]]


def fetcher(call: CallFn) -> Fetch:
    """The function making one ``get`` request through ``call`` (a client's call engine)."""

    async def fetch(key: str, body: str, retry: RetryPolicy | None, timeout: float | None,
                    progress: CallProgress | None = None) -> KeyValueItem | None:
        result = await call(_wire.GET, body, key, retry, timeout, missing_ok=True,
                            progress=progress)
        return None if result is KEY_MISSING else _wire.read_get(result)

    return fetch


class _Flight:
    """One read of a key in flight: shared (it has a task) or a caller's own.

    A shared flight's callers each wait on a future of their own, settled with the
    task's outcome when it is done: what :func:`asyncio.shield` does, with one callback
    for all of them instead of two per caller.
    """

    __slots__ = ("progress", "stale", "task", "waiters")

    def __init__(self) -> None:
        self.stale = False
        self.waiters: list[asyncio.Future[KeyValueItem | None]] = []
        self.task: asyncio.Task[KeyValueItem | None] | None = None
        #: The shared request's attempts so far (a caller out of time is told the last
        #: error).
        self.progress = CallProgress()

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
    """Serves ``get``: from the cache, by joining a request in flight, or by a request;
    and keeps them right around writes (:meth:`writing`).

    Args:
        fetch: Makes the request (:func:`fetcher`).
        events: The client's event stream (cache hits and misses, coalesced reads).
        coalesce: Whether concurrent reads of a key share one request.
        cache: The read cache, if any.
    """

    __slots__ = ("_cache", "_coalesce", "_events", "_fetch", "_flights")

    def __init__(self, fetch: Fetch, events: EventStream, *, coalesce: bool,
                 cache: CacheStore | None) -> None:
        self._fetch = fetch
        self._events = events
        self._coalesce = coalesce
        self._cache = cache
        # The reads in flight per key, the joinable one last; detached by writes.
        self._flights: dict[str, list[_Flight]] = {}

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
                self._events.emit(CacheHit(key))
                return hit  # type: ignore[return-value]
            self._events.emit(CacheMiss(key))
        if self._coalesce and retry is None:
            return await self._shared(key, body, timeout)
        if cache is None:  # nothing to keep right: an untracked request
            return await self._fetch(key, body, retry, timeout, None)
        return await self._own(key, body, retry, timeout)

    def writing(self, key: str) -> Write:
        """The context of one write of ``key``: ``with reads.writing(key) as write:``,
        then ``write.stored(item)`` (a ``set``) or ``write.deleted()`` once it succeeded."""
        return Write(self, key)

    # --- internals --------------------------------------------------------------------

    async def _shared(self, key: str, body: str, timeout: float | None) -> KeyValueItem | None:
        flights = self._flights.get(key)
        flight = flights[-1] if flights else None
        loop = asyncio.get_running_loop()
        if flight is not None and flight.task is not None:
            self._events.emit(Coalesced(key))
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
            return await within(waiter, timeout, _wire.GET, cause=_last_error(flight))
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
            item = await self._fetch(key, body, None, None, flight.progress)
        finally:
            self._unregister(key, flight)
        self._remember(key, item, flight)
        return item

    async def _own(self, key: str, body: str, retry: RetryPolicy | None,
                   timeout: float | None) -> KeyValueItem | None:
        """A request of the caller's own, tracked so that a write can keep it uncached."""
        flight = _Flight()
        self._register(key, flight)
        try:
            item = await self._fetch(key, body, retry, timeout, None)
        finally:
            self._unregister(key, flight)
        self._remember(key, item, flight)
        return item

    def _remember(self, key: str, item: KeyValueItem | None, flight: _Flight) -> None:
        """Cache what a read answered, unless a write of the key overtook it."""
        if self._cache is not None and not flight.stale:
            self._cache.put(key, item)

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
        """Later reads of ``key`` must not join (nor cache) the reads in flight now."""
        flights = self._flights.pop(key, None)
        if flights:
            for flight in flights:
                flight.stale = True


class Write:
    """Read-your-writes around one write of a key (made by :meth:`Reads.writing`).

    Entering drops the key's cache entry and detaches its reads in flight; leaving
    detaches them again (reads started during the write saw the old state) and caches
    the write's outcome, or, when the write failed or was cancelled (its outcome
    unknown), leaves no entry.
    """

    __slots__ = ("_done", "_item", "_key", "_reads")

    def __init__(self, reads: Reads, key: str) -> None:
        self._reads = reads
        self._key = key
        self._done = False
        self._item: KeyValueItem | None = None

    def stored(self, item: KeyValueItem) -> None:
        """The write succeeded and the key now holds ``item``."""
        self._done, self._item = True, item

    def deleted(self) -> None:
        """The write succeeded and the key now holds nothing."""
        self._done, self._item = True, None

    def __enter__(self) -> Write:
        reads = self._reads
        reads._detach(self._key)
        if reads._cache is not None:
            reads._cache.drop(self._key)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        reads = self._reads
        reads._detach(self._key)
        cache = reads._cache
        if cache is not None:
            if self._done and exc is None:
                cache.put(self._key, self._item)
            else:
                cache.drop(self._key)


def _last_error(flight: _Flight) -> Callable[[], BaseException | None]:
    return lambda: flight.progress.last_error

