"""``VoxKV``: the client an application holds for its whole life.

It composes the pieces, each in its own module: the request bodies and the reading of
answers (:mod:`._wire`), the retry policy (:mod:`._retry`), the transport that moves the
bytes (:mod:`._transport`, which signs through :mod:`._auth`), and the bulk operations
(:mod:`._bulk`). A call is: validate and build the body, run attempts under the retry
policy, each attempt a request through the transport, then read the result.
"""

from __future__ import annotations

import ssl as _ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import partial
from os import PathLike
from types import TracebackType
from typing import Self, TypeVar, Unpack

import aiohttp

from . import _bulk, _wire
from ._auth import TokenCache, TokenSettings
from ._bulk import BulkOptions, BulkReport, KeysInput, SetInput
from ._config import Limits, Timeouts, make_ssl_context, resolve_base_url
from ._credentials import Credentials
from ._errors import ApiError, ProtocolError, ValidationError, VoxKVError
from ._models import KeyInfo, KeyValueItem
from ._retry import AttemptHook, Retrier, RetryBudget, RetryPolicy
from ._stats import Stats
from ._transport import Transport
from ._validation import MAX_COUNT, check_application_id, check_count
from ._version import VERSION

__all__ = ["VoxKV"]

T = TypeVar("T")
#: What :meth:`VoxKV._call` returns for an error answer that means "no such key".
_KEY_MISSING = object()


class VoxKV:
    """An asyncio client for the Voximplant key-value storage of one application.

    Make one per application and process, share it between all tasks, and close it at
    shutdown (``async with`` does). Every method validates its arguments before any
    request, retries transient failures under :class:`RetryPolicy`, and raises a
    :class:`VoxKVError` subclass on failure.

    Args:
        credentials: The service account (:meth:`Credentials.from_file` ...).
        application_id: The application whose storage to use.
        application_name: Sent along when given (some accounts address apps by name).
        base_url: The API root; default ``$VOXKV_BASE_URL`` or the real API.
        ssl: A TLS context to use instead of the default (e.g. with a private CA).
        ca_file: A PEM file of the CAs to trust instead of the system's.
        insecure_skip_verify: Turn TLS verification off. Never in production; it is
            logged as a warning.
        limits: Pool size, keep-alive, DNS cache, response size limit.
        timeouts: Connect, per-attempt and per-call deadline.
        retry: The retry policy; ``RetryPolicy.disabled()`` switches retrying off.
        tokens: Token lifetime, back-dating and refresh margin.
        session: Use this ``aiohttp.ClientSession`` (yours to close) instead of our own.
        clock: Unix time source for token minting; inject a fake one in tests.
    """

    def __init__(
        self,
        credentials: Credentials,
        application_id: int,
        *,
        application_name: str | None = None,
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
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError(f"credentials must be a Credentials, got {type(credentials).__name__}")
        self.application_id = check_application_id(application_id)
        if application_name is not None and (
            not isinstance(application_name, str) or not application_name
        ):
            raise ValidationError(
                "application_name", "must be a non-empty str", repr(application_name)
            )
        self._requests = _wire.RequestBuilder(application_id, application_name)
        self.base_url = resolve_base_url(base_url)
        timeouts = timeouts or Timeouts()
        #: Counters of what this client has done (:class:`Stats`).
        self.stats = Stats()
        self._transport = Transport(
            TokenCache(credentials, tokens, clock=clock, stats=self.stats),
            self.base_url,
            make_ssl_context(ssl, ca_file, insecure_skip_verify),
            limits or Limits(),
            timeouts,
            self.stats,
            session=session,
            user_agent=f"voxkv_async/{VERSION} aiohttp/{aiohttp.__version__}",
        )
        self._retrier = Retrier(
            retry or RetryPolicy(), self.stats,
            attempt_timeout=timeouts.attempt, deadline=timeouts.deadline,
        )

    def __repr__(self) -> str:
        return f"<VoxKV application_id={self.application_id} base_url={str(self.base_url)!r}>"

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._transport.open()
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
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._transport.closed

    def add_attempt_hook(self, hook: AttemptHook) -> Callable[[], None]:
        """Call ``hook`` after every attempt of every call; returns a function removing it.

        The hook gets ``None`` when the attempt succeeded, or the :class:`VoxKVError` it
        failed with (before the retry policy decides what to do). Meant for metrics and
        for adaptive rate control (bulk operations use it to see throttling). It runs on
        the event loop and must be quick; an exception in it is logged, not raised.
        """
        hooks = self._retrier.hooks
        hooks.append(hook)
        return lambda: hooks.remove(hook) if hook in hooks else None

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force (a call's ``retry=`` overrides it for that call)."""
        return self._retrier.policy

    @property
    def retry_budget(self) -> RetryBudget:
        """The client-wide retry budget that every retry draws from (bulk runs included)."""
        return self._retrier.budget

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
            expires_at: Expiry as Unix seconds or an aware datetime, instead of ``ttl``.
                With neither, the API's default TTL of 30 days is sent.
            retry: The retry policy of this call, instead of the client's.
            timeout: Seconds for the whole call, retries included, instead of
                ``Timeouts.deadline``.

        Returns:
            The stored item, with the server's ``expires_at``.
        """
        body = self._requests.set(key, value, ttl, expires_at)
        result = await self._call(_wire.SET, body, key, retry, timeout)
        return _wire.read_set(result, key, value)

    async def get(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> KeyValueItem | None:
        """The item stored under ``key``, or ``None`` if there is none.

        ``retry`` and ``timeout`` are as for :meth:`set`.
        """
        body = self._requests.key(key)
        result = await self._call(_wire.GET, body, key, retry, timeout, missing_ok=True)
        return None if result is _KEY_MISSING else _wire.read_get(result)

    async def delete(
        self, key: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> bool:
        """Delete ``key``; ``True`` if it existed, ``False`` if there was nothing to delete.

        Idempotent: a retried delete that finds the key already gone returns ``False``.
        ``retry`` and ``timeout`` are as for :meth:`set`.
        """
        body = self._requests.key(key)
        result = await self._call(_wire.DEL, body, key, retry, timeout, missing_ok=True)
        return result is not _KEY_MISSING and _wire.read_deleted(result)

    async def items(self, prefix: str, *, count: int = MAX_COUNT, offset: int = 0
                    ) -> list[KeyValueItem]:
        """One page of the items whose keys start with ``prefix`` (``GetKeyValueItems``).

        Args:
            prefix: Key prefix (e.g. a ``ns:`` namespace), same rules as a key.
            count: Page size, 1..50.
            offset: Items to skip.
        """
        body = self._requests.items_page(prefix, count, offset)
        return _wire.read_items(await self._call(_wire.ITEMS, body, prefix))

    async def keys(self, prefix: str | None = None, *, count: int = MAX_COUNT, offset: int = 0
                   ) -> list[KeyInfo]:
        """One page of keys, all or those starting with ``prefix`` (``GetKeyValueKeys``)."""
        body = self._requests.keys_page(prefix, count, offset)
        return _wire.read_keys(await self._call(_wire.KEYS, body, prefix))

    async def iter_items(self, prefix: str, *, page_size: int = MAX_COUNT
                         ) -> AsyncIterator[KeyValueItem]:
        """Every item whose key starts with ``prefix``, page by page until exhausted.

        Pages are fetched by offset: keys written or deleted during the walk may be seen
        twice or missed, as with any offset pagination.
        """
        async for item in self._walk(self.items, _wire.ITEMS, prefix, page_size):
            yield item

    async def iter_keys(self, prefix: str | None = None, *, page_size: int = MAX_COUNT
                        ) -> AsyncIterator[KeyInfo]:
        """Every key (starting with ``prefix``, if given), page by page until exhausted."""
        async for info in self._walk(self.keys, _wire.KEYS, prefix, page_size):
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
            options: ``concurrency`` (64), ``rate_limit`` (requests/s), ``adaptive``,
                ``progress``, ``report``, ``on_failure``, ``raise_on_error``: see
                :class:`BulkOptions`.

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

    # --- plumbing ----------------------------------------------------------------------

    async def _walk(
        self,
        fetch: Callable[..., Awaitable[list[T]]],
        method: str,
        prefix: str | None,
        page_size: int,
    ) -> AsyncIterator[T]:
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

    async def _call(
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
        ``_KEY_MISSING`` instead of raising.
        """
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise ValidationError("timeout", "must be a number of seconds > 0", repr(timeout))
        self.stats.calls += 1
        try:
            return await self._retrier.call(
                partial(self._transport.request, method, body, key),
                method=method, key=key, policy=retry, deadline=timeout,
            )
        except VoxKVError as exc:
            if missing_ok and isinstance(exc, ApiError) and _wire.means_missing(exc):
                return _KEY_MISSING
            self.stats.errors[type(exc).__name__] += 1
            raise
