"""How one API call runs: the head of the send chain.

The chain, one job per link (as httpx's ``send -> _send_handling_auth ->
_send_single_request -> transport``):

1. :class:`Caller` (here): the call. It checks that the call is on the event loop the
   client was opened on (:class:`~voxkv_async.WrongEventLoopError` otherwise) and a
   per-call ``timeout=``, turns a "no such key" error answer into :data:`KEY_MISSING`
   where asked, and reports the call and each attempt to the client's event stream
   (:mod:`._events`, which feeds ``kv.stats``, attempt hooks and OpenTelemetry).
2. :class:`~voxkv_async._retry.Retrier`: the deadline and the retries.
3. :class:`~voxkv_async._auth.Signed`: the token, one re-signing on refusal, clock skew.
4. :class:`~voxkv_async._attempt.Attempt`: one request built, sent, its answer decoded.
5. The :class:`~voxkv_async.Transport`: the bytes there and back.

Listings are walked by :mod:`._listing`, one call per page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from . import _wire
from ._errors import (
    ApiError,
    ProtocolError,
    RateLimitedError,
    ValidationError,
    VoxKVError,
    WrongEventLoopError,
)
from ._events import AttemptEnded, CallEnded, CallStarted, EventStream
from ._retry import Retrier, RetryPolicy

__all__ = ["KEY_MISSING", "CallProgress", "Caller", "check_timeout"]

T = TypeVar("T")
#: The auth link: ``send(method, body, key, time_limit)`` makes one attempt; it returns
#: the HTTP status of the answer and its ``result``.
Send = Callable[[str, str, str | None, float], Awaitable[tuple[int, object]]]
#: What :meth:`Caller.call` returns for an error answer that means "no such key".
KEY_MISSING = object()


class CallProgress:
    """What one call's attempts have done so far (for :class:`CallEnded`, and for a
    caller that shares the call and wants its last error when it stops waiting)."""

    __slots__ = ("attempts", "last_error", "status", "throttles")

    def __init__(self) -> None:
        self.attempts = 0
        self.throttles = 0
        self.status: int | None = None
        self.last_error: BaseException | None = None


class Caller:
    """Runs the calls of one client.

    Args:
        send: Makes one attempt (the auth link, then the attempt, then the transport).
        retrier: The deadline, the retry policy and budget.
        events: The client's event stream.
    """

    __slots__ = ("_events", "_retrier", "_send", "loop")

    def __init__(self, send: Send, retrier: Retrier, events: EventStream) -> None:
        self._send = send
        self._retrier = retrier
        self._events = events
        #: The event loop the client was opened on (first used on).
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self) -> None:
        """Remember the loop of first use; any other loop is :class:`WrongEventLoopError`."""
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:
            raise WrongEventLoopError(
                "this VoxKV client is used from another event loop than the one it was "
                "opened on; its connections belong to that loop: make one client per "
                "event loop (e.g. inside each asyncio.run() or each test)"
            )

    async def call(
        self,
        method: str,
        body: str,
        key: str | None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        *,
        missing_ok: bool = False,
        progress: CallProgress | None = None,
    ) -> object:
        """Run one API call under the retry policy and report it to the event stream.

        With ``missing_ok``, an error answer that says the key does not exist returns
        :data:`KEY_MISSING` instead of raising. ``progress``, if given, is kept up to
        date attempt by attempt.
        """
        if self.loop is not asyncio.get_running_loop():
            self.bind_loop()
        if timeout is not None:
            check_timeout(timeout)
        events = self._events
        events.emit(CallStarted(method, key))
        if progress is None:
            progress = CallProgress()
        attempt = partial(self._attempt, progress, method, body, key)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            result = await self._retrier.call(attempt, method=method, key=key, policy=retry,
                                              deadline=timeout)
        except VoxKVError as exc:
            if not (missing_ok and isinstance(exc, ApiError) and _wire.means_missing(exc)):
                error = exc
                raise
            result = KEY_MISSING
        except BaseException as exc:  # cancelled: the call still ends
            error = exc
            raise
        finally:
            events.emit(CallEnded(method, key, progress.attempts, progress.throttles,
                                  progress.status, error, time.perf_counter() - started))
        return result

    async def _attempt(self, progress: CallProgress, method: str, body: str, key: str | None,
                       time_limit: float) -> object:
        """One attempt through the transport, reported as :class:`AttemptEnded`."""
        progress.attempts += 1
        started = time.perf_counter()
        try:
            status, result = await self._send(method, body, key, time_limit)
        except BaseException as exc:
            progress.status = _status_of(exc)
            progress.last_error = exc
            if isinstance(exc, RateLimitedError):
                progress.throttles += 1
            self._events.emit(AttemptEnded(
                method, key, progress.attempts, progress.status, exc,
                time.perf_counter() - started,
                getattr(exc, "may_have_applied", True)))
            raise
        progress.status = status
        self._events.emit(AttemptEnded(method, key, progress.attempts, status, None,
                                       time.perf_counter() - started, True))
        return result


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status of the answer an attempt failed on; ``None`` without an answer."""
    if isinstance(exc, ApiError | ProtocolError):
        return exc.status or None  # 0: the answer broke off before its status counted
    return None


def check_timeout(timeout: object) -> None:
    """A per-call ``timeout=`` must be a number of seconds > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError("timeout", "must be a number of seconds > 0", repr(timeout))

