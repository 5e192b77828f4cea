"""The three bulk operations: ``set_many``, ``get_many`` and ``delete_many``.

Each turns its input into a stream of items and a per-item call, and hands both to the
:class:`~voxkv_async._bulk.engine.BulkRun`. They reach the client only through
:class:`~voxkv_async._bulk.protocol.BulkClient`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Unpack

from .._errors import ValidationError
from .._models import KeyValueItem
from .._retry import RetryPolicy
from .._validation import check_expiry, check_key, check_value
from .engine import BulkRun
from .items import Item
from .options import BulkOptions, RunSettings
from .protocol import BulkClient
from .report import BulkFailure, BulkReport

__all__ = [
    "ItemLike",
    "KeysInput",
    "SetInput",
    "delete_many",
    "get_many",
    "set_many",
    "unpack_item",
]

# Bulk runs retry items themselves (requeued, paced, paused in outages): each call they
# make is a single attempt.
ONE_ATTEMPT = RetryPolicy.disabled()

ItemLike = tuple[str, str] | KeyValueItem
"""One item of ``set_many``'s input: a ``(key, value)`` pair or a :class:`KeyValueItem`."""
SetInput = Mapping[str, str] | Iterable[ItemLike] | AsyncIterable[ItemLike]
"""``set_many``'s input: a mapping of key to value, or a sync or async iterable of
``(key, value)`` pairs or :class:`KeyValueItem` s (a generator, a list, an async
generator, a database cursor wrapped as one). Read lazily, never held whole."""
KeysInput = Iterable[str] | AsyncIterable[str]
"""``get_many``'s and ``delete_many``'s input: a sync or async iterable of keys."""


async def set_many(
    kv: BulkClient,
    items: SetInput,
    *,
    ttl: int | None = None,
    expires_at: int | datetime | None = None,
    **options: Unpack[BulkOptions],
) -> BulkReport:
    """Set many items concurrently, streaming from ``items``; see :class:`BulkOptions`.

    Args:
        kv: The client.
        items: A mapping of key to value, or a sync or async iterable of ``(key, value)``
            pairs or :class:`KeyValueItem` s. Read lazily, never held whole.
        ttl: Seconds to live for items that carry no ``expires_at`` of their own.
        expires_at: Or their expiry (Unix seconds or an aware datetime).

    Returns:
        The report: every input item is counted as succeeded or failed.

    Raises:
        ValidationError: ``ttl``/``expires_at`` or an option is invalid (before any
            request; a bad *item* only fails that item).
        BulkError: With ``raise_on_error=True``, if any item failed.
        Exception: Whatever the input iterable raised, after the items already taken
            from it have finished (they are in the report).
    """
    check_expiry(ttl, expires_at)
    source: Iterable[object] | AsyncIterable[object] = (
        items.items() if isinstance(items, Mapping) else items
    )
    settings = _settings(kv, options)
    timeout = settings.timeout

    def prepare(raw: object) -> tuple[str, tuple[str, str, int | None]]:
        item = unpack_item(raw)
        return item[0], item

    async def attempt(item: Item) -> bool:
        key, value, own_expiry = item.prepared
        if own_expiry is not None:
            await kv.set(key, value, expires_at=own_expiry, retry=ONE_ATTEMPT, timeout=timeout)
        else:
            await kv.set(key, value, ttl=ttl, expires_at=expires_at, retry=ONE_ATTEMPT,
                         timeout=timeout)
        return True

    async def applied(failure: BulkFailure) -> bool:
        key, value, _ = unpack_item(failure.item)
        stored = await kv.get(key)
        return stored is not None and stored.value == value

    run = BulkRun(kv, "set_many", prepare, attempt, settings)
    await run.run(source)
    await _verify(run.report, options, settings, applied)
    return run.report


async def get_many(
    kv: BulkClient, keys: KeysInput, **options: Unpack[BulkOptions]
) -> list[KeyValueItem | None]:
    """Get many keys concurrently; the items in input order, ``None`` where missing.

    The machinery is bounded as in :func:`set_many`, but the returned list is as long as
    the input: for an unbounded stream, call it on chunks. A key that failed (see the
    report) is also ``None`` in the list unless ``raise_on_error`` (default ``True``
    here, since ``None`` alone cannot tell failed from missing) raises instead.
    """
    options.setdefault("raise_on_error", True)
    settings = RunSettings(kv, options)
    results: list[KeyValueItem | None] = []

    async def attempt(item: Item) -> bool:
        found = await kv.get(item.key, retry=ONE_ATTEMPT, timeout=settings.timeout)
        results[item.index] = found
        return found is not None

    run = BulkRun(kv, "get_many", _prepare_key, attempt, settings,
                  on_take=lambda: results.append(None))
    await run.run(_keys_source(keys))
    return results


async def delete_many(
    kv: BulkClient, keys: KeysInput, **options: Unpack[BulkOptions]
) -> BulkReport:
    """Delete many keys concurrently; keys already absent count as succeeded and missing."""
    settings = _settings(kv, options)

    async def attempt(item: Item) -> bool:
        return await kv.delete(item.key, retry=ONE_ATTEMPT, timeout=settings.timeout)

    async def applied(failure: BulkFailure) -> bool:
        key = failure.item
        return isinstance(key, str) and await kv.get(key) is None

    run = BulkRun(kv, "delete_many", _prepare_key, attempt, settings)
    await run.run(_keys_source(keys))
    await _verify(run.report, options, settings, applied)
    return run.report


def _settings(kv: BulkClient, options: BulkOptions) -> RunSettings:
    """The checked options; with ``verify``, failures are raised after the read-back."""
    if options.get("verify", False):
        return RunSettings(kv, {**options, "raise_on_error": False})
    return RunSettings(kv, options)


async def _verify(report: BulkReport, options: BulkOptions, settings: RunSettings,
                  applied: Callable[[BulkFailure], Awaitable[bool]]) -> None:
    """``verify=True``: settle the unknown outcomes, record them, then raise if asked."""
    if not options.get("verify", False):
        return
    checkpoint = settings.checkpoint

    async def applied_and_recorded(failure: BulkFailure) -> bool:
        found = await applied(failure)
        if found and checkpoint is not None:
            checkpoint.mark_done(failure.index)
        return found

    await report.verify(applied_and_recorded)
    if checkpoint is not None:
        await checkpoint.flush()
    if options.get("raise_on_error", False):
        report.raise_for_errors()


def _prepare_key(raw: object) -> tuple[str, str]:
    key = check_key(raw)
    return key, key


def _keys_source(keys: KeysInput) -> Iterable[object] | AsyncIterable[object]:
    if isinstance(keys, str | bytes):
        raise TypeError("keys must be an iterable of keys, not a single string")
    return keys


def unpack_item(raw: object) -> tuple[str, str, int | None]:
    """``(key, value, own expires_at)`` of one input item; ``ValidationError`` if no item.

    The key and value are checked too, so a bad item fails without a request.
    """
    if isinstance(raw, KeyValueItem):
        key, value, expires_at = raw.key, raw.value, raw.expires_at
    elif isinstance(raw, tuple | list) and len(raw) == 2:
        key, value, expires_at = raw[0], raw[1], None
    else:
        raise ValidationError(
            "item", "must be a (key, value) pair or a KeyValueItem", type(raw).__name__
        )
    return check_key(key), check_value(value), expires_at
