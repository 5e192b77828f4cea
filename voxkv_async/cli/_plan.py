"""The plan of a ``voxkv sync``: which rows to write and which keys to delete.

Built in two steps, in bounded memory:

1. :meth:`Planner.stored`: every item under the prefix, as a key hash, a value hash, its
   expiry and its listing position (the key itself goes to a spool file, one per line,
   for the deletions): 32 bytes a key, plus 8 for the last row seen of it.
2. :meth:`Planner.row`: every row of the file, compared with what is stored. A row is
   written when its key is missing, its value differs, or (for a row that gives
   ``expires_at``) its expiry differs. For a key given twice only the last row counts:
   an earlier row's write is cancelled. Keys not stored yet cost 16 bytes each until
   the end, when their duplicates are found. The decisions are a bitmap over the rows.

What is left unseen of the stored keys is what ``--delete`` deletes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import IO, Any

import attrs

from .._models import KeyValueItem
from ._keytable import KeyTable
from ._rows import Row

__all__ = ["Plan", "Planner"]

# Candidate sample keys kept per action; the plan shows the first few that hold.
_CANDIDATES = 25
SAMPLES = 5


@attrs.define
class Plan:
    """What a sync will do (counts of keys), and a few keys of each kind."""

    stored: int = 0
    rows: int = 0
    add: int = 0
    update: int = 0
    unchanged: int = 0
    delete: int = 0
    duplicates: int = 0
    listed_twice: int = 0
    samples: dict[str, list[str]] = attrs.field(factory=dict)

    @property
    def writes(self) -> int:
        return self.add + self.update

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Planner:
    """Builds a :class:`Plan`: feed :meth:`stored` items, then :meth:`row` s, then
    :meth:`finish`."""

    def __init__(self, spool: IO[str]) -> None:
        self._spool = spool
        self._stored = KeyTable(columns=3)  # value hash, expires_at, listing position
        self._last = array("q")  # per stored slot: ordinal of the last row of that key
        self._new = KeyTable(columns=1)  # keys not stored: ordinal
        self._write = bytearray()
        self._candidates: list[tuple[str, int, str, int]] = []
        self._counted = {"add": 0, "update": 0, "unchanged": 0}
        self.plan = Plan()

    # --- step 1 --------------------------------------------------------------------------

    def stored(self, item: KeyValueItem) -> None:
        """One item listed under the prefix."""
        self._spool.write(item.key + "\n")
        self._stored.add(hash(item.key), hash(item.value), item.expires_at or 0,
                         len(self._stored))

    def stored_done(self) -> None:
        """The listing is complete: sort it for lookups."""
        self._stored.freeze()
        self._last = array("q", [-1]) * len(self._stored)
        self.plan.stored = len(self._stored)
        self.plan.listed_twice = sum(1 for _ in self._stored.repeats())

    # --- step 2 --------------------------------------------------------------------------

    def row(self, row: Row) -> None:
        """One row of the file (rejected rows are never given)."""
        self.plan.rows += 1
        key_hash = hash(row.key)
        slot = self._stored.find(key_hash)
        if slot < 0:
            self._new.add(key_hash, row.ordinal)
            self._set(row.ordinal)
            self._sample("add", row.ordinal, row.key, -1)
            return
        run = self._stored.run_of(slot)
        earlier = self._last[slot]
        if earlier >= 0:  # a key given twice: the last row decides
            self._clear(earlier)
            self.plan.duplicates += 1
        for same in run:
            self._last[same] = row.ordinal
        value_hash, expires_at = self._stored.columns[0][slot], self._stored.columns[1][slot]
        differs = hash(row.value) != value_hash or (
            row.explicit_expiry and row.expires_at != expires_at)
        if differs:
            self._set(row.ordinal)
        self._sample("update" if differs else "unchanged", row.ordinal, row.key, slot)

    def _set(self, ordinal: int) -> None:
        byte = ordinal >> 3
        if byte >= len(self._write):
            self._write.extend(bytes(byte + 1 - len(self._write) + 4096))
        self._write[byte] |= 1 << (ordinal & 7)

    def _clear(self, ordinal: int) -> None:
        byte = ordinal >> 3
        if byte < len(self._write):
            self._write[byte] &= ~(1 << (ordinal & 7)) & 0xFF

    def writes(self, ordinal: int) -> bool:
        """Whether the row ``ordinal`` is to be written."""
        byte = ordinal >> 3
        return byte < len(self._write) and bool(self._write[byte] >> (ordinal & 7) & 1)

    def _sample(self, action: str, ordinal: int, key: str, slot: int) -> None:
        if self._counted[action] < _CANDIDATES:
            self._counted[action] += 1
            self._candidates.append((action, ordinal, key, slot))

    # --- the end -------------------------------------------------------------------------

    def finish(self) -> Plan:
        """Count the decisions (duplicates among new keys resolved) into the plan."""
        plan = self.plan
        self._resolve_new_duplicates()
        plan.add = len(self._new) - self._new_duplicates
        plan.duplicates += self._new_duplicates
        plan.update = plan.unchanged = plan.delete = 0
        previous = None
        for slot, key_hash in enumerate(self._stored.hashes):
            if key_hash == previous:
                continue  # listed twice: one key
            previous = key_hash
            last = self._last[slot]
            if last < 0:
                plan.delete += 1
            elif self.writes(last):
                plan.update += 1
            else:
                plan.unchanged += 1
        plan.samples = self._samples()
        return plan

    def _resolve_new_duplicates(self) -> None:
        self._new_duplicates = 0
        new = self._new
        new.freeze()
        ordinals = new.columns[0]
        for slot in new.repeats():  # ties keep input order: the later row is later
            self._clear(ordinals[slot - 1])
            self._new_duplicates += 1

    def _samples(self) -> dict[str, list[str]]:
        samples: dict[str, list[str]] = {"add": [], "update": [], "unchanged": [],
                                         "delete": []}
        for action, ordinal, key, slot in self._candidates:
            last = slot < 0 or self._last[slot] == ordinal  # not superseded by a later row
            still = last and self.writes(ordinal) == (action != "unchanged")
            if still and len(samples[action]) < SAMPLES and key not in samples[action]:
                samples[action].append(key)
        samples["delete"] = [key for _, key in zip(range(SAMPLES), self.deletions(),
                                                   strict=False)]
        return samples

    def deletion_positions(self) -> array[int]:
        """Listing positions (spool lines) of the stored keys no row has, ascending."""
        positions = array("q")
        previous = None
        table = self._stored
        for slot, key_hash in enumerate(table.hashes):
            if key_hash != previous and self._last[slot] < 0:
                positions.append(table.columns[2][slot])
            previous = key_hash
        return array("q", sorted(positions))

    def deletions(self) -> Iterator[str]:
        """The keys to delete, read back from the spool in listing order."""
        wanted = self.deletion_positions()
        if not wanted:
            return
        self._spool.flush()
        self._spool.seek(0)
        i = 0
        for position, line in enumerate(self._spool):
            if position == wanted[i]:
                yield line.rstrip("\n")
                i += 1
                if i == len(wanted):
                    return
