"""Introspection counters."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import attrs

__all__ = ["EmulatorStats"]


@attrs.define
class EmulatorStats:
    """What the emulator has seen since it was made or last reset.

    Attributes:
        requests: API requests by method name (unknown names count as ``"?"``).
        connections: New connections that carried API requests.
        token_digests: SHA-256 digests of the distinct tokens seen; never the tokens.
        signature_checks: RSA signature verifications performed (cache misses).
        errors: Error envelopes sent, by API code.
        faults: Injected faults by kind (see :data:`FAULT_KINDS`, plus ``"latency"``).
        throttled: API requests refused by a server-side limit (``RateLimit``: its rate
            or its ``max_in_flight``); not applied, and not counted in ``faults``.
        throttled_in_flight: Those of ``throttled`` refused by ``max_in_flight``.
        peak_in_flight: The most API requests the server held at once.
    """

    requests: Counter[str] = attrs.field(factory=Counter)
    connections: int = 0
    token_digests: set[str] = attrs.field(factory=set)
    signature_checks: int = 0
    errors: Counter[int] = attrs.field(factory=Counter)
    faults: Counter[str] = attrs.field(factory=Counter)
    throttled: int = 0
    throttled_in_flight: int = 0
    peak_in_flight: int = 0
    _seen: set[object] = attrs.field(factory=set, repr=False)

    @property
    def total_requests(self) -> int:
        """All API requests."""
        return sum(self.requests.values())

    @property
    def distinct_tokens(self) -> int:
        """How many different tokens were presented."""
        return len(self.token_digests)

    def saw_connection(self, connection: object) -> None:
        """Count ``connection`` (a hashable name of one connection) if not seen before."""
        if connection is not None and connection not in self._seen:
            self._seen.add(connection)
            self.connections += 1

    def saw_token(self, header: str | None) -> None:
        """Remember that the token in ``header`` was presented."""
        if header:
            self.token_digests.add(_digest(header))

    def reset(self) -> None:
        """Zero every counter, in place (the fault injector shares :attr:`faults`)."""
        self.requests.clear()
        self.connections = 0
        self.token_digests.clear()
        self.signature_checks = 0
        self.errors.clear()
        self.faults.clear()
        self.throttled = 0
        self.throttled_in_flight = 0
        self.peak_in_flight = 0
        self._seen = set()

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON object."""
        return {
            "requests": dict(self.requests),
            "total_requests": self.total_requests,
            "connections": self.connections,
            "distinct_tokens": self.distinct_tokens,
            "signature_checks": self.signature_checks,
            "errors": {str(code): n for code, n in self.errors.items()},
            "faults": dict(self.faults),
            "throttled": self.throttled,
            "throttled_in_flight": self.throttled_in_flight,
            "peak_in_flight": self.peak_in_flight,
        }


def _digest(header: str) -> str:
    # A stable, non-reversible name for a token: tokens themselves are never kept here.
    return hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
