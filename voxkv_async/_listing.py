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
window starts at one page and grows by one per full page (doubling per round trip), up to
``concurrency``: a small prefix costs its page and the empty page that ends the walk, a
walk stopped early has asked for at most the window beyond what it read, and memory is
the pages in flight.

**Overlapping pages.** Each page after the first starts at the last entry of the one
before (offsets advance by ``page_size - 1``: 2 % more requests at 50 a page), so every
boundary is checked: when the next page does not start with that entry, keys were added
or deleted before the offset between the two reads. The walk then re-anchors. While
every page has come in key order (the emulator sorts; so, most likely, does the API),
it searches by key: galloping back or forward from the offset and bisecting, it finds
the page where the keys after the last one handed on start (:data:`SEEK_TRIES` pages at
most: shifts of millions of keys) and carries on from there. For a server that does not
sort, it looks for the latest entry of the page before a stride back, a stride forward,
two back... (:data:`ANCHOR_TRIES` pages) and carries on after it, skipping the entries
it has handed on. **Every key present throughout the walk is listed exactly once** (as
long as the server's order is stable); keys added or deleted during it may or may not
be. A boundary that cannot be re-anchored (the listing kept moving during the search,
or, unsorted, the whole page before was deleted) is counted in
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

import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from itertools import pairwise
from typing import Generic, TypeVar

from . import _wire
from ._bulk.pacing import AdaptiveRate
from ._errors import ValidationError
from ._events import EventStream
from ._listing_pages import ListingOptions, ListingReport, PageFetch, Pager, Window
from ._models import KeyInfo, KeyValueItem
from ._validation import check_count

__all__ = ["ANCHOR_TRIES", "DEFAULT_CONCURRENCY", "SAME_PAGES", "SEEK_TRIES", "Listing",
           "ListingOptions", "ListingReport", "walk"]

logger = logging.getLogger("voxkv_async")

#: Pages a walk asks for at once, at most, unless ``concurrency=`` says otherwise.
DEFAULT_CONCURRENCY = 32
#: Pages fetched again to re-anchor one boundary before it counts as a gap: in a listing
#: sorted by key (a binary search: enough for shifts of millions), and in one that is not
#: (strides back and forward in turn: shifts up to 4 pages).
SEEK_TRIES, ANCHOR_TRIES = 24, 8
#: Pages in a row equal to the page before them that make a server "ignoring offset".
SAME_PAGES = 16

T = TypeVar("T", KeyValueItem, KeyInfo)


def walk(fetch: PageFetch[T], method: str, page_size: int, options: ListingOptions,
         events: EventStream) -> Listing[T]:
    """``iter_items``/``iter_keys``: ``fetch(count=, offset=)`` gets one page (of the
    client or of a namespace view); retries are told to the client's ``events``."""
    return Listing(fetch, method, _key, page_size, options, events)


def _key(entry: KeyValueItem | KeyInfo) -> str:
    return entry.key


class Listing(Generic[T]):
    """Every entry under a prefix, in the server's order: an async iterator.

    Returned by :meth:`VoxKV.iter_items` and :meth:`VoxKV.iter_keys` (options:
    :class:`ListingOptions`). Pages are fetched several at once, paced like bulk runs,
    and handed on in order; every key present throughout the walk is listed exactly
    once, even when keys are added or deleted meanwhile (the explanation page "Listing
    at the server's rate" says how). :attr:`report` says what the walk did and whether
    it is :attr:`~ListingReport.complete`. Break out of the loop early (or call
    :meth:`aclose`) and the pages in flight are cancelled.
    """

    def __init__(self, fetch: PageFetch[T], method: str, key_of: Callable[[T], str],
                 page_size: int, options: ListingOptions, events: EventStream | None = None
                 ) -> None:
        self._method = method
        # Pages of one cannot overlap: ask for two (one new entry a request, as before).
        self._page_size = max(2, check_count(page_size))
        limit = options.get("concurrency", DEFAULT_CONCURRENCY)
        if type(limit) is not int or limit < 1:
            raise ValidationError("concurrency", "must be an int >= 1", repr(limit))
        self.report = ListingReport()
        self._pager: Pager[T] = Pager(fetch, options, self.report, events, method)
        self._window: Window[T] = Window(self._pager, limit, self.report)
        self._key: Callable[[T], str] = key_of
        self._entries: AsyncGenerator[T, None] | None = None
        self._ordered = True  # every page so far in key order: re-anchor by key
        self._same = 0  # pages in a row equal to the page before them
        self._last: str | None = None  # the last key handed on

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
                fresh = self._in_order(page, fresh)
                report.listed += len(fresh)
                for entry in fresh:
                    yield entry
                if len(page) == count:  # full: there is more
                    if fresh:  # and the walk goes on: ask for more pages at once
                        window.grow()
                    anchor = page
                    window.place(offset + len(page) - 1, count)
                    continue
                if not page:
                    await window.settle()
                    return
                # A short page ends the walk if the next one is empty. If not, the server
                # caps its pages below count (or keys came at the end): ask for that many.
                window.drop()
                if not await self._pager.page(offset + len(page), count):
                    await window.settle()
                    return
                report.discarded += 1
                count, anchor = max(2, len(page)), page
                window.place(offset + len(page) - 1, count)
        finally:
            window.cancel()  # after settle(): nothing left; else the reader stopped

    async def _continue(self, anchor: list[T], offset: int, page: list[T], count: int
                        ) -> tuple[int, list[T], list[T]]:
        """``(offset, page, new entries)`` after ``anchor``: re-anchored if it moved."""
        key = self._key
        if page and key(page[0]) == key(anchor[-1]):
            self._same = 0
            return offset, page, page[1:]
        # The same page at another offset: count - 1 keys added before it meanwhile, or a
        # server that ignores offset. Many times in a row, it is the server.
        self._same = self._same + 1 if [key(e) for e in page] == [key(e) for e in anchor] \
            else 0
        if self._same >= SAME_PAGES:
            raise _wire.offset_ignored(self._method)
        self.report.shifts += 1
        self._window.drop(shrink=True)  # placed by positions that have moved
        last, seen = key(anchor[-1]), {key(entry): n for n, entry in enumerate(anchor)}
        if self._ordered:
            found = await self._seek(last, offset, page, count)
            if found is not None:
                return found[0], found[1], [e for e in found[1] if key(e) > last]
        else:
            for tried in _around(offset, len(anchor) - 1):
                new = page if tried == offset else await self._pager.page(tried, count)
                hit = _last_seen(seen, [key(entry) for entry in new])
                if hit is not None:
                    return tried, new, [e for e in new[hit + 1:] if key(e) not in seen]
        self.report.gaps += 1
        logger.warning("listing: keys were added or deleted under the walk and it could not "
                       "find its place again near offset %d: keys there may be missing or "
                       "listed twice", offset)
        return offset, page, [e for e in page if key(e) not in seen]

    async def _seek(self, last: str, offset: int, page: list[T], count: int
                    ) -> tuple[int, list[T]] | None:
        """In a listing sorted by key, the page where the keys after ``last`` start.

        Gallops back (or forward) from ``offset`` by doubling strides, then bisects:
        a shift of ``s`` keys costs about ``2 * log2(s / count)`` pages. ``None`` if the
        listing kept moving for :data:`SEEK_TRIES` pages.
        """
        lo: int | None = None  # offsets known to be before the place, and after it
        hi: int | None = None
        step = max(1, count - 1)
        for _ in range(SEEK_TRIES):
            side = self._side(page, last, count, offset)
            if side == 0:
                return offset, page
            if side > 0:
                hi = offset
            else:
                lo = offset
            if lo is not None and hi is not None and hi - lo <= 1:
                hi = None  # the listing moved during the search: that bound is stale
            if lo is not None and hi is not None:
                offset = (lo + hi) // 2
            else:
                offset = max(0, hi - step) if hi is not None else offset + step
                step *= 2
            page = await self._pager.page(offset, count)
        return None

    def _side(self, page: list[T], last: str, count: int, offset: int) -> int:
        """Whether ``page`` (at ``offset``) is before the place after ``last`` (-1), holds
        it (0: its first key is at most ``last``, and a later one is above it or the
        listing ends there), or is after it (1)."""
        if not page or self._key(page[0]) > last:
            return 0 if offset == 0 else 1
        return 0 if self._key(page[-1]) >= last or len(page) < count else -1

    def _in_order(self, page: list[T], fresh: list[T]) -> list[T]:
        """``fresh`` less what a sorted listing has handed on already (keys added behind
        the walk, met again after a re-anchoring); a page out of key order means the
        server does not sort: from then on, re-anchor by entries, filter nothing."""
        keys = [self._key(entry) for entry in page]
        if self._ordered and any(a >= b for a, b in pairwise(keys)):
            self._ordered = False
        if not self._ordered:
            return fresh
        last = self._last
        if last is not None and fresh and self._key(fresh[0]) <= last:
            fresh = [e for e in fresh if self._key(e) > last]
        if fresh:
            self._last = self._key(fresh[-1])
        return fresh


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
