"""The account's server-side limits: on rate (a token bucket) and on requests in flight.

Both are per emulator, i.e. per account, and answered as the real API might: see
docs/explanation/real-api.md, "Rate limits" (the only numeric limit the Management API
documents is one on concurrent requests, 200 for StartScenarios, with HTTP 429 beyond).
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import attrs

from ._modes import _known
from ._store import Clock

__all__ = ["IN_FLIGHT_ANSWERS", "RATE_LIMIT_ANSWERS", "RateLimit", "RateLimiter"]

RateLimitAnswer = Literal["code_340", "http_429", "code_416"]
#: How a refused request can be answered (see :class:`RateLimit`).
RATE_LIMIT_ANSWERS: tuple[RateLimitAnswer, ...] = ("code_340", "http_429", "code_416")
InFlightAnswer = Literal["http_429", "code_314"]
#: How a request beyond ``max_in_flight`` can be answered (see :class:`RateLimit`).
IN_FLIGHT_ANSWERS: tuple[InFlightAnswer, ...] = ("http_429", "code_314")


def _number(kind: type[int] | type[float], low: float, flag: str, help: str) -> Any:
    """An optional number >= ``low`` (``None``: the default), with its CLI flag and help."""

    def convert(value: Any) -> int | float | None:
        return None if value is None else kind(value)

    return attrs.field(
        default=None,
        converter=convert,
        validator=attrs.validators.optional(attrs.validators.ge(low)),
        metadata={"help": help, "kind": kind.__name__, "flag": flag},
    )


def _choice(default: str, choices: tuple[str, ...], flag: str, help: str) -> Any:
    """One of ``choices``, with its CLI flag and help."""
    return attrs.field(
        default=default,
        validator=attrs.validators.in_(choices),
        metadata={"help": help, "choices": choices, "flag": flag},
    )


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
        max_in_flight: Requests the account may have in the server at once; ``None`` or
            0: no limit (the default). A request counts from its arrival to its answer,
            the modelled network delay of ``Faults`` included (it stands for the time the
            server holds the request), across every client and connection. One that
            arrives while ``max_in_flight`` are in flight is refused after its delay: it
            takes no rate token and is not applied.
        in_flight_answer: How a request beyond ``max_in_flight`` is answered:
            ``"http_429"`` (the default: HTTP 429 with no ``Retry-After``, as StartScenarios
            documents for its limit of 200) or ``"code_314"`` (HTTP 200 with
            ``{"error": {"code": 314, "msg": "Concurrent resource limit exceeded"}}``).
    """

    rate: float | None = _number(float, 0.0, "--rate-limit",
                                 "server-side limit, requests/s (0: none)")
    burst: float | None = _number(float, 1.0, "--rate-burst",
                                  "requests the limit lets through at once (default: "
                                  "rate/10, at least 1)")
    # _choice() and _number() return attrs field specifiers, not defaults (RUF009).
    answer: RateLimitAnswer = _choice("code_340", RATE_LIMIT_ANSWERS, "--rate-answer",  # noqa: RUF009
                                      "how a refused request is answered")
    retry_after: int | None = _number(int, 0, "--rate-retry-after",
                                      "seconds announced by 429/416 refusals (default: "
                                      "until a token is free, at least 1)")
    max_in_flight: int | None = _number(int, 0, "--max-in-flight",
                                        "requests the account may have in flight at once; "
                                        "more are refused (0: no limit)")
    in_flight_answer: InFlightAnswer = _choice("http_429", IN_FLIGHT_ANSWERS,  # noqa: RUF009
                                               "--in-flight-answer",
                                               "how a request beyond --max-in-flight is "
                                               "answered")

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
    """The bucket and the in-flight count behind a :class:`RateLimit`.

    The bucket runs on a monotonic (injectable) clock.
    """

    __slots__ = ("_at", "_clock", "_rate", "_settings", "_size", "_tokens", "in_flight")

    def __init__(self, settings: RateLimit, clock: Clock | None = None) -> None:
        self._clock = clock or time.monotonic
        self._settings = settings
        self._rate = settings.rate or 0.0
        self._size = self._tokens = settings.bucket_size
        self._at = self._clock()
        #: Requests admitted by :meth:`enter` and not yet :meth:`leave`-ing.
        self.in_flight = 0

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

    def enter(self) -> bool:
        """Admit one request in flight; ``False`` (not admitted) beyond ``max_in_flight``."""
        limit = self._settings.max_in_flight
        if limit and self.in_flight >= limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """An admitted request has been answered."""
        self.in_flight -= 1
