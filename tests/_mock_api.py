"""A mocked API root and a client for it: shared by the unit and web tests.

:class:`MockApi` plays the API behind a :class:`~voxkv_async.MockTransport` (no socket, no
aiohttp): answers are queued per URL as with aioresponses (``post(url, payload=...)``, in
order, ``repeat=True`` for every later request), and every request the client sent is in
:attr:`MockApi.requests`. :func:`make_kv` makes a client of it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from voxkv_async import (
    ConnectError,
    Credentials,
    MockTransport,
    Request,
    Response,
    RetryPolicy,
    VoxKV,
)

__all__ = ["BASE", "DEL_URL", "GET_URL", "ITEM", "ITEMS_URL", "KEYS_URL", "SET_URL", "TLS",
           "MockApi", "make_kv"]

BASE = "https://api.test/platform_api"
SET_URL = f"{BASE}/SetKeyValueItem"
GET_URL = f"{BASE}/GetKeyValueItem"
DEL_URL = f"{BASE}/DelKeyValueItem"
ITEMS_URL = f"{BASE}/GetKeyValueItems"
KEYS_URL = f"{BASE}/GetKeyValueKeys"
ITEM = {"key": "ns:k", "value": "v", "expires_at": 1_900_000_000}
# Building a default TLS context loads the system CAs (~30 ms); share one across tests.
TLS = ssl.create_default_context()


@attrs.frozen
class _Answer:
    response: Response | None
    callback: Callable[[Request], Response | Awaitable[Response]] | None
    exception: BaseException | None
    repeat: bool


class MockApi:
    """The API as a test programs it: queued answers per URL, the requests it was sent."""

    def __init__(self) -> None:
        self._answers: dict[str, list[_Answer]] = {}
        self.transport = MockTransport(self._answer)

    @property
    def requests(self) -> list[Request]:
        """Every request sent so far, in order."""
        return self.transport.requests

    def sent(self, url: str) -> list[Request]:
        """The requests sent to ``url``, in order."""
        return [r for r in self.requests if r.url == url]

    def post(self, url: str, *, status: int = 200, payload: Any = None,
             body: str | bytes | None = None, content_type: str = "application/json",
             headers: Mapping[str, str] | None = None, repeat: bool = False,
             callback: Callable[[Request], Response | Awaitable[Response]] | None = None,
             exception: BaseException | None = None) -> None:
        """Answer the next request to ``url`` (every one with ``repeat=True``): with
        ``payload`` as JSON or ``body``, by ``callback(request)`` (plain or ``async``), or
        by raising ``exception`` (one of the client's transport errors, as a transport
        raises)."""
        content = json.dumps(payload) if payload is not None else body or ""
        response = Response(status, {"Content-Type": content_type, **(headers or {})},
                            content if isinstance(content, bytes) else content.encode())
        self._answers.setdefault(url, []).append(
            _Answer(response, callback, exception, repeat))

    def _answer(self, request: Request) -> Response | Awaitable[Response]:
        queue = self._answers.get(request.url)
        if not queue:
            raise ConnectError(f"MockApi: no answer for {request.url}", sent=False)
        answer = queue[0] if queue[0].repeat else queue.pop(0)
        if answer.exception is not None:
            raise answer.exception
        if answer.callback is not None:
            return answer.callback(request)
        assert answer.response is not None
        return answer.response


def make_kv(credentials: Credentials, api: MockApi | None = None, **kw: Any) -> VoxKV:
    """A client for :data:`BASE`, sending through ``api`` when given (else over aiohttp, as
    aioresponses mocks it); retrying is off unless ``retry=`` says otherwise."""
    kw.setdefault("base_url", BASE)
    kw.setdefault("retry", RetryPolicy.disabled())
    if api is not None:
        kw.setdefault("transport", api.transport)
    else:
        kw.setdefault("ssl", TLS)
    return VoxKV(credentials, application_id=77, **kw)
