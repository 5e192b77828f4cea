"""A compact table of keys for ``export`` and ``sync``: 64-bit key hashes, sorted.

A Python ``dict`` of a million string keys costs ~170 bytes a key; this costs 8 bytes a
key for the hash plus 8 per int column (``array('q')``), and for a moment while
:meth:`KeyTable.freeze` sorts it 16 more (the permutation, and one column rebuilt).

Keys are known by ``hash(key)`` (SipHash, randomized per process: every table of one run
is made in the same process). Two keys of one run with the same 64-bit hash are possible
in principle (about one chance in 10^8 for a million keys): ``sync`` then treats them as
one key, and the second run puts things right.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Iterator

__all__ = ["KeyTable", "count_repeats"]

# Keys sorted at once by freeze(); the runs are then merged.
_RUN = 1 << 16


class KeyTable:
    """Key hashes with parallel int columns; after :meth:`freeze`, sorted by hash."""

    def __init__(self, columns: int) -> None:
        self.hashes = array("q")
        self.columns = [array("q") for _ in range(columns)]
        self.frozen = False

    def __len__(self) -> int:
        return len(self.hashes)

    def add(self, key_hash: int, *values: int) -> None:
        """Append a key (by hash) and its column values (before :meth:`freeze`)."""
        self.hashes.append(key_hash)
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def freeze(self) -> None:
        """Sort by hash (ties keep their order of addition), for :meth:`find`.

        Sorted in runs of :data:`_RUN` merged lazily, so the permutation costs 8 bytes a
        key (an ``array``), not the ~40 of a list of Python ints.
        """
        hashes = self.hashes
        key = hashes.__getitem__
        runs = [array("q", sorted(range(lo, min(lo + _RUN, len(hashes))), key=key))
                for lo in range(0, len(hashes), _RUN)]
        order = array("q", heapq.merge(*runs, key=key))
        del runs
        self.hashes = array("q", (hashes[i] for i in order))
        del hashes, key
        for n, column in enumerate(self.columns):
            self.columns[n] = array("q", (column[i] for i in order))
        self.frozen = True

    def find(self, key_hash: int) -> int:
        """The first slot holding ``key_hash``, or -1."""
        i = bisect_left(self.hashes, key_hash)
        return i if i < len(self.hashes) and self.hashes[i] == key_hash else -1

    def run_of(self, slot: int) -> range:
        """The slots holding the same hash as ``slot`` (a key added twice)."""
        hashes, end = self.hashes, slot + 1
        while end < len(hashes) and hashes[end] == hashes[slot]:
            end += 1
        return range(slot, end)

    def repeats(self) -> Iterator[int]:
        """Slots whose hash the slot before holds too (a key seen more than once)."""
        hashes = self.hashes
        return (i for i in range(1, len(hashes)) if hashes[i] == hashes[i - 1])


def count_repeats(hashes: array[int]) -> int:
    """How many of ``hashes`` equal another one before them (sorted in runs, merged:
    8 bytes a hash on top of the array, not a list of Python ints)."""
    runs = [array("q", sorted(hashes[lo:lo + _RUN])) for lo in range(0, len(hashes), _RUN)]
    repeats = 0
    previous = None
    for value in heapq.merge(*runs):
        repeats += value == previous
        previous = value
    return repeats
