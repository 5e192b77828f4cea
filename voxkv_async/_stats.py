"""Counters a client keeps about itself, readable as ``kv.stats``: a subscriber of the
client's event stream (:mod:`._events`), which is the only thing that changes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from ._errors import VoxKVError
from ._events import (
    AttemptEnded,
    AuthRetried,
    CacheHit,
    CacheMiss,
    CallEnded,
    CallStarted,
    Coalesced,
    Event,
    RetryRefused,
    RetryScheduled,
    TokenSigned,
)

__all__ = ["Stats"]


@attrs.define(slots=True)
class Stats:
    """What one client has done since it was made.

    Plain integer counters, updated without locks (one event loop), cheap enough for the
    hot path. Read them at any time; :meth:`as_dict` gives a snapshot. The client feeds
    them from its event stream (``kv.events``): each counter is a count of events.

    Attributes:
        calls: API calls started (one per ``set``/``get``/..., whatever its retries); a
            ``get`` answered by the read cache or by another call's request is counted
            in ``cache_hits`` or ``coalesced`` instead.
        requests: HTTP requests sent (attempts, re-signings included).
        retries: Attempts made again by the retry policy (bulk item retries included).
        auth_retries: Requests repeated once with a freshly signed token.
        token_signings: JWTs signed.
        budget_exhausted: Retries the client-wide retry budget could not pay for.
        errors: Calls that failed, by exception class name.
        coalesced: ``get`` calls that shared the request of another ``get`` in flight.
        cache_hits: ``get`` calls answered by the read cache.
        cache_misses: ``get`` calls the read cache could not answer.
    """

    calls: int = 0
    requests: int = 0
    retries: int = 0
    auth_retries: int = 0
    token_signings: int = 0
    budget_exhausted: int = 0
    errors: Counter[str] = attrs.field(factory=Counter)
    coalesced: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the counters."""
        d = attrs.asdict(self)
        d["errors"] = dict(self.errors)
        return d

    def __call__(self, event: Event) -> None:
        """Count ``event`` (``Stats`` is a subscriber of the event stream)."""
        count = _COUNTS.get(type(event))
        if count is not None:  # a kind that no counter counts
            count(self, event)


# One small function per kind of event, found by type: ``Stats`` is called with every
# event of every call, and a dict lookup costs less than trying patterns in turn.


def _call_started(stats: Stats, event: CallStarted) -> None:
    stats.calls += 1


def _attempt_ended(stats: Stats, event: AttemptEnded) -> None:
    stats.requests += 1


def _call_ended(stats: Stats, event: CallEnded) -> None:
    error = event.error
    if isinstance(error, VoxKVError):  # not a cancellation
        stats.errors[type(error).__name__] += 1


def _auth_retried(stats: Stats, event: AuthRetried) -> None:
    stats.auth_retries += 1
    stats.requests += 1


def _retry_scheduled(stats: Stats, event: RetryScheduled) -> None:
    stats.retries += 1
    if not event.budget_allowed:
        stats.budget_exhausted += 1


def _retry_refused(stats: Stats, event: RetryRefused) -> None:
    stats.budget_exhausted += 1


def _token_signed(stats: Stats, event: TokenSigned) -> None:
    stats.token_signings += 1


def _cache_hit(stats: Stats, event: CacheHit) -> None:
    stats.cache_hits += 1


def _cache_miss(stats: Stats, event: CacheMiss) -> None:
    stats.cache_misses += 1


def _coalesced(stats: Stats, event: Coalesced) -> None:
    stats.coalesced += 1


_COUNTS: dict[type, Callable[[Stats, Any], None]] = {
    CallStarted: _call_started,
    AttemptEnded: _attempt_ended,
    CallEnded: _call_ended,
    AuthRetried: _auth_retried,
    RetryScheduled: _retry_scheduled,
    RetryRefused: _retry_refused,
    TokenSigned: _token_signed,
    CacheHit: _cache_hit,
    CacheMiss: _cache_miss,
    Coalesced: _coalesced,
}
