"""How one API call runs: the head of the send chain.

The chain, one job per link (as httpx's ``send -> _send_handling_auth ->
_send_single_request -> transport``):

1. :class:`Caller` (here): the call. It checks that the call is on the event loop the
   client was opened on (:class:`~voxkv_async.WrongEventLoopError` otherwise) and a
   per-call ``timeout=``, counts the call, turns a "no such key" error answer into
   :data:`KEY_MISSING` where asked, and reports the call to OpenTelemetry when on.
2. :class:`~voxkv_async._retry.Retrier`: the deadline and the retries.
3. :class:`~voxkv_async._auth.Signed`: the token, one re-signing on refusal, clock skew.
4. :class:`~voxkv_async._attempt.Attempt`: one request built, sent, its answer decoded.
5. The :class:`~voxkv_async.Transport`: the bytes there and back.

:func:`walk` pages through a listing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

from . import _wire
from ._errors import ApiError, ProtocolError, ValidationError, VoxKVError, WrongEventLoopError
from ._retry import Retrier, RetryPolicy
from ._stats import Stats
from ._telemetry import Telemetry
from ._validation import check_count

__all__ = ["KEY_MISSING", "Caller", "check_timeout", "walk"]

T = TypeVar("T")
#: The auth link: ``send(method, body, key, time_limit)`` makes one attempt.
Send = Callable[[str, str, str | None, float], Awaitable[object]]
#: What :meth:`Caller.call` returns for an error answer that means "no such key".
KEY_MISSING = object()


class Caller:
    """Runs the calls of one client.

    Args:
        send: Makes one attempt (the auth link, then the attempt, then the transport).
        retrier: The deadline, the retry policy and budget.
        stats: Counters.
        telemetry: Spans and metrics, or ``None``.
    """

    __slots__ = ("_retrier", "_send", "_stats", "_telemetry", "loop")

    def __init__(self, send: Send, retrier: Retrier, stats: Stats,
                 telemetry: Telemetry | None) -> None:
        self._send = send
        self._retrier = retrier
        self._stats = stats
        self._telemetry = telemetry
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
    ) -> object:
        """Run one API call under the retry policy and count its outcome.

        With ``missing_ok``, an error answer that says the key does not exist returns
        :data:`KEY_MISSING` instead of raising.
        """
        if self.loop is not asyncio.get_running_loop():
            self.bind_loop()
        if timeout is not None:
            check_timeout(timeout)
        self._stats.calls += 1
        attempt: Callable[[float], Awaitable[object]] = partial(self._send, method, body, key)
        record = None if self._telemetry is None else self._telemetry.start(method, key)
        if record is not None:
            attempt = record.wrap(attempt)
        try:
            result = await self._retrier.call(attempt, method=method, key=key, policy=retry,
                                              deadline=timeout)
        except VoxKVError as exc:
            if not (missing_ok and isinstance(exc, ApiError) and _wire.means_missing(exc)):
                self._stats.errors[type(exc).__name__] += 1
                if record is not None:
                    record.end(exc)
                raise
            result = KEY_MISSING
        except BaseException as exc:  # cancelled: the span still ends
            if record is not None:
                record.end(exc)
            raise
        if record is not None:
            record.end(None)
        return result


def check_timeout(timeout: object) -> None:
    """A per-call ``timeout=`` must be a number of seconds > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError("timeout", "must be a number of seconds > 0", repr(timeout))


async def walk(
    fetch: Callable[..., Awaitable[list[T]]],
    method: str,
    prefix: str | None,
    page_size: int,
) -> AsyncIterator[T]:
    """Every entry of a listing, page by page (``fetch(prefix, count=, offset=)``)."""
    check_count(page_size)
    offset = 0
    previous_first = None
    while True:
        page = await fetch(prefix, count=page_size, offset=offset)
        # Stop on an empty page, not a short one: a server that caps pages below
        # page_size must not end the walk early.
        if not page:
            return
        if page[0] == previous_first:
            raise ProtocolError("the server ignores offset: the same page came twice",
                                status=200, method=method)
        previous_first = page[0]
        for entry in page:
            yield entry
        offset += len(page)
