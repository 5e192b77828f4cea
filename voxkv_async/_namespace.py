"""Namespace views: ``users = kv.namespace("users")`` works on the keys ``users:...``.

A view has the client's methods (single and bulk, listing and iterators, JSON) and
takes and returns keys relative to its prefix: ``await users.set("42", v)`` stores
``users:42`` and ``users.iter_items()`` yields ``KeyValueItem("42", ...)``. Views nest:
``users.namespace("vip")`` works on ``users:vip:...``. The prefix counts toward the
200-character key limit: a key too long once prefixed is a
:class:`~voxkv_async.ValidationError` naming both lengths, before any request.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack

import attrs

from ._codecs import CodecMethods
from ._errors import ValidationError
from ._models import KeyInfo, KeyValueItem
from ._validation import KEY_MAX, MAX_COUNT, check_key

if TYPE_CHECKING:
    from ._bulk import BulkOptions, BulkReport, KeysInput, SetInput
    from ._client import VoxKV
    from ._retry import RetryPolicy

__all__ = ["SEPARATOR", "Namespace"]

#: Between a namespace and the keys in it (the API's own ``ns:`` convention).
SEPARATOR = ":"


class Namespace(CodecMethods):
    """A view of the keys under one prefix; made by :meth:`VoxKV.namespace`.

    Attributes:
        prefix: The full prefix, separator included (``"users:vip:"``).
    """

    __slots__ = ("_kv", "prefix")

    def __init__(self, kv: VoxKV, prefix: str) -> None:
        self._kv = kv
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"<Namespace {self.prefix!r} of {self._kv!r}>"

    def namespace(self, name: str) -> Namespace:
        """A view nested in this one: ``users.namespace("vip")`` is ``users:vip:``."""
        return Namespace(self._kv, namespace_prefix(self.prefix, name))

    def full_key(self, key: str, field: str = "key") -> str:
        """The stored key of ``key``; :class:`ValidationError` if invalid once prefixed."""
        check_key(key, field)
        full = self.prefix + key
        if len(full) > KEY_MAX:
            raise ValidationError(
                field,
                f"must be at most {KEY_MAX - len(self.prefix)} characters in namespace "
                f"{self.prefix!r}: its prefix takes {len(self.prefix)} of the {KEY_MAX}",
                f"{len(key)} characters ({len(full)} with the prefix)",
            )
        return full

    def relative(self, key: str) -> str:
        """``key`` without this view's prefix."""
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    # --- single calls -------------------------------------------------------------------

    async def set(self, key: str, value: str, *, ttl: int | None = None,
                  expires_at: int | datetime | None = None, retry: RetryPolicy | None = None,
                  timeout: float | None = None) -> KeyValueItem:
        """:meth:`VoxKV.set` of the prefixed key; the item with its relative key."""
        item = await self._kv.set(self.full_key(key), value, ttl=ttl, expires_at=expires_at,
                                  retry=retry, timeout=timeout)
        return self._item(item)

    async def get(self, key: str, *, retry: RetryPolicy | None = None,
                  timeout: float | None = None) -> KeyValueItem | None:
        """:meth:`VoxKV.get` of the prefixed key; the item with its relative key."""
        item = await self._kv.get(self.full_key(key), retry=retry, timeout=timeout)
        return None if item is None else self._item(item)

    async def delete(self, key: str, *, retry: RetryPolicy | None = None,
                     timeout: float | None = None) -> bool:
        """:meth:`VoxKV.delete` of the prefixed key."""
        return await self._kv.delete(self.full_key(key), retry=retry, timeout=timeout)

    async def items(self, prefix: str = "", *, count: int = MAX_COUNT, offset: int = 0,
                    retry: RetryPolicy | None = None, timeout: float | None = None
                    ) -> list[KeyValueItem]:
        """One page of this namespace's items (whose relative keys start with ``prefix``)."""
        page = await self._kv.items(self._prefix(prefix), count=count, offset=offset,
                                    retry=retry, timeout=timeout)
        return [self._item(item) for item in page]

    async def keys(self, prefix: str | None = None, *, count: int = MAX_COUNT,
                   offset: int = 0, retry: RetryPolicy | None = None,
                   timeout: float | None = None) -> list[KeyInfo]:
        """One page of this namespace's keys, relative."""
        page = await self._kv.keys(self._prefix(prefix or ""), count=count, offset=offset,
                                   retry=retry, timeout=timeout)
        return [self._info(info) for info in page]

    async def iter_items(self, prefix: str = "", *, page_size: int = MAX_COUNT,
                         retry: RetryPolicy | None = None, timeout: float | None = None
                         ) -> AsyncIterator[KeyValueItem]:
        """Every item of this namespace (under ``prefix``), keys relative."""
        async for item in self._kv.iter_items(self._prefix(prefix), page_size=page_size,
                                              retry=retry, timeout=timeout):
            yield self._item(item)

    async def iter_keys(self, prefix: str | None = None, *, page_size: int = MAX_COUNT,
                        retry: RetryPolicy | None = None, timeout: float | None = None
                        ) -> AsyncIterator[KeyInfo]:
        """Every key of this namespace (under ``prefix``), relative."""
        async for info in self._kv.iter_keys(self._prefix(prefix or ""), page_size=page_size,
                                             retry=retry, timeout=timeout):
            yield self._info(info)

    # --- bulk -----------------------------------------------------------------------------

    async def set_many(self, items: SetInput, *, ttl: int | None = None,
                       expires_at: int | datetime | None = None,
                       **options: Unpack[BulkOptions]) -> BulkReport:
        """:meth:`VoxKV.set_many` with relative keys (the report names full keys)."""
        source: Any = items.items() if isinstance(items, Mapping) else items
        mapped: Any = (_map_async(source, self._pair) if isinstance(source, AsyncIterable)
                       else _map_sync(source, self._pair))
        return await self._kv.set_many(mapped, ttl=ttl, expires_at=expires_at, **options)

    async def get_many(self, keys: KeysInput, **options: Unpack[BulkOptions]
                       ) -> list[KeyValueItem | None]:
        """:meth:`VoxKV.get_many` with relative keys, in and out."""
        found = await self._kv.get_many(self._keys(keys), **options)
        return [None if item is None else self._item(item) for item in found]

    async def delete_many(self, keys: KeysInput, **options: Unpack[BulkOptions]
                          ) -> BulkReport:
        """:meth:`VoxKV.delete_many` with relative keys (the report names full keys)."""
        return await self._kv.delete_many(self._keys(keys), **options)

    # --- plumbing -------------------------------------------------------------------------

    def _prefix(self, prefix: str) -> str:
        return self.prefix if prefix == "" else self.full_key(prefix, "prefix")

    def _item(self, item: KeyValueItem) -> KeyValueItem:
        return attrs.evolve(item, key=self.relative(item.key))

    def _info(self, info: KeyInfo) -> KeyInfo:
        return attrs.evolve(info, key=self.relative(info.key))

    def _one_key(self, key: object) -> object:
        # A key that is no valid relative key is passed on as something the bulk run
        # refuses for that item alone: never unprefixed, so it cannot leave the view.
        if type(key) is str and key:
            return self.prefix + key
        return key if type(key) is not str else self.prefix + "\n"

    def _pair(self, raw: object) -> object:
        if isinstance(raw, KeyValueItem):
            return attrs.evolve(raw, key=self._one_key(raw.key))  # type: ignore[arg-type]
        if isinstance(raw, tuple | list) and len(raw) == 2:
            return self._one_key(raw[0]), raw[1]
        return raw

    def _keys(self, keys: KeysInput) -> Any:
        if isinstance(keys, str | bytes):
            raise TypeError("keys must be an iterable of keys, not a single string")
        if isinstance(keys, AsyncIterable):
            return _map_async(keys, self._one_key)
        return _map_sync(keys, self._one_key)


def namespace_prefix(parent: str, name: str) -> str:
    """``parent + name + ":"``, ``name`` checked as a key."""
    check_key(name, "namespace")
    prefix = parent + name + SEPARATOR
    if len(prefix) >= KEY_MAX:
        raise ValidationError("namespace", f"must leave room for keys: the prefix must be "
                              f"under {KEY_MAX} characters", f"{len(prefix)} characters")
    return prefix


def _map_sync(source: Iterable[Any], fn: Any) -> Iterator[Any]:
    for raw in source:
        yield fn(raw)


async def _map_async(source: AsyncIterable[Any], fn: Any) -> AsyncIterator[Any]:
    async for raw in source:
        yield fn(raw)
