"""The retry policy: what is retried, how long to wait, when to give up.

Each call's first attempt runs inline, with no retry machinery at all: most calls
succeed, and they should cost what a bare request costs. Only after a retryable failure
does tenacity take over, replaying that failure as its attempt 1 so that its counting,
waiting, stopping and logging see the whole history.

Waits use full jitter (``uniform(0, min(cap, base * 2**n))``, tenacity's
``wait_random_exponential``), with a larger base when the server asked us to slow down.
A server-given delay (``Retry-After``, code 416's "after N seconds") is honoured as is.
Giving up happens at the first of: ``max_attempts`` attempts made, the next wait would
end past the call's deadline, or the client-wide retry budget is empty.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_random_exponential

from ._errors import RateLimitedError, RequestTimeoutError, VoxKVError, shorten
from ._stats import Stats

__all__ = ["AttemptHook", "Retrier", "RetryBudget", "RetryPolicy"]

logger = logging.getLogger("voxkv_async")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
#: Called after every attempt with ``None`` on success or the attempt's exception.
AttemptHook = Callable[[VoxKVError | None], None]


@attrs.frozen
class RetryPolicy:
    """How failed calls are retried. Pass ``retry=RetryPolicy(...)`` to ``VoxKV``.

    Retried: connection errors and timeouts, HTTP 429 and 5xx, and the API's transient
    and throttling codes (1, 2, 4, 162, 340, 416, 484, 515). Never retried: validation,
    permission, argument, application and credential errors, and cancellation.

    Attributes:
        max_attempts: Attempts per call, the first included; 1 switches retrying off.
        base: First backoff cap for transient errors, in seconds; doubles per attempt.
        throttle_base: The same when the server asked us to slow down (429, 340, 416).
        max_wait: No single wait is longer than this.
        max_retry_after: A server-requested delay longer than this is not waited for.
        budget_capacity: Size of the client-wide retry budget, in tokens. A retry costs
            ``retry_cost`` (``timeout_cost`` after a timeout); a call that succeeds at
            once puts ``success_refund`` back, one that succeeds after retries the cost
            of its last retry. When the budget is empty, calls fail on their first
            error instead of retrying: an outage does not multiply the load on the API
            (botocore's "standard" mode, same defaults). ``0`` disables the budget.
        sleep: The sleep function; tests pass one that records and returns at once.
    """

    max_attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    base: float = 0.1
    throttle_base: float = 0.5
    max_wait: float = 10.0
    max_retry_after: float = 60.0
    budget_capacity: int = 500
    retry_cost: int = 5
    timeout_cost: int = 10
    success_refund: int = 1
    sleep: Sleep = attrs.field(default=asyncio.sleep, eq=False, repr=False)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries: every error reaches the caller at once."""
        return cls(max_attempts=1)

    @classmethod
    def for_testing(cls, max_attempts: int = 5) -> RetryPolicy:
        """Retries as usual, but its waits return at once: for fast tests of retrying code."""
        return cls(max_attempts=max_attempts, sleep=_no_sleep)


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


class RetryBudget:
    """A client-wide token bucket that retries draw from and successes refill."""

    __slots__ = ("_capacity", "tokens")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.tokens = capacity

    def withdraw(self, cost: int) -> bool:
        """Take ``cost`` tokens for a retry; ``False`` (and nothing taken) if too few."""
        if self._capacity == 0:
            return True
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def deposit(self, amount: int) -> None:
        """Put tokens back, up to capacity."""
        self.tokens = min(self._capacity, self.tokens + amount)


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is one the policy retries."""
    return isinstance(exc, VoxKVError) and exc.retryable


class Retrier:
    """Runs one call's attempts under a :class:`RetryPolicy` and a shared budget.

    Args:
        policy: The policy.
        stats: Counters to update.
        attempt_timeout: Longest single attempt, seconds.
        deadline: Longest whole call, retries and waits included, seconds.
    """

    def __init__(
        self, policy: RetryPolicy, stats: Stats, *, attempt_timeout: float, deadline: float
    ) -> None:
        self.policy = policy
        self.budget = RetryBudget(policy.budget_capacity)
        self._stats = stats
        self._attempt_timeout = attempt_timeout
        self._deadline = deadline
        self._first_timeout = min(attempt_timeout, deadline)
        self._transient_wait = wait_random_exponential(multiplier=policy.base, max=policy.max_wait)
        self._throttle_wait = wait_random_exponential(
            multiplier=policy.throttle_base, max=policy.max_wait
        )
        #: Instrumentation hooks, called after every attempt (see ``VoxKV.add_attempt_hook``).
        self.hooks: list[AttemptHook] = []

    async def call(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        method: str,
        key: str | None,
    ) -> T:
        """Run ``attempt(timeout)`` until it succeeds or the policy gives up.

        Raises:
            The last attempt's exception, with a note saying why retrying stopped.
        """
        start = asyncio.get_running_loop().time()
        if self.hooks:  # only then pay for the wrapper: the plain path stays bare
            attempt = functools.partial(self._observed, attempt)
        try:
            result = await attempt(self._first_timeout)
        except VoxKVError as exc:
            if not exc.retryable or self.policy.max_attempts == 1:
                raise
            return await self._retry(attempt, exc, start, method, key)
        self.budget.deposit(self.policy.success_refund)
        return result

    async def _retry(
        self,
        attempt: Callable[[float], Awaitable[T]],
        first: VoxKVError,
        start: float,
        method: str,
        key: str | None,
    ) -> T:
        loop = asyncio.get_running_loop()
        pending: list[VoxKVError] = [first]
        last_cost = 0

        async def replay_then_attempt() -> T:
            if pending:
                raise pending.pop()
            remaining = self._deadline - (loop.time() - start)
            if remaining <= 0:
                raise RequestTimeoutError(f"{method}: deadline of {self._deadline:g} s passed")
            return await attempt(min(self._attempt_timeout, remaining))

        def stop(rs: RetryCallState) -> bool:
            nonlocal last_cost
            exc = rs.outcome.exception() if rs.outcome else None
            why = None
            if rs.attempt_number >= self.policy.max_attempts:
                why = f"gave up after {rs.attempt_number} attempts"
            elif rs.upcoming_sleep == float("inf"):
                why = f"gave up: the server asked to wait over {self.policy.max_retry_after:g} s"
            elif loop.time() - start + rs.upcoming_sleep >= self._deadline:
                why = f"gave up: the next attempt would pass the {self._deadline:g} s deadline"
            else:
                cost = self._cost(exc)
                if not self.budget.withdraw(cost):
                    self._stats.budget_exhausted += 1
                    why = "gave up: the client-wide retry budget is exhausted"
                else:
                    last_cost = cost
            if why and exc is not None:
                exc.add_note(why)
            return why is not None

        def before_sleep(rs: RetryCallState) -> None:
            self._stats.retries += 1
            exc = rs.outcome.exception() if rs.outcome else None
            logger.info(
                "retrying %s%s: attempt %d failed (%s), next in %.3f s",
                method,
                f" key={shorten(key)!r}" if key else "",
                rs.attempt_number,
                _reason(exc),
                rs.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            sleep=self.policy.sleep,
            stop=stop,
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        result: T = await retrying(replay_then_attempt)
        # As botocore's standard mode: a success after retries gives back the cost of
        # the last retry only, so calls that keep needing retries drain the budget.
        self.budget.deposit(last_cost)
        return result

    async def _observed(self, attempt: Callable[[float], Awaitable[T]], time_limit: float) -> T:
        try:
            result = await attempt(time_limit)
        except VoxKVError as exc:
            self._notify(exc)
            raise
        self._notify(None)
        return result

    def _notify(self, outcome: VoxKVError | None) -> None:
        for hook in self.hooks:
            try:
                hook(outcome)
            except Exception:
                # A broken hook must not break calls; say so once per occurrence.
                logger.exception("attempt hook %r failed", hook)

    def _cost(self, exc: BaseException | None) -> int:
        return self.policy.timeout_cost if isinstance(exc, TimeoutError) else self.policy.retry_cost

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            # Waiting longer than max_retry_after is pointless for a client call:
            # beyond it the stop check (deadline) gives up at once.
            return float(asked) if asked <= self.policy.max_retry_after else float("inf")
        if isinstance(exc, RateLimitedError):
            return float(self._throttle_wait(rs))
        return float(self._transient_wait(rs))


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "no outcome"
    return f"{type(exc).__name__}: {shorten(str(exc), 160)}"
