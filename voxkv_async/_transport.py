"""The session manager and the wire format: one pooled aiohttp session per client.

Requests go as ``POST {base_url}/{Method}`` with every parameter in an
``application/x-www-form-urlencoded`` body and the JWT in ``Authorization``. The URL style
puts the method in access logs and metrics; the body keeps values and keys out of them.
Answers are JSON envelopes: ``{"result": ...}`` or ``{"error": {"msg", "code"}}``, the
latter usually with HTTP 200.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl as _ssl
import time
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ._auth import TokenCache
from ._config import Limits, Timeouts
from ._errors import (
    CLOCK_CODES,
    RESIGN_CODES,
    ApiError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    IncompleteResponseError,
    ProtocolError,
    RequestTimeoutError,
    TLSVerificationError,
    TransportError,
    api_error,
)
from ._stats import Stats

__all__ = ["METHODS", "Transport"]

METHODS = (
    "SetKeyValueItem",
    "GetKeyValueItem",
    "DelKeyValueItem",
    "GetKeyValueItems",
    "GetKeyValueKeys",
)

_FORM = "application/x-www-form-urlencoded"
_EXCERPT = 200
_NOT_JSON = object()
_INT_TEXT = re.compile(r"\s*(-?[0-9]+)\s*")  # ASCII digits only: int() refuses "²"


class Transport:
    """Owns the HTTP session; sends one request and turns the answer into a result.

    Args:
        tokens: Signs the ``Authorization`` header.
        base_url: The API root (``.../platform_api``).
        ssl_context: TLS settings for the pool.
        limits: Pool size, keep-alive, DNS cache, response size limit.
        timeouts: Connect timeout (the attempt timeout comes with each request).
        stats: Counters to update.
        session: A caller-owned ``aiohttp.ClientSession`` to use instead of our own; it
            is not closed by :meth:`close`.
        user_agent: The ``User-Agent`` header.
    """

    def __init__(
        self,
        tokens: TokenCache,
        base_url: URL,
        ssl_context: _ssl.SSLContext,
        limits: Limits,
        timeouts: Timeouts,
        stats: Stats,
        *,
        session: aiohttp.ClientSession | None = None,
        user_agent: str,
    ) -> None:
        self._tokens = tokens
        self._ssl = ssl_context
        self._limits = limits
        self._connect_timeout = timeouts.connect
        self._stats = stats
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._closed = False
        # Built once: yarl parses nothing per request when given URL objects.
        self._urls = {m: base_url / m for m in METHODS}
        # Only a caller's session needs our TLS context per request; ours has it pooled.
        self._request_ssl: _ssl.SSLContext | bool = self._ssl if session is not None else True
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._headers: dict[str, str] | None = None
        # A FIFO queue in front of aiohttp's pool. aiohttp lets a request that finds a
        # free connection take it ahead of those already waiting for one, so with more
        # calls in flight than connections some wait for seconds (and hit the connect
        # timeout, which covers waiting for the pool). Calls past the limit queue here, in
        # order, and aiohttp's pool never has waiters.
        self._slots = asyncio.Semaphore(limits.max_connections)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def open(self) -> aiohttp.ClientSession:
        """The session, made on first use inside the running loop."""
        if self._session is None:
            if self._closed:
                raise ClientClosedError("this VoxKV client is closed; make a new one")
            asyncio.get_running_loop()  # a session made outside a loop binds the wrong one
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections,
                keepalive_timeout=self._limits.keepalive,
                ttl_dns_cache=self._limits.dns_cache_ttl,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        """Close our session and its connections; safe to call more than once."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    async def request(self, method: str, body: str, key: str | None, time_limit: float) -> Any:
        """Send ``body`` to ``method``; the ``result`` of the answer, or an exception.

        An answer of "token refused" (codes 100, 455, 456) is repeated once with a newly
        signed token: the cached one may have been revoked or minted on a skewed clock.
        """
        header = self._tokens.authorization()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await self._send(method, body, key, time_limit, header)
        except AuthenticationError as exc:
            if exc.code not in RESIGN_CODES:
                raise
            left = time_limit - (loop.time() - started)
            if left <= 0:  # the repeat must fit in the same attempt, deadline included
                raise RequestTimeoutError(
                    f"{method}: no time left to repeat with a new token"
                ) from exc
            self._tokens.invalidate(header)
            self._stats.auth_retries += 1
            return await self._send(method, body, key, left, self._tokens.authorization())

    async def _send(
        self, method: str, body: str, key: str | None, time_limit: float, auth: str
    ) -> Any:
        session = self._session if self._session is not None else self.open()
        self._stats.requests += 1
        slots = self._slots
        if slots.locked():
            time_limit = await self._queue_for_slot(method, time_limit)
        else:
            await slots.acquire()  # free: returns at once
        try:
            async with session.post(
                self._urls[method],
                data=body.encode(),
                headers=self._headers_for(auth),
                timeout=self._timeout(time_limit),
                ssl=self._request_ssl,
                allow_redirects=False,
            ) as resp:
                raw = await self._read(resp, method)
                return self._decode(resp.status, raw, resp.headers, method, key)
        except aiohttp.ClientError as exc:
            if self._closed:
                raise ClientClosedError("the client was closed while the call ran") from None
            # aiohttp's response errors hold the request's headers, token included: they
            # are not chained.
            cause = None if isinstance(exc, aiohttp.ClientResponseError) else exc
            raise _transport_error(exc, method) from cause
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"{method}: no complete answer within {time_limit:g} s"
            ) from exc
        finally:
            slots.release()

    async def _queue_for_slot(self, method: str, time_limit: float) -> float:
        """Wait (in FIFO order) for a connection slot; the time limit left for the request."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout(time_limit):
                await self._slots.acquire()
        except TimeoutError:
            raise RequestTimeoutError(
                f"{method}: no free connection within {time_limit:g} s"
            ) from None
        return max(0.001, time_limit - (loop.time() - start))

    def _headers_for(self, auth: str) -> dict[str, str]:
        """The request headers for ``auth``, built once per token rather than per call."""
        headers = self._headers
        if headers is None or headers["Authorization"] != auth:
            headers = self._headers = {"Authorization": auth, "Content-Type": _FORM}
        return headers

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(seconds)
        if t is None:
            t = aiohttp.ClientTimeout(total=seconds, connect=min(self._connect_timeout, seconds))
            if len(self._timeouts) < 8:  # the first attempt's value recurs; others vary
                self._timeouts[seconds] = t
        return t

    async def _read(self, resp: aiohttp.ClientResponse, method: str) -> bytes:
        limit = self._limits.max_response_bytes
        length = resp.content_length
        if length is not None and length > limit:
            raise _too_large(resp.status, method, limit)
        if length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()
        # Unknown or compressed length: read in chunks so a huge body cannot exhaust memory.
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            buf += chunk
            if len(buf) > limit:
                raise _too_large(resp.status, method, limit)
        return bytes(buf)

    def _decode(
        self,
        status: int,
        raw: bytes,
        headers: CIMultiDictProxy[str],
        method: str,
        key: str | None,
    ) -> Any:
        try:
            payload: Any = json.loads(raw)
        except (ValueError, RecursionError):  # bad UTF-8 is a ValueError; [[[...]]] recurses
            payload = _NOT_JSON
        if type(payload) is dict:
            error = payload.get("error")
            if error is not None:
                raise self._api_error(error, status, headers, method, key)
            if "result" in payload and status < 300:
                return payload["result"]
        if status == 429 or status >= 500 or status in (401, 403):
            reason = _excerpt(raw) if payload is _NOT_JSON else "HTTP error"
            raise api_error(
                None,
                reason or f"HTTP {status}",
                method=method,
                key=key,
                status=status,
                retry_after=_retry_after(headers),
            )
        if payload is _NOT_JSON:
            raise ProtocolError("answer is not JSON", status=status, method=method,
                                excerpt=_excerpt(raw))
        if type(payload) is not dict:
            raise ProtocolError(f"answer is a JSON {type(payload).__name__}, not an object",
                                status=status, method=method)
        raise ProtocolError("answer has neither 'result' nor 'error'", status=status,
                            method=method)

    def _api_error(
        self,
        error: object,
        status: int,
        headers: CIMultiDictProxy[str],
        method: str,
        key: str | None,
    ) -> ApiError:
        code, msg = _code_and_msg(error)
        if code in CLOCK_CODES:
            # The server's Date header tells how far off our clock is; the re-signed
            # token will be minted on the server's time.
            self._tokens.observe_server_date(headers.get("Date"))
        return api_error(
            code, msg, method=method, key=key, status=status, retry_after=_retry_after(headers)
        )


def _code_and_msg(error: object) -> tuple[int | None, str]:
    if not isinstance(error, dict):
        return None, _short_text(error)
    code: Any = error.get("code")
    if isinstance(code, str):
        match = _INT_TEXT.fullmatch(code)
        code = int(match.group(1)) if match else None
    if type(code) is not int:
        code = None
    msg = error.get("msg", error.get("message", ""))
    return code, _short_text(msg)


def _short_text(obj: object) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)[:_EXCERPT]
    return text[:_EXCERPT]


def _excerpt(raw: bytes) -> str:
    return " ".join(raw[:_EXCERPT].decode("utf-8", "replace").split())


def _too_large(status: int, method: str, limit: int) -> ProtocolError:
    return ProtocolError(f"answer is larger than the {limit}-byte limit", status=status,
                         method=method)


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        until = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    # Measured from the answer's own Date when it has one: our clock may be skewed.
    try:
        now = parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        now = time.time()
    return max(0.0, until - now)


def _transport_error(exc: aiohttp.ClientError, method: str) -> Exception:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSVerificationError(f"{method}: server certificate did not verify: {exc}")
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass both
        return RequestTimeoutError(f"{method}: {type(exc).__name__}: {exc}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return IncompleteResponseError(f"answer body broken off ({type(exc).__name__})", status=0,
                             method=method)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolError(f"malformed HTTP answer ({exc.message})", status=exc.status,
                             method=method)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ConnectError(f"{method}: {type(exc).__name__}: {exc}")
    return TransportError(f"{method}: {type(exc).__name__}: {exc}")
