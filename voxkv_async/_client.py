"""``VoxKV``: the client an application holds for its whole life.

It composes the pieces, each in its own module: the request bodies and the reading of
answers (:mod:`._wire`), the send chain (:mod:`._calls`: the call, then the retries of
:mod:`._retry`, the token of :mod:`._auth`, one attempt of :mod:`._attempt`, and the
transport that moves the bytes, :mod:`._aiohttp_transport` by default), the bulk operations
(:mod:`._bulk`), the read path of ``get`` (:mod:`._coalesce`, :mod:`._cache`),
namespace views (:mod:`._namespace`), value codecs (:mod:`._codecs`) and telemetry
(:mod:`._telemetry`). A call is: validate and build the body, run attempts under the
retry policy, each attempt a request through the transport, then read the result.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from os import PathLike
from types import TracebackType
from typing import Any, Self, Unpack

import aiohttp

from . import _bulk, _wire
from ._aiohttp_transport import transport_for
from ._attempt import Attempt
from ._auth import Signed, TokenCache, TokenSettings, check_account_id
from ._bulk import BulkOptions, BulkReport, KeysInput, SetInput
from ._cache import CacheStore, ReadCache
from ._calls import KEY_MISSING, Caller, check_timeout, walk
from ._coalesce import Reads, fetcher
from ._codecs import CodecMethods
from ._config import Limits, Timeouts, resolve_base_url
from ._credentials import Credentials
from ._errors import ValidationError
from ._events import AttemptHook, EventStream, attempt_hook_subscriber
from ._models import KeyInfo, KeyValueItem
from ._namespace import Namespace, namespace_prefix
from ._retry import Retrier, RetryBudget, RetryPolicy
from ._stats import Stats
from ._telemetry import make_telemetry
from ._transports import Transport
from ._validation import MAX_COUNT, check_application_id
from ._version import VERSION

__all__ = ["VoxKV"]



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
        self._requests = _wire.RequestBuilder(application_id, application_name)
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
        failed with (before the retry policy decides what to do). Meant for metrics; it
        runs on the event loop and must be quick; an exception in it is logged, not
        raised. It is a subscriber of :attr:`events` that sees :class:`AttemptEnded`
        events only: subscribe to :attr:`events` for the status, the attempt number, the
        retries and the rest.
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

    # --- the five calls --------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: str,
        *,
        ttl: int | None = None,
        expires_at: int | datetime | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> KeyValueItem:
        """Create or update ``key`` (``SetKeyValueItem``, an upsert).

        Args:
            key: 1..200 characters: Latin or Cyrillic letters, digits, ``_ - : ; . # +``.
            value: Up to 2000 characters.
            ttl: Seconds to live, 0..7,776,000 (90 days).
            expires_at: Expiry as Unix seconds or an aware datetime, instead of ``ttl``;
                between now and now + 90 days (60 s of slack for clock skew).
                With neither, the API's default TTL of 30 days is sent.
            retry: The retry policy of this call, instead of the client's.
            timeout: Seconds for the whole call, retries included, instead of
                ``Timeouts.deadline``; past it, :class:`RequestTimeoutError`.

        Returns:
            The stored item, with the server's ``expires_at``.
        """
        body = self._requests.set(key, value, ttl, expires_at)
        with self._reads.writing(key) as write:
            item = _wire.read_set(await self._call(_wire.SET, body, key, retry, timeout),
                                  key, value)
            write.stored(item)
        return item

    async def get(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> KeyValueItem | None:
        """The item stored under ``key``, or ``None`` if there is none.

        ``retry`` and ``timeout`` are as for :meth:`set`. Concurrent calls for one key
        may share one request (see ``coalesce``); a call with its own ``retry`` never
        does, one with its own ``timeout`` waits for the shared answer at most that long.
        """
        body = self._requests.key(key)
        if self._caller.loop is not asyncio.get_running_loop():
            self._caller.bind_loop()
        if timeout is not None:
            check_timeout(timeout)
        return await self._reads.get(key, body, retry, timeout)

    async def delete(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> bool:
        """Delete ``key``; ``True`` if it existed, ``False`` if there was nothing to delete.

        Idempotent: a retried delete that finds the key already gone returns ``False``.
        ``retry`` and ``timeout`` are as for :meth:`set`.
        """
        body = self._requests.key(key)
        with self._reads.writing(key) as write:
            result = await self._call(_wire.DEL, body, key, retry, timeout, missing_ok=True)
            write.deleted()
        return result is not KEY_MISSING and _wire.read_deleted(result)

    async def items(self, prefix: str, *, count: int = MAX_COUNT, offset: int = 0,
                    retry: RetryPolicy | None = None, timeout: float | None = None
                    ) -> list[KeyValueItem]:
        """One page of the items whose keys start with ``prefix`` (``GetKeyValueItems``).

        Args:
            prefix: Key prefix (e.g. a ``ns:`` namespace), same rules as a key.
            count: Page size, 1..50.
            offset: Items to skip.
            retry: As for :meth:`set`.
            timeout: As for :meth:`set`.
        """
        body = self._requests.items_page(prefix, count, offset)
        return _wire.read_items(await self._call(_wire.ITEMS, body, prefix, retry, timeout))

    async def keys(self, prefix: str | None = None, *, count: int = MAX_COUNT, offset: int = 0,
                   retry: RetryPolicy | None = None, timeout: float | None = None
                   ) -> list[KeyInfo]:
        """One page of keys, all or those starting with ``prefix`` (``GetKeyValueKeys``)."""
        body = self._requests.keys_page(prefix, count, offset)
        return _wire.read_keys(await self._call(_wire.KEYS, body, prefix, retry, timeout))

    async def iter_items(self, prefix: str, *, page_size: int = MAX_COUNT,
                         retry: RetryPolicy | None = None, timeout: float | None = None
                         ) -> AsyncIterator[KeyValueItem]:
        """Every item whose key starts with ``prefix``, page by page until exhausted.

        Pages are fetched by offset: keys written or deleted during the walk may be seen
        twice or missed, as with any offset pagination. ``retry`` and ``timeout`` apply
        to each page's call.
        """
        fetch = partial(self.items, retry=retry, timeout=timeout)
        async for item in walk(fetch, _wire.ITEMS, prefix, page_size):
            yield item

    async def iter_keys(self, prefix: str | None = None, *, page_size: int = MAX_COUNT,
                        retry: RetryPolicy | None = None, timeout: float | None = None
                        ) -> AsyncIterator[KeyInfo]:
        """Every key (starting with ``prefix``, if given), page by page until exhausted."""
        fetch = partial(self.keys, retry=retry, timeout=timeout)
        async for info in walk(fetch, _wire.KEYS, prefix, page_size):
            yield info

    # --- bulk --------------------------------------------------------------------------

    async def set_many(
        self,
        items: SetInput,
        *,
        ttl: int | None = None,
        expires_at: int | datetime | None = None,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Set many items concurrently, streaming them from ``items`` in bounded memory.

        Args:
            items: A mapping of key to value, or a sync or async iterable of
                ``(key, value)`` pairs or :class:`KeyValueItem` s (an item's own
                ``expires_at`` wins over ``ttl``/``expires_at``). Read lazily.
            ttl: Seconds to live for items without an expiry of their own.
            expires_at: Or their expiry, as Unix seconds or an aware datetime.
            options: See :class:`BulkOptions` (``retry`` and ``timeout`` apply to each
                item).

        Returns:
            A :class:`BulkReport` in which every input item is counted exactly once, as
            succeeded or failed (with its exception). Invalid items fail without a
            request; the others go on.
        """
        return await _bulk.set_many(self, items, ttl=ttl, expires_at=expires_at, **options)

    async def get_many(
        self, keys: KeysInput, **options: Unpack[BulkOptions]
    ) -> list[KeyValueItem | None]:
        """Get many keys concurrently: the items in input order, ``None`` where missing.

        Raises :class:`BulkError` if any key failed (``raise_on_error`` defaults to
        ``True`` here: ``None`` alone cannot tell failed from missing). The list is as
        long as the input, so call it on chunks of an unbounded stream.
        """
        return await _bulk.get_many(self, keys, **options)

    async def delete_many(self, keys: KeysInput, **options: Unpack[BulkOptions]) -> BulkReport:
        """Delete many keys concurrently; keys already absent count as succeeded and in
        :attr:`BulkReport.missing`."""
        return await _bulk.delete_many(self, keys, **options)


def _cache_store(settings: ReadCache | None, clock: Callable[[], float]) -> CacheStore | None:
    """The read cache, aged by the client's clock when it was given one (a test's
    virtual clock), else by the monotonic clock (a wall-clock step must not age it)."""
    if settings is None:
        return None
    if clock is time.time:
        return CacheStore(settings)
    return CacheStore(settings, clock=clock, wall=clock)
