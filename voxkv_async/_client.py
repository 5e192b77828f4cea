"""``VoxKV``: the client an application holds for its whole life.

It composes the pieces, each in its own module: the request bodies and the reading of
answers (:mod:`._wire`), the send chain (:mod:`._calls`: the call, then the retries of
:mod:`._retry`, the token of :mod:`._auth`, one attempt of :mod:`._attempt`, and the
transport that moves the bytes, :mod:`._aiohttp_transport` by default), the bulk operations
(:mod:`._bulk`), the read path of ``get`` (:mod:`._coalesce`, :mod:`._cache`),
namespace views (:mod:`._namespace`), value codecs (:mod:`._codecs`) and telemetry
(:mod:`._telemetry`). The calls themselves are written once, in :mod:`._operations`,
over the primitive this class provides (``_execute``): a call is a checked command
(:mod:`._commands`) run through the read path, then attempts under the retry policy,
each a request through the transport, then its answer read.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import time
import warnings
from collections.abc import Callable
from os import PathLike
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import aiohttp

from . import _wire
from ._aiohttp_transport import transport_for
from ._attempt import Attempt
from ._auth import Signed, TokenCache, TokenSettings, check_account_id
from ._cache import CacheStore, ReadCache
from ._calls import Caller, check_timeout
from ._coalesce import Reads, fetcher
from ._codecs import CodecMethods
from ._commands import CallOptions, Command, Commands
from ._config import Limits, Timeouts, resolve_base_url
from ._credentials import Credentials
from ._errors import ValidationError
from ._events import AttemptHook, EventStream, attempt_hook_subscriber
from ._models import KeyValueItem
from ._namespace import Namespace, namespace_prefix
from ._retry import Retrier, RetryBudget, RetryPolicy
from ._stats import Stats
from ._telemetry import make_telemetry
from ._transports import Transport
from ._validation import check_application_id
from ._version import VERSION

__all__ = ["VoxKV"]

T = TypeVar("T")
# The writes that keep the read path (coalescing, the read cache) consistent.
_WRITES = frozenset({_wire.SET, _wire.DEL})

class VoxKV(CodecMethods):
    """An asyncio client for the Voximplant key-value storage of one application.

    Make one per application and process, share it between all tasks, and close it at
    shutdown (``async with`` does). Every method validates its arguments before any
    request, retries transient failures under :class:`RetryPolicy`, and raises a
    :class:`VoxKVError` subclass on failure.

    Args:
        credentials: The service account (:meth:`Credentials.from_file` ...).
        application_id: The application whose storage to use.
        application_name: Sent along when given (some accounts address apps by name).
        account_id: Act for this (child) account: tokens are signed with the
            credentials' key and ``kid`` but name this account in ``iss``.
        base_url: The API root; default ``$VOXKV_BASE_URL`` or the real API.
        ssl: A TLS context to use instead of the default (e.g. with a private CA).
        ca_file: A PEM file of the CAs to trust instead of the system's; default
            ``$VOXKV_CA_FILE`` when neither this nor ``ssl`` is given.
        insecure_skip_verify: Turn TLS verification off. Never in production; it is
            logged as a warning.
        limits: Pool size, keep-alive, DNS cache, response size limit.
        timeouts: Connect, per-attempt and per-call deadline.
        retry: The retry policy; ``RetryPolicy.disabled()`` switches retrying off.
        tokens: Token lifetime, back-dating and refresh margin.
        session: Use this ``aiohttp.ClientSession`` (yours to close) instead of our own.
        clock: Unix time source for token minting; inject a fake one in tests.
        coalesce: Concurrent ``get`` calls of one key share one request (default on).
        read_cache: Serve ``get`` from a local cache with these bounds (default off).
        telemetry: OpenTelemetry spans and metrics when ``opentelemetry-api`` is
            importable (default on; ``False`` switches them off).
        tracer_provider: An OpenTelemetry ``TracerProvider`` instead of the global one.
        meter_provider: An OpenTelemetry ``MeterProvider`` instead of the global one.
        telemetry_keys: Put the key on spans (off: keys are often phone numbers).
        transport: Send requests through this :class:`Transport` (e.g. a
            :class:`MockTransport` in tests) instead of an :class:`AiohttpTransport` made
            from ``ssl``, ``ca_file``, ``insecure_skip_verify``, ``limits``, ``session``
            (refused beside it) and ``timeouts.connect`` (unused). Closing the client
            closes it.
    """

    def __init__(
        self,
        credentials: Credentials,
        application_id: int,
        *,
        application_name: str | None = None,
        account_id: int | str | None = None,
        base_url: str | None = None,
        ssl: _ssl.SSLContext | None = None,
        ca_file: str | PathLike[str] | None = None,
        insecure_skip_verify: bool = False,
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        tokens: TokenSettings | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        coalesce: bool = True,
        read_cache: ReadCache | None = None,
        telemetry: bool = True,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        telemetry_keys: bool = False,
        transport: Transport | None = None,
    ) -> None:
        self._owns_session = session is None and transport is None
        if not isinstance(credentials, Credentials):
            raise TypeError(f"credentials must be a Credentials, got {type(credentials).__name__}")
        self.application_id = check_application_id(application_id)
        if application_name is not None and (
            not isinstance(application_name, str) or not application_name
        ):
            raise ValidationError(
                "application_name", "must be a non-empty str", repr(application_name)
            )
        self.account_id = check_account_id(account_id)
        if read_cache is not None and not isinstance(read_cache, ReadCache):
            raise TypeError(f"read_cache must be a ReadCache, got {type(read_cache).__name__}")
        self._commands = Commands(_wire.RequestBuilder(application_id, application_name))
        self.base_url = resolve_base_url(base_url)
        timeouts = timeouts or Timeouts()
        #: What this client does, as events (:class:`EventStream`): ``kv.stats``, attempt
        #: hooks and OpenTelemetry subscribe to it; so can you (``kv.events.subscribe``).
        self.events = events = EventStream()
        #: Counters of what this client has done (:class:`Stats`), fed by its events.
        self.stats = Stats()
        events.subscribe(self.stats)
        self._transport = transport = transport_for(
            transport, connect_timeout=timeouts.connect, ssl=ssl, ca_file=ca_file,
            insecure_skip_verify=insecure_skip_verify, limits=limits, session=session)
        self._tokens = TokenCache(credentials, tokens, clock=clock, events=events,
                                  account_id=account_id)
        self._attempt = Attempt(transport, self.base_url,
                                user_agent=f"voxkv_async/{VERSION} aiohttp/{aiohttp.__version__}")
        self._retrier = Retrier(
            retry or RetryPolicy(), events,
            attempt_timeout=timeouts.attempt, deadline=timeouts.deadline,
        )
        self._caller = Caller(Signed(self._tokens, self._attempt, events), self._retrier,
                              events)
        self._call = self._caller.call
        otel = make_telemetry(telemetry, self.stats, tracer_provider=tracer_provider,
                              meter_provider=meter_provider, keys=telemetry_keys)
        if otel is not None:
            events.subscribe(otel)
        self._reads = Reads(fetcher(self._call), events, coalesce=coalesce,
                            cache=_cache_store(read_cache, clock))

    def __repr__(self) -> str:
        child = f" account_id={self.account_id!r}" if self.account_id is not None else ""
        return (f"<VoxKV application_id={self.application_id}{child} "
                f"base_url={str(self.base_url)!r}>")

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._caller.bind_loop()
        self._attempt.check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool. Idempotent; the client cannot be used afterwards."""
        await self._attempt.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._attempt.closed

    @property
    def transport(self) -> Transport:
        """The :class:`Transport` requests go through (an :class:`AiohttpTransport` unless
        ``transport=`` said otherwise)."""
        return self._transport

    def __del__(self) -> None:
        # Said once, in our words, before aiohttp's own "Unclosed client session".
        caller = getattr(self, "_caller", None)
        if (caller is not None and caller.loop is not None and self._owns_session
                and not self._attempt.closed and not getattr(self, "_warned", False)):
            self._warned = True
            warnings.warn(
                f"{self!r} was garbage-collected while open: close it with "
                "'await kv.close()' or use 'async with VoxKV(...) as kv:'",
                ResourceWarning, stacklevel=2,
            )

    def add_attempt_hook(self, hook: AttemptHook) -> Callable[[], None]:
        """Call ``hook`` after every attempt of every call; returns a function removing it.

        The hook gets ``None`` when the attempt succeeded, or the :class:`VoxKVError` it
        failed with (before the retry policy decides what to do). Meant for metrics (bulk
        runs see throttling from their items' own outcomes, not through hooks). It runs
        on the event loop and must be quick; an exception in it is logged, not raised.
        It is a subscriber of :attr:`events` that sees :class:`AttemptEnded` events only.
        """
        return self.events.subscribe(attempt_hook_subscriber(hook))

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force (a call's ``retry=`` overrides it for that call)."""
        return self._retrier.policy

    @property
    def retry_budget(self) -> RetryBudget:
        """The client-wide retry budget that every retry draws from (bulk runs included)."""
        return self._retrier.budget

    def namespace(self, name: str) -> Namespace:
        """A view of the keys ``name:...``, with this client's methods and relative keys."""
        return Namespace(self, namespace_prefix("", name))

    # --- the calls: written once in Operations, over this primitive --------------------

    @property
    def _client(self) -> VoxKV:
        return self

    async def _execute(self, command: Command[T], options: CallOptions) -> T:
        """Run one checked command: a ``get`` through the read path (coalescing, the read
        cache), a write so that later reads see it (read-your-writes), a listing
        straight through the send chain."""
        retry, timeout = options.get("retry"), options.get("timeout")
        method, key = command.method, command.key
        if method == _wire.GET:
            if self._caller.loop is not asyncio.get_running_loop():
                self._caller.bind_loop()
            if timeout is not None:
                check_timeout(timeout)
            # A GET command reads a KeyValueItem | None: T is that here.
            return cast(T, await self._reads.get(key, command.body, retry, timeout))
        if method not in _WRITES:
            return await self._send(command, retry, timeout)
        with self._reads.writing(key) as write:
            result = await self._send(command, retry, timeout)
            if method == _wire.SET:
                write.stored(cast(KeyValueItem, result))
            else:
                write.deleted()
        return result

    async def _send(self, command: Command[T], retry: RetryPolicy | None,
                    timeout: float | None) -> T:
        return command.read(await self._call(command.method, command.body, command.key or None,
                                             retry, timeout, missing_ok=command.missing_ok))


def _cache_store(settings: ReadCache | None, clock: Callable[[], float]) -> CacheStore | None:
    """The read cache, aged by the client's clock when it was given one (a test's
    virtual clock), else by the monotonic clock (a wall-clock step must not age it)."""
    if settings is None:
        return None
    if clock is time.time:
        return CacheStore(settings)
    return CacheStore(settings, clock=clock, wall=clock)
