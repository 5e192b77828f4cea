"""A transport that answers from a function: for unit tests, the client's and yours.

As httpx's ``MockTransport``: ``MockTransport(handler)`` calls ``handler(request)`` (a
plain or an ``async`` function) with each :class:`~voxkv_async.Request` and returns the
:class:`~voxkv_async.Response` it gives. The handler may raise the client's transport
errors (``ConnectError("refused", sent=False)`` ...) to play a failing network. No socket
is opened; everything above the transport (tokens, retries, the wire format) runs as
with the real one.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from ._errors import timed_out
from ._transports import Request, Response

__all__ = ["Handler", "MockTransport"]

#: What :class:`MockTransport` calls: a request in, an answer (or an awaitable of one) out.
Handler = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """A :class:`~voxkv_async.Transport` that answers every request with ``handler(request)``.

    Args:
        handler: Called with each :class:`~voxkv_async.Request`; returns the
            :class:`~voxkv_async.Response`, or an awaitable of it. An ``async`` handler
            that outlasts the request's time limit ends in
            :class:`~voxkv_async.RequestTimeoutError`, as a slow server would.

    Attributes:
        requests: Every request sent so far, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<MockTransport requests={len(self.requests)}>"

    async def send(self, request: Request, *, timeout: float) -> Response:  # noqa: ASYNC109
        """The handler's answer to ``request``."""
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            try:
                async with asyncio.timeout(timeout) as scope:
                    answer = await answer
            except TimeoutError:
                if not scope.expired():  # the handler's own error, e.g. a RequestTimeoutError
                    raise
                # The handler had the request: as with a server, it may have applied it.
                raise timed_out(request.method, f"no answer within {timeout:g} s",
                                sent=True) from None
        if not isinstance(answer, Response):
            raise TypeError(f"the MockTransport handler must return a Response, "
                            f"got {type(answer).__name__}")
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed (there is nothing to release)."""
        self.closed = True
