"""A server-side rate limit: a token bucket per emulator, answered as the real API might."""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import attrs

from ._modes import _known
from ._store import Clock

__all__ = ["RATE_LIMIT_ANSWERS", "RateLimit", "RateLimiter"]

RateLimitAnswer = Literal["code_340", "http_429", "code_416"]
#: How a refused request can be answered (see :class:`RateLimit`).
RATE_LIMIT_ANSWERS: tuple[RateLimitAnswer, ...] = ("code_340", "http_429", "code_416")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_ge(low: float) -> Any:
    return attrs.validators.optional(attrs.validators.ge(low))


@attrs.frozen
class RateLimit:
    """A server-side rate limit: a token bucket of ``burst`` tokens filled at ``rate``/s.

    One bucket per emulator, i.e. per account, as the real API is assumed to limit per
    account (inferred, not documented: docs/explanation/real-api.md, "Rate limits");
    every API request counts, whatever its method or application, before its token is
    checked. A request that finds no token is refused at once (after the network delay of
    ``Faults``, which models its trip in): it takes no token, is not applied, and is
    counted in ``EmulatorStats.throttled``. The check runs before fault injection.

    Attributes:
        rate: Requests per second; ``None`` or 0: no limit (the default).
        burst: The bucket's size, i.e. how many requests may arrive at once after a
            quiet spell; ``None`` (default): a tenth of a second's worth,
            ``max(1, rate / 10)``, so a client sending evenly at ``rate`` is never
            refused while a burst of a few dozen is.
        answer: How a refusal is answered: ``"code_340"`` (HTTP 200 with
            ``{"error": {"code": 340, "msg": "Rate limit exceeded"}}``, the default, the
            API's documented code), ``"http_429"`` (HTTP 429 with ``Retry-After: N``), or
            ``"code_416"`` (``{"error": {"code": 416, "msg": "Repeat the request after N
            seconds"}}``).
        retry_after: The ``N`` of 429 and 416 answers; ``None`` (default): the whole
            seconds until a token is free, at least 1 (``Retry-After`` has no fractions).
    """

    rate: float | None = attrs.field(
        default=None,
        converter=_optional_float,
        validator=_optional_ge(0.0),
        metadata={"help": "server-side limit, requests/s (0: none)", "kind": "float",
                  "flag": "--rate-limit"},
    )
    burst: float | None = attrs.field(
        default=None,
        converter=_optional_float,
        validator=_optional_ge(1.0),
        metadata={"help": "requests the limit lets through at once (default: rate/10, "
                          "at least 1)", "kind": "float", "flag": "--rate-burst"},
    )
    answer: RateLimitAnswer = attrs.field(
        default="code_340",
        validator=attrs.validators.in_(RATE_LIMIT_ANSWERS),
        metadata={"help": "how a refused request is answered", "choices": RATE_LIMIT_ANSWERS,
                  "flag": "--rate-answer"},
    )
    retry_after: int | None = attrs.field(
        default=None,
        converter=_optional_int,
        validator=_optional_ge(0),
        metadata={"help": "seconds announced by 429/416 refusals (default: until a "
                          "token is free, at least 1)", "kind": "int",
                  "flag": "--rate-retry-after"},
    )

    @property
    def active(self) -> bool:
        """Whether requests are limited at all."""
        return bool(self.rate)

    @property
    def bucket_size(self) -> float:
        """``burst``, or its default ``max(1, rate / 10)``."""
        if self.burst is not None:
            return self.burst
        return max(1.0, (self.rate or 0.0) / 10)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object."""
        return attrs.asdict(self)

    def evolve(self, changes: dict[str, Any]) -> RateLimit:
        """A copy with ``changes`` applied; unknown names raise :class:`ValueError`."""
        return attrs.evolve(self, **_known(type(self), changes))


class RateLimiter:
    """The bucket behind a :class:`RateLimit`, on a monotonic (injectable) clock."""

    __slots__ = ("_at", "_clock", "_rate", "_settings", "_size", "_tokens")

    def __init__(self, settings: RateLimit, clock: Clock | None = None) -> None:
        self._clock = clock or time.monotonic
        self._settings = settings
        self._rate = settings.rate or 0.0
        self._size = self._tokens = settings.bucket_size
        self._at = self._clock()

    @property
    def settings(self) -> RateLimit:
        return self._settings

    @settings.setter
    def settings(self, settings: RateLimit) -> None:
        # Tokens earned so far were earned at the old rate; a new limit starts full.
        self.take_nothing()
        was_active = bool(self._rate)
        self._settings = settings
        self._rate = settings.rate or 0.0
        self._size = settings.bucket_size
        self._tokens = min(self._tokens, self._size) if was_active else self._size

    def fill(self) -> None:
        """Fill the bucket, as after a long quiet spell."""
        self._tokens, self._at = self._size, self._clock()

    def take_nothing(self) -> None:
        """Bring the bucket up to now without taking a token."""
        now = self._clock()
        if self._rate:
            self._tokens = min(self._size, self._tokens + (now - self._at) * self._rate)
        self._at = now

    def take(self) -> bool:
        """Take a token for one request; ``False`` (nothing taken) when there is none."""
        rate = self._rate
        if not rate:
            return True
        now = self._clock()
        tokens = self._tokens + (now - self._at) * rate
        self._at = now
        if tokens > self._size:
            tokens = self._size
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False

    def retry_after(self) -> int:
        """Whole seconds to announce to a refused request (at least 1 unless configured)."""
        if self._settings.retry_after is not None:
            return self._settings.retry_after
        wait = (1.0 - self._tokens) / self._rate if self._rate else 0.0
        return max(1, math.ceil(wait))
