"""The retry policy: what is retried, how long to wait, when to give up.

Each call's first attempt runs inline, with no retry machinery at all: most calls
succeed, and they should cost what a bare request costs. Only after a retryable failure
does tenacity take over, replaying that failure as its attempt 1 so that its counting,
waiting, stopping and logging see the whole history.

Waits use full jitter (``uniform(0, min(cap, base * 2**n))``, tenacity's
``wait_random_exponential``), with a larger base when the server asked us to slow down.
A server-given delay (``Retry-After``, code 416's "after N seconds") is honoured as is.
Giving up happens at the first of: ``max_attempts`` attempts made, the next wait would
end past the call's deadline, or the client-wide retry budget (:mod:`._budget`) is empty.

The deadline: every attempt is given at most the time left, so a transport's own
timeout, which knows whether the request left, ends a call that runs out of time. A
call's error says it may have applied if any of its attempts may have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_random_exponential

from ._budget import RetryBudget
from ._errors import RateLimitedError, RequestTimeoutError, VoxKVError, shorten, timed_out
from ._events import EventStream, RetryRefused, RetryScheduled

__all__ = ["Retrier", "RetryBudget", "RetryPolicy", "policy_waits", "within"]

logger = logging.getLogger("voxkv_async")

T = TypeVar("T")
# How long after a call's own timeout its safety net cuts it off: later than the attempt's
# time limit, which ends at the deadline, so the transport's own timeout (which knows
# whether the request left) fires first.
_NET_GRACE = 0.05
Sleep = Callable[[float], Awaitable[None]]


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


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is one the policy retries."""
    return isinstance(exc, VoxKVError) and exc.retryable


class Retrier:
    """Runs one call's attempts under a :class:`RetryPolicy` and a shared budget.

    Args:
        policy: The default policy (a call may bring its own).
        events: The client's event stream (told of each retry, and of each the budget
            refused).
        attempt_timeout: Longest single attempt, seconds.
        deadline: Longest whole call, retries and waits included, seconds (a call may
            bring a shorter or longer one).
    """

    def __init__(
        self, policy: RetryPolicy, events: EventStream, *, attempt_timeout: float,
        deadline: float
    ) -> None:
        self.policy = policy
        self.budget = RetryBudget(policy.budget_capacity)
        self._events = events
        self._attempt_timeout = attempt_timeout
        self._deadline = deadline
        self._waits = _Waits(policy)

    async def call(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        method: str,
        key: str | None,
        policy: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> T:
        """Run ``attempt(timeout)`` until it succeeds or the policy gives up.

        Args:
            attempt: Makes one attempt within the time limit it is given.
            method: The API method, for logs.
            key: The key, for logs.
            policy: This call's policy instead of the client's.
            deadline: This call's deadline instead of the client's, seconds. A call
                given its own deadline ends in :class:`RequestTimeoutError` (chained from
                the last error) when retrying stops because the next wait would pass it.

        Raises:
            The last attempt's exception, with a note saying why retrying stopped.
        """
        call = _Call(self, policy or self.policy, self._deadline if deadline is None
                     else deadline, method, key, strict=deadline is not None)
        if not call.strict:
            return await self._run(call, attempt)
        # The call's own timeout. Every attempt and wait already ends by the deadline (the
        # transport's own timeouts tell whether the request left); this net, a little
        # later, only catches an attempt that overran its time limit.
        try:
            async with asyncio.timeout(call.deadline + _NET_GRACE) as scope:
                return await self._run(call, attempt)
        except TimeoutError as exc:
            if isinstance(exc, RequestTimeoutError) or not scope.expired():
                raise
            raise call.timed_out(f"no answer within the call's timeout of {call.deadline:g} s",
                                 in_flight=call.in_flight) from None

    async def _run(self, call: _Call, attempt: Callable[[float], Awaitable[T]]) -> T:
        try:
            result = await call.attempt(attempt, min(self._attempt_timeout, call.deadline))
        except VoxKVError as exc:
            if not exc.retryable or call.policy.max_attempts == 1:
                raise
            return await self._retry(call, attempt, exc)
        self.budget.deposit(call.policy.success_refund)
        return result

    async def _retry(
        self, call: _Call, attempt: Callable[[float], Awaitable[T]], first: VoxKVError
    ) -> T:
        policy = call.policy
        retrying = AsyncRetrying(
            sleep=policy.sleep,
            stop=_stop(call),
            wait=self._waits if policy is self.policy else _Waits(policy),
            retry=retry_if_exception(is_retryable),
            before_sleep=_log_and_count(call),
            reraise=True,
        )
        try:
            result: T = await retrying(_replay_then(first, call, attempt))
        except VoxKVError as exc:
            if call.strict and call.out_of_time and not isinstance(exc, RequestTimeoutError):
                raise call.timed_out(
                    f"the call's timeout of {call.deadline:g} s would pass during the wait "
                    f"before its next attempt; the last error was {type(exc).__name__}"
                ) from exc
            # An earlier attempt that may have reached the server may have applied the
            # call, whatever the last one says.
            exc.may_have_applied = exc.may_have_applied or call.maybe_applied
            raise
        # As botocore's standard mode: a success after retries gives back the cost of
        # the last retry only, so calls that keep needing retries drain the budget.
        self.budget.deposit(call.last_cost)
        return result


class _Call:
    """What the retry callbacks of one call share: its policy, clock and last cost, and
    whether any attempt so far may have reached the server."""

    __slots__ = ("deadline", "in_flight", "key", "last_cost", "loop", "maybe_applied",
                 "method", "out_of_time", "policy", "retrier", "start", "strict")

    def __init__(self, retrier: Retrier, policy: RetryPolicy, deadline: float, method: str,
                 key: str | None, *, strict: bool = False) -> None:
        self.strict = strict
        self.out_of_time = False
        self.retrier = retrier
        self.policy = policy
        self.deadline = deadline
        self.method = method
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.last_cost = 0
        self.in_flight = False  # an attempt is running
        self.maybe_applied = False  # an attempt failed after its request may have left

    def elapsed(self) -> float:
        return self.loop.time() - self.start

    async def attempt(self, attempt: Callable[[float], Awaitable[T]], time_limit: float) -> T:
        """``attempt(time_limit)``, remembering whether its request may have been applied."""
        self.in_flight = True  # left set if the attempt is cancelled: the net reads it
        try:
            result = await attempt(time_limit)
        except VoxKVError as exc:
            self.in_flight = False
            self.maybe_applied = self.maybe_applied or exc.may_have_applied
            raise
        self.in_flight = False
        return result

    def timed_out(self, why: str, *, in_flight: bool = False) -> RequestTimeoutError:
        """The call ran out of time: it may have applied if an attempt's request may have
        reached the server (one cut off while running may have)."""
        return timed_out(self.method, why, sent=self.maybe_applied or in_flight)


# --- tenacity callbacks, each built by a small named factory (as stamina does) --------


def _replay_then(
    first: VoxKVError, call: _Call, attempt: Callable[[float], Awaitable[T]]
) -> Callable[[], Awaitable[T]]:
    """tenacity's function: raises ``first`` once (its attempt 1), then really attempts."""
    pending = [first]
    timeout = call.retrier._attempt_timeout

    async def replay_then_attempt() -> T:
        if pending:
            raise pending.pop()
        remaining = call.deadline - call.elapsed()
        if remaining <= 0:
            raise call.timed_out(f"deadline of {call.deadline:g} s passed")
        return await call.attempt(attempt, min(timeout, remaining))

    return replay_then_attempt


def _stop(call: _Call) -> Callable[[RetryCallState], bool]:
    """tenacity's stop: attempts, server-asked waits, the deadline, then the budget."""

    def stop(rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome else None
        if exc is None:  # tenacity asks only after a failure
            return False
        why = _why_stop(call, rs) or _withdraw(call, rs, exc)
        if why:
            exc.add_note(why)
        return why is not None

    return stop


def _why_stop(call: _Call, rs: RetryCallState) -> str | None:
    policy = call.policy
    if rs.attempt_number >= policy.max_attempts:
        return f"gave up after {rs.attempt_number} attempts"
    if rs.upcoming_sleep == float("inf"):
        return f"gave up: the server asked to wait over {policy.max_retry_after:g} s"
    if call.elapsed() + rs.upcoming_sleep >= call.deadline:
        call.out_of_time = True
        return f"gave up: the next attempt would pass the {call.deadline:g} s deadline"
    return None


def _withdraw(call: _Call, rs: RetryCallState, exc: BaseException) -> str | None:
    """Pay for the retry from the client-wide budget; why not, if it cannot be paid."""
    policy = call.policy
    cost = policy.timeout_cost if isinstance(exc, TimeoutError) else policy.retry_cost
    if not call.retrier.budget.withdraw(cost):
        call.retrier._events.emit(RetryRefused(call.method, call.key, rs.attempt_number, exc))
        return "gave up: the client-wide retry budget is exhausted"
    call.last_cost = cost
    return None


def _log_and_count(call: _Call) -> Callable[[RetryCallState], None]:
    """tenacity's before_sleep: report the retry and log it (never the value)."""

    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        if exc is not None:
            call.retrier._events.emit(RetryScheduled(call.method, call.key, rs.attempt_number,
                                                     rs.upcoming_sleep, exc))
        logger.info(
            "retrying %s%s: attempt %d failed (%s), next in %.3f s",
            call.method,
            f" key={shorten(call.key)!r}" if call.key else "",
            rs.attempt_number,
            _reason(exc),
            rs.upcoming_sleep,
        )

    return before_sleep


class _Waits:
    """tenacity's wait: the server's delay if it gave one, else full jitter."""

    __slots__ = ("_max_retry_after", "_throttle", "_transient")

    def __init__(self, policy: RetryPolicy) -> None:
        self._max_retry_after = policy.max_retry_after
        self._transient = wait_random_exponential(multiplier=policy.base, max=policy.max_wait)
        self._throttle = wait_random_exponential(
            multiplier=policy.throttle_base, max=policy.max_wait
        )

    def __call__(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            # Waiting longer than max_retry_after is pointless for a client call:
            # beyond it the stop check gives up at once.
            return float(asked) if asked <= self._max_retry_after else float("inf")
        if isinstance(exc, RateLimitedError):
            return float(self._throttle(rs))
        return float(self._transient(rs))


def policy_waits(policy: RetryPolicy) -> Callable[[BaseException, int], float]:
    """``policy``'s wait after a failure, as ``wait(error, failures)``, outside a call.

    The very waits of a call's retries (:class:`_Waits`): the server's delay when it
    gave one (``inf`` beyond ``max_retry_after``), else full jitter on ``throttle_base``
    after a throttle and on ``base`` otherwise, ``failures`` being the attempts failed so
    far. Bulk runs space the attempts of each item with it.
    """
    waits, retrying = _Waits(policy), AsyncRetrying()

    def wait(error: BaseException, failures: int) -> float:
        state = RetryCallState(retrying, None, (), {})
        state.attempt_number = failures
        state.set_exception((type(error), error, error.__traceback__))
        return waits(state)

    return wait


async def within(awaitable: Awaitable[T], seconds: float, method: str, *,
                 cause: Callable[[], BaseException | None] | None = None) -> T:
    """Await ``awaitable`` for at most ``seconds``; :class:`RequestTimeoutError` after.

    The safety net of a call's own ``timeout=``: the retrier already keeps every attempt
    and wait inside it, so this only fires if something overran, or when a caller waits
    for a request it shares with others. What the caller sees is our error, never a bare
    :class:`TimeoutError` or :class:`asyncio.CancelledError`, chained from what
    ``cause()`` returns then (the last error of the request's attempts, if any).
    """
    try:
        async with asyncio.timeout(seconds) as scope:
            return await awaitable
    except TimeoutError as exc:
        if isinstance(exc, RequestTimeoutError) or not scope.expired():
            raise
        # What it waited for was in flight: it may have reached the server.
        raise timed_out(method, f"no answer within the call's timeout of {seconds:g} s",
                        sent=True) from (None if cause is None else cause())


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "no outcome"
    return f"{type(exc).__name__}: {shorten(str(exc), 160)}"
