"""Counters a client keeps about itself, readable as ``kv.stats``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

__all__ = ["Stats"]


@attrs.define(slots=True)
class Stats:
    """What one client has done since it was made.

    Plain integer counters, updated without locks (one event loop), cheap enough for the
    hot path. Read them at any time; :meth:`as_dict` gives a snapshot.

    Attributes:
        calls: API calls started (one per ``set``/``get``/..., whatever its retries); a
            ``get`` answered by the read cache or by another call's request is counted
            in ``cache_hits`` or ``coalesced`` instead.
        requests: HTTP requests sent (attempts, re-signings included).
        retries: Attempts made again by the retry policy.
        auth_retries: Requests repeated once with a freshly signed token.
        token_signings: JWTs signed.
        budget_exhausted: Retries refused because the client-wide retry budget was empty.
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
