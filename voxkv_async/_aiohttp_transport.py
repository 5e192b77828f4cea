"""The default transport: the request's bytes over a pooled ``aiohttp`` session.

:class:`AiohttpTransport` owns the session (made inside the running loop on first use,
closed with the client unless it is the caller's), TLS, a FIFO queue of connection slots
in front of aiohttp's pool, each exchange's time limit, and the answer size limit. It
knows nothing of tokens, retries or JSON. aiohttp's exceptions become the client's
through one table, :data:`_FAILURES`, which also says whether the request may have left.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Callable
from os import PathLike
from typing import Any

import aiohttp
from yarl import URL

from ._config import Limits, Timeouts, make_ssl_context
from ._errors import (
    ClientClosedError,
    ConnectError,
    IncompleteResponseError,
    ProtocolError,
    TLSVerificationError,
    TransportError,
    VoxKVError,
    timed_out,
)
from ._transports import Request, Response, Transport

__all__ = ["AiohttpTransport", "transport_for"]

_Make = Callable[[str, str, aiohttp.ClientError, bool], VoxKVError]


def _tls(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    return TLSVerificationError(f"{method}: server certificate did not verify: {exc}",
                                sent=sent)


def _timeout(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    return timed_out(method, text, sent=sent)


def _broken_body(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    # may_have_applied: True, as the class says (an answer was coming).
    return IncompleteResponseError(f"answer body broken off ({type(exc).__name__})", status=0,
                                   method=method)


def _malformed(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    # may_have_applied: False, as for every ProtocolError.
    status = exc.status if isinstance(exc, aiohttp.ClientResponseError) else 0
    message = exc.message if isinstance(exc, aiohttp.ClientResponseError) else text
    return ProtocolError(f"malformed HTTP answer ({message})", status=status, method=method)


def _connect(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    return ConnectError(f"{method}: {text}", sent=sent)


def _other(method: str, text: str, exc: aiohttp.ClientError, sent: bool) -> VoxKVError:
    return TransportError(f"{method}: {text}", sent=sent)


#: aiohttp's exceptions, most specific first: the client's error for each, and whether
#: the call may have applied (the request may have left, and no answer says it did not).
#: The first row that matches decides.
_FAILURES: tuple[tuple[type[aiohttp.ClientError], _Make, bool], ...] = (
    (aiohttp.ClientConnectorCertificateError, _tls, False),
    # Timeouts (aiohttp's subclass TimeoutError): a connect timeout sent nothing, a read
    # timeout may follow an applied request.
    (aiohttp.ConnectionTimeoutError, _timeout, False),
    (aiohttp.ServerTimeoutError, _timeout, True),
    (aiohttp.ClientPayloadError, _broken_body, True),
    (aiohttp.ClientResponseError, _malformed, False),  # an answer came, if not HTTP
    (aiohttp.ClientConnectorError, _connect, False),  # no connection: nothing was sent
    (aiohttp.ClientConnectionError, _connect, True),
    (aiohttp.ClientError, _other, True),
)


def translate(exc: aiohttp.ClientError, method: str) -> VoxKVError:
    """The client's error for aiohttp's ``exc`` during a ``method`` request."""
    for kind, make, sent in _FAILURES:
        if isinstance(exc, kind):
            return make(method, f"{type(exc).__name__}: {exc}", exc, sent)
    raise AssertionError("unreachable: the last row matches every ClientError")


class AiohttpTransport:
    """The default :class:`~voxkv_async.Transport`: HTTPS through a pooled aiohttp session.

    ``VoxKV`` makes one from its own ``ssl``, ``ca_file``, ``insecure_skip_verify``,
    ``limits``, ``timeouts`` and ``session`` arguments; make one yourself only to pass it
    as ``VoxKV(transport=...)``.

    Args:
        ssl: A TLS context instead of the default (e.g. with a private CA).
        ca_file: A PEM file of the CAs to trust; default ``$VOXKV_CA_FILE``.
        insecure_skip_verify: Turn TLS verification off (logged as a warning).
        limits: Pool size, keep-alive, DNS cache, answer size limit.
        connect_timeout: Longest wait for a connection (pooled or new), seconds.
        session: A caller-owned ``aiohttp.ClientSession`` to use instead of our own; it
            is not closed by :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        ssl: _ssl.SSLContext | None = None,
        ca_file: str | PathLike[str] | None = None,
        insecure_skip_verify: bool = False,
        limits: Limits | None = None,
        connect_timeout: float = Timeouts().connect,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._ssl = make_ssl_context(ssl, ca_file, insecure_skip_verify)
        self._limits = limits or Limits()
        self._connect_timeout = connect_timeout
        self._session = session
        self._owns_session = session is None
        self._closed = False
        # Only a caller's session needs our TLS context per request; ours has it pooled.
        self._request_ssl: _ssl.SSLContext | bool = self._ssl if session is not None else True
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}  # parsed once: yarl parses nothing given a URL
        # A FIFO queue in front of aiohttp's pool. aiohttp lets a request that finds a
        # free connection take it ahead of those already waiting for one, so with more
        # calls in flight than connections some wait for seconds (and hit the connect
        # timeout, which covers waiting for the pool). Calls past the limit queue here, in
        # order, and aiohttp's pool never has waiters.
        self._slots = asyncio.Semaphore(self._limits.max_connections)

    def __repr__(self) -> str:
        return (f"<AiohttpTransport max_connections={self._limits.max_connections} "
                f"own_session={self._owns_session}>")

    async def send(self, request: Request, *, timeout: float) -> Response:  # noqa: ASYNC109
        """Send ``request``; its answer, or the client's error (see :data:`_FAILURES`)."""
        session = self._session if self._session is not None else self._open()
        method = request.method
        slots = self._slots
        if slots.locked():
            timeout = await self._queue_for_slot(method, timeout)
        else:
            await slots.acquire()  # free: returns at once
        try:
            async with session.post(
                self._url(request.url),
                data=request.body,
                headers=request.headers,
                timeout=self._timeout(timeout),
                ssl=self._request_ssl,
                allow_redirects=False,
            ) as resp:
                return Response(resp.status, resp.headers, await self._read(resp, method))
        except aiohttp.ClientError as exc:
            if self._closed:
                raise ClientClosedError("the client was closed while the call ran") from None
            # aiohttp's response errors hold the request's headers, token included: they
            # are not chained.
            cause = None if isinstance(exc, aiohttp.ClientResponseError) else exc
            raise translate(exc, method) from cause
        except TimeoutError as exc:  # the total time limit: the request may have left
            raise timed_out(method, f"no complete answer within {timeout:g} s",
                            sent=True) from exc
        finally:
            slots.release()

    async def aclose(self) -> None:
        """Close our session and its connections; safe to call more than once."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        """Our session, made on first use inside the running loop."""
        if self._closed:
            raise ClientClosedError("this transport is closed; make a new one")
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections,
            keepalive_timeout=self._limits.keepalive,
            ttl_dns_cache=self._limits.dns_cache_ttl,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False,
        )
        return self._session

    async def _queue_for_slot(self, method: str, time_limit: float) -> float:
        """Wait (in FIFO order) for a connection slot; the time limit left for the request."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout(time_limit):
                await self._slots.acquire()
        except TimeoutError:
            raise timed_out(method, f"no free connection within {time_limit:g} s",
                            sent=False) from None
        return max(0.001, time_limit - (loop.time() - start))

    def _url(self, url: str) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = URL(url)
            if len(self._urls) < 64:  # one per API method and base URL
                self._urls[url] = parsed
        return parsed

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


def transport_for(given: Transport | None, *, connect_timeout: float,
                  **settings: Any) -> Transport:
    """``given``, or (when ``None``) an :class:`AiohttpTransport` of ``settings``.

    A ``given`` transport must be a :class:`~voxkv_async.Transport`, and come without the
    settings of the default one: they would be silently ignored.
    """
    if given is None:
        return AiohttpTransport(connect_timeout=connect_timeout, **settings)
    if not isinstance(given, Transport):
        raise TypeError(f"transport must be a Transport (async send() and aclose()), "
                        f"got {type(given).__name__}")
    named = sorted(name for name, value in settings.items() if value not in (None, False))
    if named:
        raise ValueError(f"{', '.join(named)}: settings of the default transport; with "
                         "transport= given, configure that transport instead")
    return given
