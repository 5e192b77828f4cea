"""The calls, written once: :class:`Operations`, mixed into ``VoxKV`` and namespace views.

Each method checks its arguments into a :class:`~voxkv_async._commands.Command` (through
the host's ``_commands``) and runs it with the host's ``_execute``: the primitive of
:class:`~voxkv_async._commands.Executor`, as redis-py's command mixins run everything
through ``execute_command``. The per-call options are TypedDicts
(:class:`~voxkv_async.CallOptions`, :class:`~voxkv_async.SetOptions`, ...) that the JSON
methods (:class:`~voxkv_async._codecs.CodecMethods`) take as they are, so a new option
of a call is one field in one TypedDict, read in one place. The bulk operations hand
:mod:`._bulk` the host's client (for its retry settings) and the host itself, through
which a run builds and runs its items' commands the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar, Unpack

from . import _bulk, _wire
from ._commands import CallOptions, Executor, SetOptions, check_options
from ._listing import Listing, ListingOptions, walk
from ._models import KeyInfo, KeyValueItem
from ._validation import MAX_COUNT, check_expiry

if TYPE_CHECKING:
    from ._bulk import BulkClient, BulkOptions, BulkReport, KeysInput, SetInput
    from ._bulk.operations import SetManyOptions

__all__ = ["Operations"]

L = TypeVar("L", KeyValueItem, KeyInfo)


class Operations(Executor):
    """``set``, ``get``, ``delete``, the listings and the bulk operations, over
    ``_execute``."""

    __slots__ = ()

    @property
    def _client(self) -> BulkClient:
        """The client whose bulk runs this view's bulk operations join (itself, for one)."""
        raise NotImplementedError

    async def set(self, key: str, value: str, **options: Unpack[SetOptions]) -> KeyValueItem:
        """Create or update ``key`` (``SetKeyValueItem``, an upsert).

        Args:
            key: 1..200 characters: Latin or Cyrillic letters, digits, ``_ - : ; . # +``.
            value: Up to 2000 characters.
            options: :class:`SetOptions`: ``ttl`` or ``expires_at`` (with neither, the
                API's default TTL of 30 days is sent), ``retry``, ``timeout``.

        Returns:
            The stored item, with the server's ``expires_at``.
        """
        check_options("set", options, SetOptions)
        expiry = check_expiry(options.get("ttl"), options.get("expires_at"))
        return await self._execute(self._commands.set(key, value, expiry), options)

    async def get(self, key: str, **options: Unpack[CallOptions]) -> KeyValueItem | None:
        """The item stored under ``key``, or ``None`` if there is none.

        ``options`` (:class:`CallOptions`) are as for :meth:`set`. Concurrent calls for
        one key may share one request (see ``coalesce``); a call with its own ``retry``
        never does, one with its own ``timeout`` waits for the shared answer at most that
        long.
        """
        check_options("get", options, CallOptions)
        return await self._execute(self._commands.get(key), options)

    async def delete(self, key: str, **options: Unpack[CallOptions]) -> bool:
        """Delete ``key``; ``True`` if it existed, ``False`` if there was nothing to delete.

        Idempotent: a retried delete that finds the key already gone returns ``False``.
        ``options`` (:class:`CallOptions`) are as for :meth:`set`.
        """
        check_options("delete", options, CallOptions)
        return await self._execute(self._commands.delete(key), options)

    async def items(self, prefix: str = "", *, count: int = MAX_COUNT, offset: int = 0,
                    **options: Unpack[CallOptions]) -> list[KeyValueItem]:
        """One page of the items whose keys start with ``prefix`` (``GetKeyValueItems``).

        Args:
            prefix: Key prefix (e.g. a ``ns:`` namespace), same rules as a key. The API
                needs one: on the client it is required, on a namespace view it
                defaults to the whole view.
            count: Page size, 1..50.
            offset: Items to skip.
            options: :class:`CallOptions`, as for :meth:`set`.
        """
        check_options("items", options, CallOptions)
        return await self._execute(self._commands.items(prefix, count, offset), options)

    async def keys(self, prefix: str | None = None, *, count: int = MAX_COUNT,
                   offset: int = 0, **options: Unpack[CallOptions]) -> list[KeyInfo]:
        """One page of keys, all or those starting with ``prefix`` (``GetKeyValueKeys``);
        on a namespace view, its keys."""
        check_options("keys", options, CallOptions)
        return await self._execute(self._commands.keys(prefix, count, offset), options)

    def iter_items(self, prefix: str = "", *, page_size: int = MAX_COUNT,
                   **options: Unpack[ListingOptions]) -> Listing[KeyValueItem]:
        """Every item whose key starts with ``prefix``, in the server's order.

        Pages are fetched ahead, several at once (see :class:`ListingOptions`), paced
        like bulk runs. Keys present throughout the walk are listed exactly once even
        under concurrent writes; keys written or deleted meanwhile may or may not be
        (see :class:`ListingReport`).
        """
        check_options("iter_items", options, ListingOptions)
        return self._walk(self.items, _wire.ITEMS, prefix, page_size, options)

    def iter_keys(self, prefix: str | None = None, *, page_size: int = MAX_COUNT,
                  **options: Unpack[ListingOptions]) -> Listing[KeyInfo]:
        """Every key (starting with ``prefix``, if given), as :meth:`iter_items`."""
        check_options("iter_keys", options, ListingOptions)
        return self._walk(self.keys, _wire.KEYS, prefix, page_size, options)

    def _walk(self, page: Callable[..., Awaitable[list[L]]], method: str,
              prefix: str | None, page_size: int, options: ListingOptions) -> Listing[L]:
        """The one place the iterators walk a listing (``page`` fetches one page)."""
        return walk(partial(page, prefix), method, page_size, options, self._client.events)

    # --- bulk ----------------------------------------------------------------------------

    async def set_many(self, items: SetInput,
                       **options: Unpack[SetManyOptions]) -> BulkReport:
        """Set many items concurrently, streaming them from ``items`` in bounded memory.

        Args:
            items: A mapping of key to value, or a sync or async iterable of
                ``(key, value)`` pairs or :class:`KeyValueItem` s (an item's own
                ``expires_at`` wins over ``ttl``/``expires_at``). Read lazily.
            options: :class:`SetManyOptions`: ``ttl`` or ``expires_at`` for items
                without an expiry of their own, and the :class:`BulkOptions`
                (``retry`` and ``timeout`` apply to each item).

        Returns:
            A :class:`BulkReport` in which every input item is counted exactly once, as
            succeeded or failed (with its exception, and the item as given). Invalid
            items fail without a request; the others go on.
        """
        return await _bulk.set_many(self._client, items, via=self, **options)

    async def get_many(self, keys: KeysInput,
                       **options: Unpack[BulkOptions]) -> list[KeyValueItem | None]:
        """Get many keys concurrently: the items in input order, ``None`` where missing.

        Raises :class:`BulkError` if any key failed (``raise_on_error`` defaults to
        ``True`` here: ``None`` alone cannot tell failed from missing). The list is as
        long as the input, so call it on chunks of an unbounded stream.
        """
        return await _bulk.get_many(self._client, keys, via=self, **options)

    async def delete_many(self, keys: KeysInput,
                          **options: Unpack[BulkOptions]) -> BulkReport:
        """Delete many keys concurrently; keys already absent count as succeeded and in
        :attr:`BulkReport.missing`."""
        return await _bulk.delete_many(self._client, keys, via=self, **options)

