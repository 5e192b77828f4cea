"""The one event stream of a client: what it did, as typed events, for whoever listens.

Every piece of instrumentation reads this stream and nothing else: :class:`~voxkv_async.Stats`
(``kv.stats``) is a subscriber, so is each :meth:`~voxkv_async.VoxKV.add_attempt_hook` hook and
the OpenTelemetry spans and metrics; bulk runs report their item retries through it. A user
subscribes with ``kv.events.subscribe(fn)``.

This module owns the event types (frozen, slotted value objects) and the dispatcher,
:class:`EventStream`. The modules that do the work (the call, the retry policy, the
transport, the token cache, the read path, the bulk engine) only *emit*.

Rules a subscriber can rely on: events are delivered synchronously, on the event loop, in
the order they happen, to subscribers in the order they subscribed; an exception raised by
a subscriber is logged (logger ``voxkv_async``) and never reaches the call that emitted the
event. A subscriber must be quick: it runs on the hot path of every call.

Events never carry a value nor a credential; they carry keys (as exceptions do), so a
subscriber that exports them decides whether keys may leave the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from ._errors import VoxKVError

__all__ = [
    "AttemptEnded",
    "AttemptHook",
    "AuthRetried",
    "CacheHit",
    "CacheMiss",
    "CallEnded",
    "CallStarted",
    "Coalesced",
    "Event",
    "EventStream",
    "RetryRefused",
    "RetryScheduled",
    "Subscriber",
    "TokenSigned",
    "attempt_hook_subscriber",
]

logger = logging.getLogger("voxkv_async")


@attrs.frozen(slots=True)
class CallStarted:
    """An API call starts (once per call, whatever its retries).

    A ``get`` answered by the read cache or by another call's request starts no call: it
    emits :class:`CacheHit` or :class:`Coalesced` instead.

    Attributes:
        method: The API method (``SetKeyValueItem``, ...).
        key: The key (or prefix) the call is about, if any.
    """

    method: str
    key: str | None


@attrs.frozen(slots=True)
class AttemptEnded:
    """One attempt of a call ended: an answer was read, or it failed.

    Attributes:
        method: The API method.
        key: The key (or prefix), if any.
        attempt: 1 for the first attempt of the call, 2 for its first retry, ...
        status: The HTTP status of the answer; ``None`` when there was none (a
            connection error, a timeout, a cancellation).
        error: ``None`` when the attempt succeeded; else the exception it failed with
            (a :class:`~voxkv_async.VoxKVError`, or :class:`asyncio.CancelledError`),
            before the retry policy decides what to do about it. An answer "no such key"
            to a ``get`` or ``delete`` is an error here (the call turns it into ``None``
            or ``False``).
        elapsed: Seconds the attempt took (a re-signed repeat included).
        may_have_applied: Whether the request may have changed the storage: ``True``
            for a success, the error's own ``may_have_applied`` for a failure.
    """

    method: str
    key: str | None
    attempt: int
    status: int | None
    error: BaseException | None
    elapsed: float
    may_have_applied: bool


@attrs.frozen(slots=True)
class AuthRetried:
    """The server refused the token (codes 100, 455, 456): the request is repeated once,
    within the same attempt, with a freshly signed token.

    Attributes:
        method: The API method.
        key: The key (or prefix), if any.
    """

    method: str
    key: str | None


@attrs.frozen(slots=True)
class TokenSigned:
    """A new JWT was signed (it is never part of the event).

    Attributes:
        expires_at: The token's ``exp`` claim, Unix seconds.
    """

    expires_at: int


@attrs.frozen(slots=True)
class RetryScheduled:
    """A failed attempt will be made again after ``wait`` seconds.

    Attributes:
        method: The API method.
        key: The key, if any.
        attempt: The number of the attempt that failed.
        wait: Seconds until the next attempt.
        error: Why: the exception the attempt failed with.
        budget_allowed: Whether the client-wide retry budget paid for it. A single call
            whose budget refuses does not retry (:class:`RetryRefused` instead); a bulk
            item does, after a longer wait, with ``budget_allowed=False``.
        item: The index of the bulk item in its input, for a bulk run's retry; ``None``
            for a single call's.
    """

    method: str
    key: str | None
    attempt: int
    wait: float
    error: BaseException
    budget_allowed: bool = True
    item: int | None = None


@attrs.frozen(slots=True)
class RetryRefused:
    """A call wanted to retry but the client-wide retry budget was empty: it fails now.

    Attributes:
        method: The API method.
        key: The key, if any.
        attempt: The number of the attempt that failed.
        error: The exception the call fails with.
    """

    method: str
    key: str | None
    attempt: int
    error: BaseException


@attrs.frozen(slots=True)
class CallEnded:
    """An API call ended (after :class:`CallStarted`, once, whatever its outcome).

    Attributes:
        method: The API method.
        key: The key (or prefix), if any.
        attempts: Attempts made (1 without retries; 0 if it ended before any).
        throttles: Attempts the API throttled (:class:`~voxkv_async.RateLimitedError`).
        status: The HTTP status of the last answer, ``None`` without one.
        error: What the call raised, ``None`` when it returned (an answer "no such key"
            that a ``get`` or ``delete`` returns as ``None``/``False`` is no error).
        elapsed: Seconds the call took, retries and waits included.
    """

    method: str
    key: str | None
    attempts: int
    throttles: int
    status: int | None
    error: BaseException | None
    elapsed: float


@attrs.frozen(slots=True)
class CacheHit:
    """A ``get`` was answered by the read cache (no request).

    Attributes:
        key: The key.
    """

    key: str


@attrs.frozen(slots=True)
class CacheMiss:
    """A ``get`` found nothing fresh in the read cache: it goes on to a request.

    Attributes:
        key: The key.
    """

    key: str


@attrs.frozen(slots=True)
class Coalesced:
    """A ``get`` shares the request of another ``get`` of the same key in flight.

    Attributes:
        key: The key.
    """

    key: str


Event = (CallStarted | AttemptEnded | AuthRetried | TokenSigned | RetryScheduled
         | RetryRefused | CallEnded | CacheHit | CacheMiss | Coalesced)
"""Any event of the stream: a union of the event classes (``match`` on them, or test
``isinstance``); more kinds may be added in later releases, so ignore the unknown."""

Subscriber = Callable[[Event], object]
"""A function called with every event of a stream (what it returns is ignored)."""

AttemptHook = Callable[[VoxKVError | None], None]
"""A function called after every attempt of every call, with ``None`` when the attempt
succeeded or the :class:`VoxKVError` it failed with (before the retry policy decides);
see :meth:`VoxKV.add_attempt_hook`."""


class EventStream:
    """Delivers a client's events to its subscribers (``kv.events``).

    Subscribing and unsubscribing replace an immutable tuple, so a subscriber may
    unsubscribe itself (or another) while an event is delivered; emitting with no
    subscriber is a loop over an empty tuple. Emitters that would build an event only
    to drop it check ``if stream:`` first.
    """

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()

    def __bool__(self) -> bool:
        """Whether anyone listens."""
        return bool(self._subscribers)

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event from now on.

        Returns:
            A function that unsubscribes it (calling it again does nothing). The same
            function subscribed twice is called twice, and each unsubscribe removes one.
        """
        self._subscribers = (*self._subscribers, subscriber)
        subscribed = [True]

        def unsubscribe() -> None:
            if not subscribed:
                return
            subscribed.clear()
            subscribers = list(self._subscribers)
            for i, s in enumerate(subscribers):
                if s is subscriber:
                    del subscribers[i]
                    break
            self._subscribers = tuple(subscribers)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every subscriber; a subscriber's exception is logged only."""
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                # A broken subscriber must not break calls; say so once per occurrence.
                logger.exception("event subscriber %r failed on %s", subscriber,
                                 type(event).__name__)



def attempt_hook_subscriber(hook: AttemptHook) -> Subscriber:
    """The subscriber that calls an :data:`AttemptHook` with each attempt's outcome.

    The hook's contract predates the stream: it sees attempts that succeeded or failed
    with a :class:`VoxKVError`, not cancelled ones.
    """

    def on_event(event: Event) -> None:
        if type(event) is AttemptEnded:
            error = event.error
            if error is None or isinstance(error, VoxKVError):
                hook(error)

    on_event.__qualname__ = f"attempt hook {hook!r}"
    return on_event
