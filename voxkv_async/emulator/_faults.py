"""Seeded fault injection: latency, HTTP errors, API error codes, slow answers, drops,
and calls applied after their client gave up."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from ._modes import _known

__all__ = ["FAULT_KINDS", "FaultInjector", "Faults", "LateApplies"]

FAULT_KINDS = (
    "http_503",
    "http_429",
    "code_2",
    "code_340",
    "code_416",
    "slow",
    "drop_before",
    "drop_after",
)
"""Every fault kind, in the order a request's random draw walks them."""
#: The kinds :meth:`Faults.spread` shares a rate between: all but ``slow``, which only
#: wastes the client's timeout.
SPREAD_KINDS = tuple(k for k in FAULT_KINDS if k != "slow")


def _rate(help: str) -> dict[str, Any]:
    """``attrs.field`` arguments for a fraction of requests."""
    return {
        "converter": float,
        "validator": [attrs.validators.ge(0.0), attrs.validators.le(1.0)],
        "metadata": {"help": help, "kind": "rate"},
    }


def _seconds(help: str) -> dict[str, Any]:
    """``attrs.field`` arguments for a duration."""
    return {
        "converter": float,
        "validator": attrs.validators.ge(0.0),
        "metadata": {"help": help, "kind": "seconds"},
    }


def _methods(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


@attrs.frozen
class Faults:
    """What goes wrong, and how often. All rates are fractions of API requests (0..1).

    Each request draws one number and gets at most one of the fault kinds; the rates
    must therefore add up to at most 1. Latency is added to every API request.

    Latency and jitter delay a request on its way in, before anything else happens to
    it (the rate limit, the fault draw, the store): as on a real network, a request
    that draws more jitter than a later one reaches the store after it, so two writes
    to one key sent A then B can be applied B then A (the last applied wins).

    Attributes:
        latency: Seconds added to every answer, before the request is applied.
        jitter: Up to this many more seconds, uniformly drawn per request (requests
            overtake each other).
        http_503: Answered HTTP 503 with a plain-text body, as a gateway would.
        http_429: Answered HTTP 429 with ``Retry-After: <retry_after>``.
        code_2: Answered ``{"error": {"code": 2}}`` (internal error).
        code_340: Answered code 340 (rate limit exceeded).
        code_416: Answered code 416, ``Repeat the request after <retry_after> seconds``.
        slow: Answered normally, but only after ``slow_seconds`` (trips client timeouts).
        drop_before: Connection aborted (TCP reset) before the call is applied.
        drop_after: The call is applied, then the connection is aborted with no answer
            (with ``late_apply``: the other way round).
        retry_after: Seconds announced by 429 and 416 answers.
        slow_seconds: The delay of a slow answer.
        late_apply: A switch for ``drop_after``: when above 0, the connection is aborted
            first and the call applied this many seconds later, as by a server that goes
            on with a request its client gave up on (the client cannot tell: its write
            lands after whatever it sent next). ``0`` (default): applied, then aborted.
        methods: Restrict the fault kinds (not latency) to these API methods;
            ``None`` means all.
    """

    latency: float = attrs.field(default=0.0, **_seconds("seconds added to every answer"))
    jitter: float = attrs.field(
        default=0.0, **_seconds("up to this many more seconds, drawn uniformly")
    )
    http_503: float = attrs.field(default=0.0, **_rate("fraction answered HTTP 503"))
    http_429: float = attrs.field(
        default=0.0, **_rate("fraction answered HTTP 429 with Retry-After")
    )
    code_2: float = attrs.field(
        default=0.0, **_rate("fraction answered API code 2 (internal error)")
    )
    code_340: float = attrs.field(
        default=0.0, **_rate("fraction answered API code 340 (rate limit)")
    )
    code_416: float = attrs.field(
        default=0.0, **_rate("fraction answered API code 416 (repeat after N seconds)")
    )
    slow: float = attrs.field(default=0.0, **_rate("fraction answered only after slow_seconds"))
    drop_before: float = attrs.field(
        default=0.0, **_rate("fraction of connections reset before the call is applied")
    )
    drop_after: float = attrs.field(
        default=0.0, **_rate("fraction of connections reset after the call is applied")
    )
    retry_after: int = attrs.field(
        default=1,
        converter=int,
        validator=attrs.validators.ge(0),
        metadata={"help": "seconds announced by 429 and 416 answers", "kind": "int"},
    )
    slow_seconds: float = attrs.field(default=5.0, **_seconds("delay of a slow answer"))
    late_apply: float = attrs.field(
        default=0.0,
        **_seconds("with drop_after: abort first, apply the call this many seconds later"),
    )
    methods: frozenset[str] | None = attrs.field(default=None, converter=_methods)

    def __attrs_post_init__(self) -> None:
        if self.total_rate > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {self.total_rate:g}, more than 1")

    @property
    def total_rate(self) -> float:
        """The fraction of requests that get some fault."""
        return float(sum(getattr(self, kind) for kind in FAULT_KINDS))

    @classmethod
    def spread(cls, rate: float, **other: Any) -> Faults:
        """Faults sharing ``rate`` equally between every kind but ``slow``."""
        share = rate / len(SPREAD_KINDS)
        return cls(**dict.fromkeys(SPREAD_KINDS, share), **other)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object."""
        data = attrs.asdict(self)
        data["methods"] = None if self.methods is None else sorted(self.methods)
        return data

    def evolve(self, changes: dict[str, Any]) -> Faults:
        """A copy with ``changes`` applied; unknown names raise :class:`ValueError`."""
        return attrs.evolve(self, **_known(type(self), changes))


class FaultInjector:
    """Draws each request's fate from a seeded random generator and counts the faults."""

    def __init__(self, faults: Faults, seed: int | None, counts: Counter[str]) -> None:
        self.faults = faults
        self.counts = counts
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        """Restart the random sequence."""
        self._rng = random.Random(seed)

    def delay(self) -> float:
        """The latency to add to this request, in seconds."""
        f = self.faults
        if not (f.latency or f.jitter):
            return 0.0
        self.counts["latency"] += 1
        extra: float = self._rng.uniform(0.0, f.jitter) if f.jitter else 0.0
        return f.latency + extra

    def draw(self, method: str) -> str | None:
        """The fault kind for a request to ``method``, or ``None``."""
        f = self.faults
        if not f.total_rate or (f.methods is not None and method not in f.methods):
            return None
        x = self._rng.random()
        for kind in FAULT_KINDS:
            x -= getattr(f, kind)
            if x < 0:
                self.counts[kind] += 1
                return kind
        return None


class LateApplies:
    """Calls to apply after their client gave up (``Faults.late_apply``).

    Timers on the running loop; :meth:`cancel_all` drops those not yet due (a reset
    empties the store: nothing from before it may land after it).
    """

    def __init__(self) -> None:
        self._timers: set[asyncio.TimerHandle] = set()

    def schedule(self, delay: float, apply: Callable[[], object]) -> None:
        """Run ``apply()`` in ``delay`` seconds."""

        def due() -> None:
            self._timers.discard(timer)
            apply()

        timer = asyncio.get_running_loop().call_later(delay, due)
        self._timers.add(timer)

    def cancel_all(self) -> None:
        """Drop every call not applied yet."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
