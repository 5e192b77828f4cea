"""A deterministic discrete-event simulation of a bulk run against a throttling server.

Time is virtual: an asyncio event loop whose clock jumps to the next timer instead of
waiting, so ``asyncio.sleep`` (and anything built on it, such as the pacer's
``acquire``) costs no real time, and a 60-second run takes well under a second.

The model: ``senders`` workers each loop ``acquire() -> request -> answer`` with a fixed
``latency`` (the server decides at half of it); the server refuses a random ``share``
of requests and/or those beyond a token-bucket ``limit`` (which may change over time);
a refused item goes back to the pool (after ``retry_after`` if the server sends one, as
the engine does), and the controller hears every answer.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import math
import random
import selectors
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

__all__ = ["Pacer", "Run", "Server", "VirtualClock", "simulate"]


class VirtualClock:
    """The simulation's time, in seconds."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _WarpSelector(selectors.BaseSelector):
    """A selector with no I/O: waiting ``timeout`` seconds moves the clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("the simulation is stuck: nothing is scheduled")
        # Each turn of the loop costs a nanosecond, as real time would pass: a coroutine
        # that naps for float dust (1e-18 s) must still see the clock move.
        self._clock.now += max(timeout, 1e-9)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a :class:`VirtualClock`."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_WarpSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


def run_virtual(main: Callable[[VirtualClock], Any], clock: VirtualClock | None = None) -> Any:
    """Run the coroutine ``main(clock)`` to the end on a fresh virtual-time loop."""
    clock = clock or VirtualClock()
    loop = VirtualTimeLoop(clock)
    try:
        return loop.run_until_complete(main(clock))
    finally:
        loop.close()


class Pacer(Protocol):
    """What the simulation needs of a pacing controller."""

    rate: float

    async def acquire(self) -> None: ...
    def on_success(self) -> None: ...
    def on_throttle(self, *args: Any) -> None: ...


@attrs.define
class Server:
    """Refuses a random ``share`` of requests, then those beyond a token-bucket ``limit``.

    ``changes`` maps a time to a new limit (e.g. ``{20: 600, 40: 150}``).
    """

    limit: float | None = None
    burst: float | None = None
    share: float = 0.0
    retry_after: float | None = None
    changes: dict[float, float | None] = attrs.field(factory=dict)
    seed: int = 1
    _tokens: float = attrs.field(init=False, default=0.0)
    _at: float = attrs.field(init=False, default=0.0)
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._tokens = self._room()

    def _room(self) -> float:
        if self.limit is None:
            return 0.0
        return self.burst if self.burst is not None else max(1.0, self.limit / 10)

    def limit_at(self, now: float) -> float | None:
        limit = self.limit
        for at, value in sorted(self.changes.items()):
            if now >= at:
                limit = value
        return limit

    def accepts(self, now: float) -> bool:
        """Whether a request arriving at ``now`` is accepted (it takes a token if so)."""
        if self.share and self._rng.random() < self.share:
            return False
        limit = self.limit_at(now)
        if limit is None:
            return True
        room = self.burst if self.burst is not None else max(1.0, limit / 10)
        self._tokens = min(room, self._tokens + (now - self._at) * limit)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@attrs.define
class Run:
    """What a simulated run did: each request's send time and outcome, rate samples."""

    sent: list[float] = attrs.field(factory=list)
    ok: list[bool] = attrs.field(factory=list)
    rates: list[tuple[float, float]] = attrs.field(factory=list)
    finished_at: float = 0.0
    succeeded: int = 0

    def _between(self, start: float, end: float) -> tuple[int, int]:
        n = ok = 0
        for at, good in zip(self.sent, self.ok, strict=True):
            if start <= at < end:
                n += 1
                ok += good
        return n, ok

    def send_rate(self, start: float, end: float) -> float:
        return self._between(start, end)[0] / (end - start)

    def goodput(self, start: float, end: float) -> float:
        return self._between(start, end)[1] / (end - start)

    def throttled_share(self, start: float = 0.0, end: float = math.inf) -> float:
        n, ok = self._between(start, end)
        return (n - ok) / n if n else 0.0

    @property
    def requests(self) -> int:
        return len(self.sent)

    def rate_at(self, at: float) -> float:
        """The controller's allowed rate at the sample nearest before ``at``."""
        best = math.inf
        for t, rate in self.rates:
            if t > at:
                break
            best = rate
        return best


class _Pool:
    """Items to send: fresh ones, and refused ones waiting out a server's delay."""

    def __init__(self, items: int | None) -> None:
        self.fresh = items
        self.later: list[float] = []

    def take(self, now: float) -> float | None:
        """0 when an item was taken; else seconds until one may be ready; None: done."""
        if self.fresh is None or self.fresh > 0:
            if self.fresh is not None:
                self.fresh -= 1
            return 0.0
        if self.later:
            if self.later[0] <= now:
                heapq.heappop(self.later)
                return 0.0
            return self.later[0] - now
        return None

    def give_back(self, ready_at: float, now: float) -> None:
        if ready_at <= now and self.fresh is not None:
            self.fresh += 1
        elif ready_at > now:
            heapq.heappush(self.later, ready_at)


async def _simulate(
    clock: VirtualClock,
    make_pacer: Callable[[VirtualClock], Pacer | None],
    server: Server,
    *,
    senders: int,
    latency: float,
    duration: float | None,
    items: int | None,
) -> Run:
    pacer = make_pacer(clock)
    run = Run()
    pool = _Pool(items)
    hint = _takes_hint(pacer)
    stop = duration if duration is not None else math.inf
    remaining = [items if items is not None else math.inf]

    async def sender() -> None:
        while clock.now < stop and remaining[0] > 0:
            wait = pool.take(clock.now)
            if wait is None:  # nothing to take now; refused items may come back
                wait = latency
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if pacer is not None:
                await pacer.acquire()
            run.sent.append(clock.now)
            await asyncio.sleep(latency / 2)
            good = server.accepts(clock.now)
            await asyncio.sleep(latency / 2)
            run.ok.append(good)
            if good:
                run.succeeded += 1
                remaining[0] -= 1
                if pacer is not None:
                    pacer.on_success()
                continue
            delay = server.retry_after or 0.0
            pool.give_back(clock.now + delay, clock.now)
            if pacer is not None:
                if hint and server.retry_after is not None:
                    pacer.on_throttle(server.retry_after)
                else:
                    pacer.on_throttle()

    async def sampler() -> None:
        while True:
            run.rates.append((clock.now, pacer.rate if pacer is not None else math.inf))
            await asyncio.sleep(0.1)

    sampling = asyncio.ensure_future(sampler())
    await asyncio.gather(*(sender() for _ in range(senders)))
    run.finished_at = clock.now
    sampling.cancel()
    return run


def _takes_hint(pacer: Pacer | None) -> bool:
    if pacer is None:
        return False
    return len(inspect.signature(pacer.on_throttle).parameters) > 0


def simulate(
    make_pacer: Callable[[VirtualClock], Pacer | None],
    server: Server,
    *,
    senders: int = 64,
    latency: float = 0.005,
    duration: float | None = None,
    items: int | None = None,
) -> Run:
    """Run ``senders`` workers for ``duration`` seconds or until ``items`` succeeded.

    ``make_pacer(clock)`` makes the controller on the simulation's clock (``None``: no
    pacing). Every sleep is virtual.
    """
    if (duration is None) == (items is None):
        raise ValueError("give duration or items")
    run: Run = run_virtual(
        lambda clock: _simulate(
            clock,
            make_pacer,
            server,
            senders=senders,
            latency=latency,
            duration=duration,
            items=items,
        )
    )
    return run
