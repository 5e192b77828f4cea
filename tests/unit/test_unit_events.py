"""The event stream on its own: delivery, order, unsubscribing, broken subscribers, and
``Stats`` as a subscriber, and what a client on MockTransport emits (no sockets)."""

from __future__ import annotations

import logging

import attrs
import pytest

from voxkv_async import (
    AttemptEnded,
    AuthRetried,
    CacheHit,
    CacheMiss,
    CallEnded,
    CallStarted,
    Coalesced,
    Event,
    EventStream,
    MockTransport,
    RateLimitedError,
    Response,
    RetryRefused,
    RetryScheduled,
    Stats,
    TokenSigned,
    VoxKV,
    VoxKVError,
)
from voxkv_async._events import attempt_hook_subscriber

ERR = RateLimitedError("slow down", status=429)


def test_subscribers_get_every_event_in_order_and_unsubscribe() -> None:
    stream = EventStream()
    assert not stream
    first: list[tuple[str, Event]] = []
    unsubscribe = stream.subscribe(lambda e: first.append(("a", e)))
    stream.subscribe(lambda e: first.append(("b", e)))
    event = CacheHit("k")
    stream.emit(event)
    assert first == [("a", event), ("b", event)]
    unsubscribe()
    unsubscribe()  # a second call removes nothing more
    stream.emit(CacheMiss("k"))
    assert first[2:] == [("b", CacheMiss("k"))]
    assert len(stream) == 1


def test_the_same_function_twice_is_called_twice_and_removed_once_per_unsubscribe() -> None:
    stream = EventStream()
    seen: list[Event] = []
    remove_one = stream.subscribe(seen.append)
    stream.subscribe(seen.append)
    stream.emit(Coalesced("k"))
    assert len(seen) == 2
    remove_one()
    stream.emit(Coalesced("k"))
    assert len(seen) == 3


def test_a_subscriber_may_unsubscribe_itself_while_an_event_is_delivered() -> None:
    stream = EventStream()
    seen: list[str] = []

    def once(event: Event) -> None:
        seen.append("once")
        remove()

    remove = stream.subscribe(once)
    stream.subscribe(lambda e: seen.append("other"))
    stream.emit(CacheHit("k"))
    stream.emit(CacheHit("k"))
    assert seen == ["once", "other", "other"]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = EventStream()
    seen: list[Event] = []
    stream.subscribe(lambda e: 1 / 0)
    stream.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="voxkv_async"):
        stream.emit(CacheHit("k"))
    assert seen == [CacheHit("k")]
    assert "event subscriber" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_events_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        CacheHit("k").key = "other"  # type: ignore[misc]


def test_stats_counts_each_kind_of_event() -> None:
    stats = Stats()
    for event in (
        CallStarted("GetKeyValueItem", "k"),
        AttemptEnded("GetKeyValueItem", "k", 1, 429, ERR, 0.01, False),
        RetryScheduled("GetKeyValueItem", "k", 1, 0.5, ERR),
        AttemptEnded("GetKeyValueItem", "k", 2, None, None, 0.01, True),
        AuthRetried("GetKeyValueItem", "k"),
        TokenSigned(1_700_000_000),
        RetryRefused("GetKeyValueItem", "k", 2, ERR),
        RetryScheduled("SetKeyValueItem", "k", 1, 1.0, ERR, budget_allowed=False, item=7),
        CallEnded("GetKeyValueItem", "k", 2, 1, 429, ERR, 0.5),
        CallEnded("GetKeyValueItem", "k", 1, 0, 200, None, 0.1),
        CallEnded("GetKeyValueItem", "k", 1, 0, None, KeyboardInterrupt(), 0.1),
        CacheHit("k"), CacheMiss("k"), CacheMiss("k"), Coalesced("k"),
    ):
        stats(event)
    assert stats.as_dict() == {
        "calls": 1, "requests": 3, "retries": 2, "auth_retries": 1, "token_signings": 1,
        "budget_exhausted": 2, "errors": {"RateLimitedError": 1}, "coalesced": 1,
        "cache_hits": 1, "cache_misses": 2,
    }


def test_an_attempt_hook_sees_attempt_outcomes_only() -> None:
    seen: list[VoxKVError | None] = []
    on_event = attempt_hook_subscriber(seen.append)
    on_event(AttemptEnded("GetKeyValueItem", "k", 1, 429, ERR, 0.01, False))
    on_event(AttemptEnded("GetKeyValueItem", "k", 2, 200, None, 0.01, True))
    on_event(CallEnded("GetKeyValueItem", "k", 2, 1, 200, None, 0.1))
    on_event(AttemptEnded("GetKeyValueItem", "k", 3, None, KeyboardInterrupt(), 0.0, True))
    assert seen == [ERR, None]


# --- a client on MockTransport: what its calls emit (no sockets) --------------------------

ITEM = {"key": "k", "value": "v", "expires_at": 1_900_000_000}


async def test_a_success_reports_the_status_the_server_sent(credentials) -> None:
    transport = MockTransport(lambda request: Response.of_json({"result": ITEM}, status=203))
    async with VoxKV(credentials, 77, transport=transport) as kv:
        seen: list[Event] = []
        kv.events.subscribe(seen.append)
        await kv.set("k", "v")
    attempt, ended = (e for e in seen if isinstance(e, AttemptEnded | CallEnded))
    assert isinstance(attempt, AttemptEnded)
    assert (attempt.status, attempt.error, attempt.may_have_applied) == (203, None, True)
    assert isinstance(ended, CallEnded)
    assert (ended.attempts, ended.status, ended.error) == (1, 203, None)


async def test_a_refused_token_is_signed_again_within_one_attempt(credentials) -> None:
    answers = [Response.of_json({"error": {"code": 100, "msg": "token revoked"}}),
               Response.of_json({"result": ITEM})]
    async with VoxKV(credentials, 77, transport=MockTransport(lambda r: answers.pop(0))) as kv:
        seen: list[Event] = []
        kv.events.subscribe(seen.append)
        await kv.get("k")
    assert [type(e) for e in seen] == [CallStarted, TokenSigned, AuthRetried, TokenSigned,
                                       AttemptEnded, CallEnded]
    assert (kv.stats.requests, kv.stats.auth_retries, kv.stats.token_signings) == (2, 1, 2)
