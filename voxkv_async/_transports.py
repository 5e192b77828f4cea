"""The transport seam: what a request and an answer are, and what a transport must do.

The client's send chain ends here. Above the seam the chain decides everything about a
call (deadline, retries, the token, the wire format); below it a :class:`Transport`
only moves bytes: it sends one :class:`Request` and returns the :class:`Response`, status,
headers and body, or raises one of the client's transport errors. The default transport
is :class:`~voxkv_async.AiohttpTransport`; :class:`~voxkv_async.MockTransport` answers
from a function, for tests (as httpx's ``MockTransport``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Request", "Response", "Transport"]


def _case_insensitive(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` read without regard to case, as HTTP headers are."""
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers  # aiohttp's own: already case-insensitive, no copy per answer
    return CIMultiDictProxy(CIMultiDict(headers))


@attrs.frozen
class Request:
    """One request of the API, as the send chain hands it to a transport.

    Every request is an HTTP ``POST`` of a form to ``url``.

    Attributes:
        method: The API method, e.g. ``"SetKeyValueItem"`` (the last part of ``url``).
        url: The absolute URL, ``{base_url}/{method}``.
        headers: ``Authorization`` (the bearer token), ``Content-Type``, ``Accept``,
            ``User-Agent``.
        body: The ``application/x-www-form-urlencoded`` body.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)  # holds the token
    body: bytes = attrs.field(repr=False)  # holds the stored value

    @property
    def form(self) -> dict[str, str]:
        """The body's form fields, e.g. ``{"application_id": "1", "key": "k", ...}``."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@attrs.frozen
class Response:
    """The answer a transport got: its HTTP status, headers and body.

    Attributes:
        status: The HTTP status.
        headers: The answer's headers (read without regard to case).
        content: The body.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_case_insensitive)
    content: bytes = attrs.field(default=b"", repr=False)

    @classmethod
    def of_json(cls, payload: Any, status: int = 200,
                headers: Mapping[str, str] | None = None) -> Response:
        """An answer whose body is ``payload`` as JSON, e.g. ``{"result": ...}``."""
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, merged, json.dumps(payload).encode())


@runtime_checkable
class Transport(Protocol):
    """Sends a :class:`Request` and returns the :class:`Response`; pass one as
    ``VoxKV(transport=...)``.

    A transport moves bytes and nothing else: it does not retry, sign, or read the
    answer's JSON (an HTTP error status is an answer, returned like any other). When
    the exchange fails it raises the client's errors, saying whether the request may
    have reached the server (``may_have_applied``): :class:`~voxkv_async.ConnectError`,
    :class:`~voxkv_async.RequestTimeoutError`, :class:`~voxkv_async.TLSVerificationError`
    or :class:`~voxkv_async.TransportError` (all with ``sent=``), and
    :class:`~voxkv_async.ProtocolError` or :class:`~voxkv_async.IncompleteResponseError`
    for an answer that is not HTTP or broke off. The client closes its transport when
    it is closed.
    """

    async def send(self, request: Request, *, timeout: float) -> Response:  # noqa: ASYNC109
        """Send ``request``; the whole exchange (waiting for a connection included) within
        ``timeout`` seconds, else :class:`~voxkv_async.RequestTimeoutError`."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once when the client closes."""
        ...

