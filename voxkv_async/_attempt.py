"""One attempt of a call: build the request, send it through the transport, read the answer.

:class:`Attempt` is the link of the send chain just above the transport, and the one
place that hands an answer to :func:`voxkv_async._wire.decode`. It also keeps the
client's closed state: after :meth:`Attempt.close` no request leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from yarl import URL

from . import _wire
from ._errors import ClientClosedError
from ._transports import Request, Transport

__all__ = ["Attempt"]


class Attempt:
    """Sends one signed request of a call and decodes its answer.

    Args:
        transport: Moves the bytes.
        base_url: The API root (``.../platform_api``).
        user_agent: The ``User-Agent`` header.
    """

    __slots__ = ("_closed", "_headers", "_transport", "_urls", "_user_agent")

    def __init__(self, transport: Transport, base_url: URL, *, user_agent: str) -> None:
        self._transport = transport
        self._user_agent = user_agent
        self._closed = False
        self._urls = {m: str(base_url / m) for m in _wire.METHODS}
        self._headers: Mapping[str, str] | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def check_open(self) -> None:
        """:class:`ClientClosedError` once :meth:`close` was called."""
        if self._closed:
            raise ClientClosedError("this VoxKV client is closed; make a new one")

    async def close(self) -> None:
        """Refuse further requests and close the transport; safe to call more than once."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    async def __call__(self, method: str, body: str, key: str | None, authorization: str,
                       time_limit: float) -> tuple[int, object]:
        """The HTTP status and the ``result`` of ``method``'s answer to ``body``, or the
        error it decodes to. (Requests are counted from the event stream: each attempt,
        and each re-signed repeat.)"""
        if self._closed:
            self.check_open()
        request = Request(method, self._urls[method], self._headers_for(authorization),
                          body.encode())
        response = await self._transport.send(request, timeout=time_limit)
        status = response.status
        return status, _wire.decode(status, response.content, response.headers, method, key)

    def _headers_for(self, authorization: str) -> Mapping[str, str]:
        """The request headers for a token, built once per token rather than per call
        (read-only: every request of that token shares them)."""
        headers = self._headers
        if headers is None or headers["Authorization"] != authorization:
            headers = self._headers = MappingProxyType({
                "Authorization": authorization,
                "Content-Type": _wire.FORM,
                "Accept": "application/json",
                "User-Agent": self._user_agent,
            })
        return headers
