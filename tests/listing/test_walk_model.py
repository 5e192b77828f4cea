"""The walk's algorithm against an in-memory server whose listing changes between pages:
exactly once for keys present throughout, in a sorted and in an unsorted listing, and a
gap reported (never silent) where it cannot re-anchor."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxkv_async import KeyInfo, RetryPolicy
from voxkv_async._listing import Listing


class Server:
    """A listing in a list (sorted, or in insertion order) and changes between requests."""

    def __init__(self, keys: list[str], *, ordered: bool = True) -> None:
        self.keys = sorted(keys) if ordered else list(keys)
        self.ordered = ordered
        self.requests = 0
        self.before: Callable[[Server], None] = lambda server: None

    async def page(self, *, count: int, offset: int, retry: RetryPolicy | None,
                   timeout: float | None) -> list[KeyInfo]:  # noqa: ASYNC109
        self.requests += 1
        self.before(self)
        return [KeyInfo(k) for k in self.keys[offset:offset + count]]

    def add(self, key: str) -> None:
        self.keys.append(key)
        if self.ordered:
            self.keys.sort()

    def delete(self, key: str) -> None:
        self.keys.remove(key)


async def walk(server: Server, page_size: int = 10, concurrency: int = 4
               ) -> tuple[list[str], Listing[KeyInfo]]:
    listing = Listing(server.page, "GetKeyValueKeys", lambda e: e.key, page_size,
                      {"concurrency": concurrency, "adaptive": False})
    return [e.key async for e in listing], listing


def names(n: int) -> list[str]:
    return [f"k{i:04d}" for i in range(n)]


@pytest.mark.parametrize("ordered", [True, False])
async def test_deletions_behind_the_walk_lose_nothing(ordered: bool) -> None:
    server = Server(names(300), ordered=ordered)
    present = set(server.keys)

    def delete_behind(s: Server) -> None:
        if s.requests % 3 == 0 and len(s.keys) > 40:
            gone = s.keys[5]  # well behind the walk's offset after a few pages
            s.delete(gone)
            present.discard(gone)

    server.before = delete_behind
    listed, listing = await walk(server, concurrency=1)
    assert present <= set(listed)
    assert max(Counter(listed).values()) == 1
    assert listing.report.shifts > 0
    assert listing.report.gaps == 0


async def test_unsorted_whole_page_deleted_is_a_reported_gap(
        caplog: pytest.LogCaptureFixture) -> None:
    server = Server(names(100), ordered=False)
    server.keys.reverse()  # not in key order: the walk cannot search by key

    def delete_first_page(s: Server) -> None:
        if s.requests == 2:
            del s.keys[:10]

    server.before = delete_first_page
    _, listing = await walk(server, concurrency=1)
    assert listing.report.gaps == 1
    assert not listing.report.complete
    assert "could not find its place" in caplog.text


async def test_unsorted_small_shifts_are_re_anchored() -> None:
    server = Server(names(200), ordered=False)
    random.Random(1).shuffle(server.keys)
    kept = set(server.keys)

    def churn(s: Server) -> None:
        if s.requests % 2 == 0:
            s.keys.insert(0, f"new{s.requests}")  # before every offset: a right shift
            gone = s.keys.pop(3)
            kept.discard(gone)

    server.before = churn
    listed, listing = await walk(server, concurrency=2)
    assert kept <= set(listed)
    assert max(Counter(listed).values()) == 1
    assert listing.report.gaps == 0


ops = st.lists(st.tuples(st.sampled_from(["add", "del"]), st.integers(0, 10_000),
                         st.integers(1, 60)), max_size=15)  # < SAME_PAGES


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), page_size=st.integers(1, 50), concurrency=st.integers(1, 8),
       changes=ops)
async def test_present_throughout_listed_once(n: int, page_size: int, concurrency: int,
                                              changes: list[tuple[str, int, int]]) -> None:
    server = Server(names(n))
    present = set(server.keys)
    plan = {req: (op, at, size) for req, (op, at, size) in enumerate(changes, 2)}

    def change(s: Server) -> None:
        op, at, size = plan.get(s.requests, ("", 0, 0))
        for j in range(size if op else 0):
            if op == "add":
                s.add(f"k{at % max(n, 1):04d}x{s.requests}-{j}")
            elif s.keys:
                gone = s.keys[(at + j) % len(s.keys)]
                s.delete(gone)
                present.discard(gone)

    server.before = change
    listed, listing = await walk(server, page_size, concurrency)
    # Changes during a re-anchoring search may defeat it: then it says so.
    assert listing.report.gaps <= len(changes)
    if listing.report.gaps:
        return
    assert present <= set(listed)
    assert max(Counter(listed).values(), default=1) == 1
    assert listed == sorted(listed)
