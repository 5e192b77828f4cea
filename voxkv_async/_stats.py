"""Counters a client keeps about itself, readable as ``kv.stats``: a subscriber of the
client's event stream (:mod:`._events`), which is the only thing that changes them."""

from __future__ import annotations

from collections import Counter
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
        # Called with every event of every call: tests of the exact type, the kinds of
        # every call first, cost less than patterns or a lookup and a second call.
        kind = type(event)
        if kind is AttemptEnded:
            self.requests += 1
        elif kind is CallStarted:
            self.calls += 1
        elif kind is CallEnded:
            error = event.error  # type: ignore[union-attr]
            if isinstance(error, VoxKVError):  # not a cancellation
                self.errors[type(error).__name__] += 1
        elif kind is RetryScheduled:
            self.retries += 1
            if not event.budget_allowed:  # type: ignore[union-attr]
                self.budget_exhausted += 1
        elif kind is RetryRefused:
            self.budget_exhausted += 1
        elif kind is AuthRetried:
            self.auth_retries += 1
            self.requests += 1
        elif kind is TokenSigned:
            self.token_signings += 1
        elif kind is CacheHit:
            self.cache_hits += 1
        elif kind is CacheMiss:
            self.cache_misses += 1
        elif kind is Coalesced:
            self.coalesced += 1
