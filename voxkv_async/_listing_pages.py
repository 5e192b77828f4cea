"""Fetching the pages of a walk (see :mod:`voxkv_async._listing`): one page at a time
paced, through the breaker and retried (``Pager``), and the pages asked for ahead of the
reader (``Window``); with the options and the report they share.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable
from typing import Generic, Protocol, TypedDict, TypeVar

import attrs

from ._bulk.breaker import Breaker
from ._bulk.options import DEFAULT_ITEM_ATTEMPTS, DEFAULT_OUTAGE_TOLERANCE
from ._bulk.pacing import AdaptiveRate
from ._calls import check_timeout
from ._errors import ApiError, RateLimitedError, ValidationError, VoxKVError
from ._events import EventStream, RetryScheduled
from ._models import KeyInfo, KeyValueItem
from ._retry import RetryPolicy

__all__ = ["ListingOptions", "ListingReport", "PageFetch", "Pager", "Wanted", "Window"]

T = TypeVar("T", KeyValueItem, KeyInfo)
# A walk retries its pages itself (paced, paused in outages): each call is one attempt.
_ONE_ATTEMPT = RetryPolicy.disabled()


class PageFetch(Protocol[T]):
    """One page of a listing: ``kv.items`` or ``kv.keys``."""

    def __call__(self, *, count: int, offset: int, retry: RetryPolicy | None,
                 timeout: float | None) -> Awaitable[list[T]]: ...


class ListingOptions(TypedDict, total=False):
    """Options of ``iter_items`` and ``iter_keys`` (all optional).

    Attributes:
        concurrency: Pages in flight at most (default :data:`DEFAULT_CONCURRENCY`, 32);
            the window starts at one page and grows by one per full page.
            ``1`` walks one page after the other.
        adaptive: The :class:`~voxkv_async.AdaptiveRate` pacing the page requests (share
            one with ``set_many``/``delete_many`` to pace a whole job), ``True``
            (default) for a new one, ``False`` for none.
        retry: ``max_attempts`` is how many attempts a page gets for transient failures
            other than throttling (default 20), ``base``/``max_wait`` their backoff.
        timeout: Seconds for each attempt at a page (default: the client's).
        outage_tolerance: Seconds without any answer after which the walk gives up
            (default 300); until then it pauses and probes.
    """

    concurrency: int
    adaptive: AdaptiveRate | bool
    retry: RetryPolicy | None
    timeout: float | None
    outage_tolerance: float


@attrs.define
class ListingReport:
    """What a walk did so far (read it during or after the walk).

    Attributes:
        listed: Entries handed on.
        requests: Page requests sent (attempts, retries included).
        discarded: Pages asked for and not used: beyond the end, or placed by a listing
            that moved since.
        throttled: Requests the server refused as over its limit.
        retried: Page requests sent again after a throttle or a transient failure.
        shifts: Boundaries where keys had been added or deleted before the offset
            between two reads, and the walk re-anchored (nothing lost or repeated).
        gaps: Boundaries it could not re-anchor: around them, keys present throughout
            may be missing or listed twice (also logged as a warning).
        window: The most pages it had in flight.
    """

    listed: int = 0
    requests: int = 0
    discarded: int = 0
    throttled: int = 0
    retried: int = 0
    shifts: int = 0
    gaps: int = 0
    window: int = 1

    @property
    def complete(self) -> bool:
        """Whether every key present throughout the walk was listed exactly once."""
        return self.gaps == 0


class Pager(Generic[T]):
    """Fetches one page: paced, through the breaker, retried until it comes or fails."""

    def __init__(self, fetch: PageFetch[T], options: ListingOptions,
                 report: ListingReport, events: EventStream | None = None,
                 method: str = "") -> None:
        self._events, self._method = events, method
        self._fetch: PageFetch[T] = fetch
        self._report = report
        timeout = options.get("timeout")
        if timeout is not None:
            check_timeout(timeout)
        self._timeout = timeout
        tolerance = options.get("outage_tolerance", DEFAULT_OUTAGE_TOLERANCE)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) \
                or not tolerance > 0:
            raise ValidationError("outage_tolerance", "must be a number of seconds > 0",
                                  repr(tolerance))
        self._policy = options.get("retry") or RetryPolicy(max_attempts=DEFAULT_ITEM_ATTEMPTS)
        adaptive = options.get("adaptive", True)
        if not isinstance(adaptive, AdaptiveRate | bool):
            raise ValidationError("adaptive", "must be an AdaptiveRate or a bool",
                                  type(adaptive).__name__)
        self.pacer = adaptive if isinstance(adaptive, AdaptiveRate) else (
            AdaptiveRate() if adaptive else None)
        self.breaker = Breaker(tolerance=float(tolerance))

    async def page(self, offset: int, count: int, wanted: Wanted | None = None) -> list[T]:
        """The page at ``offset``; raises what a page could not get past. Once no longer
        ``wanted``, it returns ``[]`` instead of sending (again)."""
        failures, attempts, wanted = 0, 0, wanted or Wanted()
        while wanted():
            probe = await self.breaker.admit()
            if self.pacer is not None:
                await self.pacer.acquire()
            if not wanted():
                self.breaker.on_no_verdict(probe)
                if self.pacer is not None:
                    self.pacer.on_error()  # the slot it gave goes unused
                return []
            self._report.requests += 1
            attempts += 1
            wanted.sending = True
            try:
                page = await self._fetch(count=count, offset=offset, retry=_ONE_ATTEMPT,
                                         timeout=self._timeout)
            except VoxKVError as exc:
                self._tell(exc, probe)
                failures += not isinstance(exc, RateLimitedError)
                delay = self._delay(exc, failures)
                error: VoxKVError = exc
            except BaseException:  # cancelled: no answer will come
                if self.pacer is not None:
                    self.pacer.on_error()
                raise
            else:
                self._tell(None, probe)
                return page
            finally:
                wanted.sending = False
            self._report.retried += 1
            if self._events is not None:  # counted in kv.stats, as bulk item retries are
                self._events.emit(RetryScheduled(self._method, None, attempts, delay,
                                                 error))
            await self._policy.sleep(delay)
        return []

    def _delay(self, exc: VoxKVError, failures: int) -> float:
        """How long to wait before asking again, or raise ``exc`` if not again."""
        policy = self._policy
        if isinstance(exc, RateLimitedError):
            self._report.throttled += 1
            if self.pacer is not None:
                return 0.0  # the pacer spaces the next attempt (and honours Retry-After)
            return min(exc.retry_after or _jitter(policy.throttle_base, 1, policy.max_wait),
                       policy.max_retry_after)
        if not exc.retryable:
            raise exc
        if self.breaker.exhausted:
            exc.add_note(f"gave up: no answer from the server for over "
                         f"{self.breaker.tolerance:g} s")
            raise exc
        if failures >= policy.max_attempts:
            exc.add_note(f"gave up after {failures} transient failures of one page")
            raise exc
        return _jitter(policy.base, failures, policy.max_wait)

    def _tell(self, exc: VoxKVError | None, probe: bool) -> None:
        """Tell the pacer and the breaker how an attempt ended (as bulk runs do)."""
        answered = exc is None or isinstance(exc, ApiError)
        if self.pacer is not None:
            if isinstance(exc, RateLimitedError):
                self.pacer.on_throttle(exc.retry_after)
            elif answered:
                self.pacer.on_success()
            else:
                self.pacer.on_error()
        if exc is None or isinstance(exc, RateLimitedError) or (
                answered and not exc.retryable):
            self.breaker.on_success(probe)
        elif exc.retryable:
            self.breaker.on_failure(exc, probe)
        else:
            self.breaker.on_no_verdict(probe)


def _jitter(base: float, n: int, cap: float) -> float:
    return random.uniform(0, min(cap, base * 2 ** (n - 1)))


class Wanted:
    """Whether a page is still wanted (``False`` once dropped), and whether its request
    is on the wire."""

    __slots__ = ("sending", "wanted")

    def __init__(self) -> None:
        self.wanted, self.sending = True, False

    def __call__(self) -> bool:
        return self.wanted


class Window(Generic[T]):
    """Pages asked for ahead of the reader, at predicted offsets, in offset order."""

    def __init__(self, pager: Pager[T], limit: int, report: ListingReport) -> None:
        self._pager: Pager[T] = pager
        self._limit, self._report = limit, report
        self.size = 1
        self._ahead: deque[tuple[int, asyncio.Task[list[T]]]] = deque()
        # Pages no longer wanted: those sent finish (their connection stays pooled and
        # the pacer hears how they ended); the others return without sending.
        self._dropped: set[asyncio.Task[list[T]]] = set()
        self._tickets: dict[asyncio.Task[list[T]], Wanted] = {}
        self._next = self._count = self._stride = 0

    def place(self, offset: int, count: int) -> None:
        """The next page is at ``offset``: keep the pages ahead if they predicted it."""
        head = self._ahead[0][0] if self._ahead else self._next
        if head != offset or count != self._count:
            self.drop()
            self._next, self._count = offset, count
            self._stride = count - 1  # pages overlap by one entry (count >= 2)

    def grow(self) -> None:
        """A full page: there is more; ask for one more page at once (as TCP's slow
        start: the window doubles per round trip, and overshoots the end by little)."""
        self.size = min(self._limit, self.size + 1)
        self._report.window = max(self._report.window, self.size)

    async def next(self) -> tuple[int, list[T]]:
        """The next page in offset order (topping the window up first)."""
        while len(self._ahead) < self.size:
            wanted = Wanted()
            task: asyncio.Task[list[T]] = asyncio.ensure_future(
                self._pager.page(self._next, self._count, wanted))
            self._tickets[task] = wanted
            self._ahead.append((self._next, task))
            self._next += self._stride
        offset, task = self._ahead.popleft()
        try:
            return offset, await task
        finally:
            del self._tickets[task]

    def drop(self, *, shrink: bool = False) -> None:
        """Forget the pages ahead (see ``_dropped``); with ``shrink``, ask for half as
        many at once (the listing moves: predictions fail)."""
        if shrink:
            self.size = max(1, self.size // 2)
        for _, task in self._ahead:
            self._tickets[task].wanted = False
            self._dropped.add(task)
            task.add_done_callback(self._settled)
        self._report.discarded += len(self._ahead)
        self._ahead.clear()

    def _settled(self, task: asyncio.Task[list[T]]) -> None:
        self._dropped.discard(task)
        self._tickets.pop(task, None)
        if not task.cancelled():
            task.exception()  # retrieved: a failure no one waits for is not worth a warning

    async def settle(self) -> None:
        """The walk is over: wait for the requests on the wire (at most a round trip),
        cancel the pages still waiting to be sent."""
        self.drop()
        for task in self._dropped:
            if not self._tickets[task].sending:
                task.cancel()
        await asyncio.gather(*self._dropped, return_exceptions=True)

    def cancel(self) -> None:
        """Cancel every page in flight (the reader stopped, or the walk failed)."""
        self.drop()
        for task in self._dropped:
            task.cancel()




