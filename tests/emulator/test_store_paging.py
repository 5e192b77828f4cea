"""The emulator's listing: pages by index over live pairs only, in linear time."""

from __future__ import annotations

from voxkv_async.emulator import FakeClock
from voxkv_async.emulator._store import Store


def test_offsets_count_live_pairs_only_after_some_expire() -> None:
    clock = FakeClock(1_000.0)
    store = Store(clock)
    for i in range(10):
        # Odd keys expire at 1,005; even ones live for an hour.
        store.set(1, f"k:{i}", f"v{i}", 1_005 if i % 2 else 4_600)
    store.set(1, "other", "x", 4_600)
    assert [i.key for i in store.scan(1, "k:", 3, 0)] == ["k:0", "k:1", "k:2"]
    clock.advance(10)
    assert [i.key for i in store.scan(1, "k:", 3, 0)] == ["k:0", "k:2", "k:4"]
    assert [i.key for i in store.scan(1, "k:", 3, 3)] == ["k:6", "k:8"]
    assert store.scan(1, "k:", 3, 5) == []
    assert store.get(1, "k:1") is None
    store.set(1, "k:1", "again", 1_012)  # a new pair lowers the next expiry
    assert [i.key for i in store.scan(1, "k:", 2, 0)] == ["k:0", "k:1"]
    clock.advance(5)
    assert [i.key for i in store.scan(1, "k:", 2, 0)] == ["k:0", "k:2"]


def test_a_hundred_thousand_keys_list_completely_page_by_page() -> None:
    store = Store(FakeClock(0.0))
    for i in range(100_000):
        store.set(1, f"k:{i:06d}", "v", 3_600)
    seen, offset, pages = 0, 0, 0
    while page := store.scan(1, "k:", 50, offset):
        seen += len(page)
        offset += len(page)
        pages += 1
    assert seen == 100_000
    assert pages == 2_000
