"""``VoxKV``: the client an application holds for its whole life."""

from __future__ import annotations

import re
import ssl as _ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any, Self, Unpack
from urllib.parse import quote_plus, urlencode

import aiohttp

from . import __version__, _bulk
from ._auth import TokenCache, TokenSettings
from ._bulk import BulkOptions, BulkReport, KeysInput, SetInput
from ._config import Limits, Timeouts, make_ssl_context, resolve_base_url
from ._credentials import Credentials
from ._errors import ApiError, InvalidArgumentError, ProtocolError, ValidationError, VoxKVError
from ._models import KeyInfo, KeyValueItem, is_empty, list_of, parse_item, parse_key
from ._retry import AttemptHook, Retrier, RetryPolicy
from ._stats import Stats
from ._transport import Transport
from ._validation import (
    MAX_COUNT,
    check_application_id,
    check_count,
    check_expiry,
    check_key,
    check_offset,
    check_value,
)

__all__ = ["VoxKV"]

_SET, _GET, _DEL = "SetKeyValueItem", "GetKeyValueItem", "DelKeyValueItem"
_ITEMS, _KEYS = "GetKeyValueItems", "GetKeyValueKeys"

# How the API may say "no such key" when it answers with an error (UNKNOWN: its code for
# this is undocumented, so the message decides).
_MISSING = re.compile(r"not\s+(?:be\s+)?found|does\s*n[o']?t\s+exist|no\s+such|unknown\s+key", re.I)


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
        form: dict[str, Any] = {"application_id": application_id}
        if application_name is not None:
            if not isinstance(application_name, str) or not application_name:
                raise ValidationError(
                    "application_name", "must be a non-empty str", repr(application_name)
                )
            form["application_name"] = application_name
        self._common = urlencode(form)
        self.base_url = resolve_base_url(base_url)
        timeouts = timeouts or Timeouts()
        #: Counters of what this client has done (:class:`Stats`).
        self.stats = Stats()
        token_cache = TokenCache(credentials, tokens, clock=clock, on_sign=self._count_signing)
        self._transport = Transport(
            token_cache,
            self.base_url,
            make_ssl_context(ssl, ca_file, insecure_skip_verify),
            limits or Limits(),
            timeouts,
            self.stats,
            session=session,
            user_agent=f"voxkv_async/{__version__} aiohttp/{aiohttp.__version__}",
        )
        self._retrier = Retrier(
            retry or RetryPolicy(), self.stats,
            attempt_timeout=timeouts.attempt, deadline=timeouts.deadline,
        )

    def _count_signing(self) -> None:
        self.stats.token_signings += 1

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
        """The retry policy in force."""
        return self._retrier.policy

    # --- the five calls --------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: str,
        *,
        ttl: int | None = None,
        expires_at: int | datetime | None = None,
    ) -> KeyValueItem:
        """Create or update ``key`` (``SetKeyValueItem``, an upsert).

        Args:
            key: 1..200 characters: Latin or Cyrillic letters, digits, ``_ - : ; . # +``.
            value: Up to 2000 characters.
            ttl: Seconds to live, 0..7,776,000 (90 days).
            expires_at: Expiry as Unix seconds or an aware datetime, instead of ``ttl``.
                With neither, the API's default TTL of 30 days is sent.

        Returns:
            The stored item, with the server's ``expires_at``.
        """
        body = self._set_body(key, value, ttl, expires_at)
        result = await self._call(_SET, body, key)
        if type(result) is dict:
            return parse_item(result, _SET)
        # Some servers may answer a bare success flag: the item is what we sent.
        if result in (1, True, "1", "ok", "OK"):
            return KeyValueItem(key, value, None)
        raise ProtocolError(f"result is {type(result).__name__}, expected the item",
                            status=200, method=_SET)

    def _set_body(
        self, key: str, value: str, ttl: int | None, expires_at: int | datetime | None
    ) -> str:
        """The form body of a Set, after validating every argument (used by bulk too)."""
        check_key(key)
        check_value(value)
        name, seconds = check_expiry(ttl, expires_at)
        try:
            # quote_plus per field: the bytes urlencode() gives, at under half its cost.
            return (f"{self._common}&key={quote_plus(key)}&value={quote_plus(value)}"
                    f"&{name}={seconds}")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it, so no request
            raise ValidationError(
                "value", "must be valid Unicode text (no lone surrogates)",
                f"{len(value)} characters",
            ) from None

    async def get(self, key: str) -> KeyValueItem | None:
        """The item stored under ``key``, or ``None`` if there is none."""
        check_key(key)
        result = await self._call(_GET, self._key_body(key), key, missing=None)
        if is_empty(result):
            return None
        return parse_item(result, _GET)

    async def delete(self, key: str) -> bool:
        """Delete ``key``; ``True`` if it existed, ``False`` if there was nothing to delete.

        Idempotent: a retried delete that finds the key already gone returns ``False``.
        """
        check_key(key)
        result = await self._call(_DEL, self._key_body(key), key, missing=0)
        return not (is_empty(result) or result in (0, "0"))

    async def items(self, prefix: str, *, count: int = MAX_COUNT, offset: int = 0
                    ) -> list[KeyValueItem]:
        """One page of the items whose keys start with ``prefix`` (``GetKeyValueItems``).

        Args:
            prefix: Key prefix (e.g. a ``ns:`` namespace), same rules as a key.
            count: Page size, 1..50.
            offset: Items to skip.
        """
        check_key(prefix, "prefix")
        body = self._page_body(prefix, count, offset)
        page = list_of(await self._call(_ITEMS, body, prefix), _ITEMS)
        return [parse_item(x, _ITEMS) for x in page]

    async def keys(self, prefix: str | None = None, *, count: int = MAX_COUNT, offset: int = 0
                   ) -> list[KeyInfo]:
        """One page of keys, all or those starting with ``prefix`` (``GetKeyValueKeys``)."""
        if prefix is not None:
            check_key(prefix, "prefix")
        body = self._page_body(prefix, count, offset)
        page = list_of(await self._call(_KEYS, body, prefix), _KEYS)
        return [parse_key(x, _KEYS) for x in page]

    async def iter_items(self, prefix: str, *, page_size: int = MAX_COUNT
                         ) -> AsyncIterator[KeyValueItem]:
        """Every item whose key starts with ``prefix``, page by page until exhausted.

        Pages are fetched by offset: keys written or deleted during the walk may be seen
        twice or missed, as with any offset pagination.
        """
        async for item in self._walk(self.items, _ITEMS, prefix, page_size):
            yield item

    async def iter_keys(self, prefix: str | None = None, *, page_size: int = MAX_COUNT
                        ) -> AsyncIterator[KeyInfo]:
        """Every key (starting with ``prefix``, if given), page by page until exhausted."""
        async for info in self._walk(self.keys, _KEYS, prefix, page_size):
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
        self, fetch: Any, method: str, prefix: str | None, page_size: int
    ) -> AsyncIterator[Any]:
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

    def _key_body(self, key: str) -> str:
        return f"{self._common}&key={quote_plus(key)}"

    def _page_body(self, prefix: str | None, count: int, offset: int) -> str:
        params: dict[str, Any] = {"count": check_count(count), "offset": check_offset(offset)}
        if prefix is not None:
            params["key"] = prefix
        return f"{self._common}&{urlencode(params)}"

    async def _call(self, method: str, body: str, key: str | None, missing: Any = ...) -> Any:
        """Run one API call under the retry policy and count its outcome.

        ``missing``, when given, is returned instead of raising for an error that says
        the key does not exist.
        """
        self.stats.calls += 1
        transport = self._transport
        try:
            return await self._retrier.call(
                lambda timeout: transport.request(method, body, key, timeout),
                method=method,
                key=key,
            )
        except VoxKVError as exc:
            if missing is not ... and _means_missing(exc):
                return missing
            self.stats.errors[type(exc).__name__] += 1
            raise


def _means_missing(exc: VoxKVError) -> bool:
    # Only an argument error or an unclassified one can mean "no such key": an
    # application, permission or auth error that says "not found" is about something else.
    if not isinstance(exc, ApiError) or type(exc) not in (ApiError, InvalidArgumentError):
        return False
    if exc.status != 200:  # a 404 "Not Found" from a gateway is no answer about the key
        return False
    return _MISSING.search(exc.msg) is not None and "application" not in exc.msg.lower()
