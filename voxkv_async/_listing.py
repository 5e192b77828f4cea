"""Walking a listing at the server's rate: :class:`Listing`, what ``iter_items`` returns.

A listing is paged by offset (``GetKeyValueItems``/``GetKeyValueKeys``, 50 entries a
page at most). This module owns the walk: which pages to ask for, how many at once, in
what order to hand them on, and what to do when the listing moves under the walk.

**A sliding window of offsets, not sub-prefixes.** Pages are asked for ahead of the
reader, several at once, at the offsets the pages before them predict; they are handed
on in offset order. Splitting the prefix by the next character of the key alphabet (77
of them) was the alternative: it bounds the offsets a server must skip, but a prefix of
3 keys would cost up to 78 requests instead of 2, a skewed prefix (``user:0...``) needs
recursive splitting found by probing, and the order would be the merge of the parts.
The window keeps today's order and costs, and needs nothing of the key distribution. The
window starts at one page and doubles while pages come back full, up to
``concurrency``: a small prefix costs its page and the empty page that ends the walk, a
walk stopped early has asked for at most the window beyond what it read, and memory is
the pages in flight.

**Overlapping pages.** Each page after the first starts at the last entry of the one
before (offsets advance by ``page_size - 1``: 2 % more requests at 50 a page), so every
boundary is checked: when the next page does not start with that entry, keys were added
or deleted before the offset between the two reads. The walk then re-anchors: it finds
the latest entry of the page before in the new page (fetching it again a stride back or
forward, at most :data:`ANCHOR_TRIES` times) and carries on after it, skipping entries
it has handed on already. As long as the server lists keys in a stable order (the
emulator and, most likely, the API sort by key), **every key present throughout the
walk is listed exactly once**; keys added or deleted during it may or may not be.
A boundary that cannot be re-anchored (the whole page before deleted meanwhile, or the
listing moved by more than :data:`ANCHOR_TRIES` strides) is counted in
:attr:`ListingReport.gaps` and logged: there, keys may be missed or listed twice.

**Pacing.** Every page request is one attempt, paced by the same
:class:`~voxkv_async._bulk.pacing.AdaptiveRate` as bulk writes, with the same circuit
breaker (:class:`~voxkv_async._bulk.breaker.Breaker`): the walk follows a server-side
limit and rides out throttles and outages as ``set_many`` does. A throttled page is
asked for again as soon as the pacer allows (the walk hands pages on in order, so a page
waiting out a backoff would hold up every page behind it); the pacer honours a
``Retry-After`` when most requests are refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from functools import partial
from typing import Generic, Protocol, TypedDict, TypeVar

import attrs

from ._bulk.breaker import Breaker
from ._bulk.options import DEFAULT_ITEM_ATTEMPTS, DEFAULT_OUTAGE_TOLERANCE
from ._bulk.pacing import AdaptiveRate
from ._calls import check_timeout
from ._errors import ApiError, ProtocolError, RateLimitedError, ValidationError, VoxKVError
from ._models import KeyInfo, KeyValueItem
from ._retry import RetryPolicy
from ._validation import check_count

__all__ = ["ANCHOR_TRIES", "DEFAULT_CONCURRENCY", "Listing", "ListingOptions", "ListingReport",
           "walk_items", "walk_keys"]

logger = logging.getLogger("voxkv_async")

#: Pages a walk asks for at once, at most, unless ``concurrency=`` says otherwise.
DEFAULT_CONCURRENCY = 32
#: Pages fetched again to re-anchor one boundary before it counts as a gap.
ANCHOR_TRIES = 8

T = TypeVar("T", KeyValueItem, KeyInfo)
# A walk retries its pages itself (paced, paused in outages): each call is one attempt.
_ONE_ATTEMPT = RetryPolicy.disabled()


class PageFetch(Protocol[T]):
    """One page of a listing: ``kv.items`` or ``kv.keys``."""

    def __call__(self, *, count: int, offset: int, retry: RetryPolicy | None,
                 timeout: float | None) -> Awaitable[list[T]]: ...


class Pages(Protocol):
    """The client's page calls a walk needs."""

    async def items(self, prefix: str, *, count: int = ..., offset: int = ...,
                    retry: RetryPolicy | None = ...,
                    timeout: float | None = ...) -> list[KeyValueItem]: ...  # noqa: ASYNC109

    async def keys(self, prefix: str | None = ..., *, count: int = ..., offset: int = ...,
                   retry: RetryPolicy | None = ...,
                   timeout: float | None = ...) -> list[KeyInfo]: ...  # noqa: ASYNC109


def walk_items(kv: Pages, prefix: str, page_size: int, options: ListingOptions
               ) -> Listing[KeyValueItem]:
    """``kv.iter_items``: every item under ``prefix``."""
    return Listing(partial(kv.items, prefix), "GetKeyValueItems", _key, page_size, options)


def walk_keys(kv: Pages, prefix: str | None, page_size: int, options: ListingOptions
              ) -> Listing[KeyInfo]:
    """``kv.iter_keys``: every key (under ``prefix``, if given)."""
    return Listing(partial(kv.keys, prefix), "GetKeyValueKeys", _key, page_size, options)


def _key(entry: KeyValueItem | KeyInfo) -> str:
    return entry.key


class ListingOptions(TypedDict, total=False):
    """Options of ``iter_items`` and ``iter_keys`` (all optional).

    Attributes:
        concurrency: Pages in flight at most (default :data:`DEFAULT_CONCURRENCY`, 32);
            the window starts at one page and doubles while pages come back full.
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


class _Pager(Generic[T]):
    """Fetches one page: paced, through the breaker, retried until it comes or fails."""

    def __init__(self, fetch: PageFetch[T], options: ListingOptions,
                 report: ListingReport) -> None:
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

    async def page(self, offset: int, count: int) -> list[T]:
        """The page at ``offset``; raises what a page could not get past."""
        failures = 0
        while True:
            probe = await self.breaker.admit()
            if self.pacer is not None:
                await self.pacer.acquire()
            self._report.requests += 1
            try:
                page = await self._fetch(count=count, offset=offset, retry=_ONE_ATTEMPT,
                                         timeout=self._timeout)
            except VoxKVError as exc:
                self._tell(exc, probe)
                failures += not isinstance(exc, RateLimitedError)
                delay = self._delay(exc, failures)
            except BaseException:  # cancelled: no answer will come
                if self.pacer is not None:
                    self.pacer.on_error()
                raise
            else:
                self._tell(None, probe)
                return page
            self._report.retried += 1
            await asyncio.sleep(delay)

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


class _Window(Generic[T]):
    """Pages asked for ahead of the reader, at predicted offsets, in offset order."""

    def __init__(self, pager: _Pager[T], limit: int, report: ListingReport) -> None:
        self._pager: _Pager[T] = pager
        self._limit, self._report = limit, report
        self.size = 1
        self._ahead: deque[tuple[int, asyncio.Task[list[T]]]] = deque()
        self._next = self._count = self._stride = 0

    def place(self, offset: int, count: int) -> None:
        """The next page is at ``offset``: keep the pages ahead if they predicted it."""
        head = self._ahead[0][0] if self._ahead else self._next
        if head != offset or count != self._count:
            self.drop()
            self._next, self._count = offset, count
            self._stride = count - 1 if count > 1 else 1

    def grow(self) -> None:
        """A full page: there is more; ask for twice as many pages at once."""
        self.size = min(self._limit, self.size * 2)
        self._report.window = max(self._report.window, self.size)

    async def next(self) -> tuple[int, list[T]]:
        """The next page in offset order (topping the window up first)."""
        while len(self._ahead) < self.size:
            task = asyncio.ensure_future(self._pager.page(self._next, self._count))
            self._ahead.append((self._next, task))
            self._next += self._stride
        offset, task = self._ahead.popleft()
        return offset, await task

    def drop(self) -> None:
        """Cancel the pages ahead (their answers, or errors, are not wanted)."""
        for _, task in self._ahead:
            task.cancel()
            task.add_done_callback(_forget)
        self._report.discarded += len(self._ahead)
        self._ahead.clear()


def _forget(task: asyncio.Task[object]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failure no one waits for is not worth a warning


class Listing(Generic[T]):
    """Every entry under a prefix, in the server's order: an async iterator.

    Returned by :meth:`VoxKV.iter_items` and :meth:`VoxKV.iter_keys`; see
    :class:`ListingOptions` for the options and the module ``voxkv_async._listing`` for
    the design. :attr:`report` says what the walk did and whether it is
    :attr:`~ListingReport.complete`. Break out of the loop early (or call
    :meth:`aclose`) and the pages in flight are cancelled.
    """

    def __init__(self, fetch: PageFetch[T], method: str, key_of: Callable[[T], str],
                 page_size: int, options: ListingOptions) -> None:
        self._method = method
        self._page_size = check_count(page_size)
        limit = options.get("concurrency", DEFAULT_CONCURRENCY)
        if type(limit) is not int or limit < 1:
            raise ValidationError("concurrency", "must be an int >= 1", repr(limit))
        self.report = ListingReport()
        self._pager: _Pager[T] = _Pager(fetch, options, self.report)
        self._window: _Window[T] = _Window(self._pager, limit, self.report)
        self._key: Callable[[T], str] = key_of
        self._entries: AsyncGenerator[T, None] | None = None

    @property
    def pacer(self) -> AdaptiveRate | None:
        """The pacer of the page requests (what it learned: ``pacer.snapshot()``)."""
        return self._pager.pacer

    def __aiter__(self) -> Listing[T]:
        return self

    async def __anext__(self) -> T:
        if self._entries is None:
            self._entries = self._walk()
        return await self._entries.__anext__()

    async def aclose(self) -> None:
        """Stop the walk: cancel the pages in flight."""
        if self._entries is not None:
            await self._entries.aclose()

    async def _walk(self) -> AsyncGenerator[T, None]:
        count, window, report = self._page_size, self._window, self.report
        window.place(0, count)
        anchor: list[T] | None = None  # the page the next one must start with the end of
        try:
            while True:
                offset, page = await window.next()
                fresh = page
                if anchor is not None:
                    offset, page, fresh = await self._continue(anchor, offset, page, count)
                report.listed += len(fresh)
                for entry in fresh:
                    yield entry
                if len(page) == count:  # full: there is more
                    window.grow()
                    anchor = page if count > 1 else None
                    window.place(offset + len(page) - (count > 1), count)
                    continue
                if not page:
                    return
                # A short page ends the walk if the next one is empty. If not, the server
                # caps its pages below count (or keys came at the end): ask for that many.
                window.drop()
                if not await self._pager.page(offset + len(page), count):
                    return
                report.discarded += 1
                count, anchor = max(2, len(page)), page
                window.place(offset + len(page) - 1, count)
        finally:
            window.drop()

    async def _continue(self, anchor: list[T], offset: int, page: list[T], count: int
                        ) -> tuple[int, list[T], list[T]]:
        """``(offset, page, new entries)`` after ``anchor``: re-anchored if it moved."""
        key = self._key
        if page and key(page[0]) == key(anchor[-1]):
            return offset, page, page[1:]
        if page and len(anchor) > 1 and key(page[0]) == key(anchor[0]):
            raise ProtocolError("the server ignores offset: the same page came twice",
                                status=200, method=self._method)
        self.report.shifts += 1
        self._window.drop()  # placed by positions that have moved
        seen = {key(entry): n for n, entry in enumerate(anchor)}
        first = (offset, page)
        for tried in _around(offset, len(anchor) - 1):
            if tried != offset:
                page = await self._pager.page(tried, count)
            hit = _last_seen(seen, [key(entry) for entry in page])
            if hit is not None:
                return tried, page, [e for e in page[hit + 1:] if key(e) not in seen]
        self.report.gaps += 1
        logger.warning("listing: keys were added or deleted under the walk and it could not "
                       "find its place again near offset %d: keys there may be missing or "
                       "listed twice", offset)
        offset, page = first
        return offset, page, [e for e in page if key(e) not in seen]


def _last_seen(seen: dict[str, int], keys: list[str]) -> int | None:
    """Where in ``keys`` the latest key of the page before (``seen``: key -> place) is."""
    found = [(seen[k], n) for n, k in enumerate(keys) if k in seen]
    return max(found)[1] if found else None


def _around(offset: int, stride: int) -> Iterator[int]:
    """``offset``, then a stride back, a stride forward, two back...: distinct, >= 0."""
    yield offset
    tried = {offset}
    for n in range(1, ANCHOR_TRIES):
        for candidate in (offset - n * stride, offset + n * stride):
            candidate = max(0, candidate)
            if candidate not in tried and len(tried) <= ANCHOR_TRIES:
                tried.add(candidate)
                yield candidate
