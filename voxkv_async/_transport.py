"""The transport: moves a request's bytes to the API and the answer's bytes back.

It owns the pooled ``aiohttp`` session (made inside the running loop, closed with the
client), a FIFO queue of connection slots in front of aiohttp's pool, each attempt's
time limit, the answer size limit, and the one repeat of a request whose token was
refused, re-signed through the :class:`~voxkv_async._auth.TokenCache`. What the bytes
mean is :mod:`voxkv_async._wire`'s business: this module hands it the status, body and
headers, and maps aiohttp's exceptions to the client's.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl

import aiohttp
from yarl import URL

from . import _wire
from ._auth import TokenCache
from ._config import Limits, Timeouts
from ._errors import (
    CLOCK_CODES,
    RESIGN_CODES,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    IncompleteResponseError,
    ProtocolError,
    RequestTimeoutError,
    TLSVerificationError,
    TransportError,
)
from ._events import AuthRetried, EventStream

__all__ = ["Transport"]


class Transport:
    """Owns the HTTP session; sends one request and hands the answer to the wire format.

    Args:
        tokens: Signs the ``Authorization`` header.
        base_url: The API root (``.../platform_api``).
        ssl_context: TLS settings for the pool.
        limits: Pool size, keep-alive, DNS cache, response size limit.
        timeouts: Connect timeout (the attempt timeout comes with each request).
        events: The client's event stream (told of re-signed repeats).
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
        events: EventStream,
        *,
        session: aiohttp.ClientSession | None = None,
        user_agent: str,
    ) -> None:
        self._tokens = tokens
        self._ssl = ssl_context
        self._limits = limits
        self._connect_timeout = timeouts.connect
        self._events = events
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._closed = False
        # Built once: yarl parses nothing per request when given URL objects.
        self._urls = {m: base_url / m for m in _wire.METHODS}
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

    async def request(
        self, method: str, body: str, key: str | None, time_limit: float
    ) -> tuple[int, object]:
        """Send ``body`` to ``method``; the HTTP status and the ``result`` of the answer,
        or an exception.

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
            self._events.emit(AuthRetried(method, key))
            return await self._send(method, body, key, left, self._tokens.authorization())

    async def _send(
        self, method: str, body: str, key: str | None, time_limit: float, auth: str
    ) -> tuple[int, object]:
        session = self._session if self._session is not None else self.open()
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
                try:
                    return resp.status, _wire.decode(resp.status, raw, resp.headers, method,
                                                     key)
                except AuthenticationError as exc:
                    if exc.code in CLOCK_CODES:
                        # The server's Date tells how far off our clock is: the re-signed
                        # token is minted on the server's time.
                        self._tokens.observe_server_date(resp.headers.get("Date"))
                    raise
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
                f"{method}: no free connection within {time_limit:g} s", sent=False
            ) from None
        return max(0.001, time_limit - (loop.time() - start))

    def _headers_for(self, auth: str) -> dict[str, str]:
        """The request headers for ``auth``, built once per token rather than per call."""
        headers = self._headers
        if headers is None or headers["Authorization"] != auth:
            headers = self._headers = {"Authorization": auth, "Content-Type": _wire.FORM}
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


def _too_large(status: int, method: str, limit: int) -> ProtocolError:
    return ProtocolError(f"answer is larger than the {limit}-byte limit", status=status,
                         method=method)


def _transport_error(exc: aiohttp.ClientError, method: str) -> Exception:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSVerificationError(f"{method}: server certificate did not verify: {exc}",
                                    sent=False)
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass both
        # A connect timeout sent nothing; a read timeout may follow an applied request.
        return RequestTimeoutError(f"{method}: {type(exc).__name__}: {exc}",
                                   sent=not isinstance(exc, aiohttp.ConnectionTimeoutError))
    if isinstance(exc, aiohttp.ClientPayloadError):
        return IncompleteResponseError(f"answer body broken off ({type(exc).__name__})", status=0,
                             method=method)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolError(f"malformed HTTP answer ({exc.message})", status=exc.status,
                             method=method)
    if isinstance(exc, aiohttp.ClientConnectorError):  # no connection: nothing was sent
        return ConnectError(f"{method}: {type(exc).__name__}: {exc}", sent=False)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ConnectError(f"{method}: {type(exc).__name__}: {exc}")
    return TransportError(f"{method}: {type(exc).__name__}: {exc}")
