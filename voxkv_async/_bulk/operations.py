"""The three bulk operations: ``set_many``, ``get_many`` and ``delete_many``.

Each turns its input into a stream of items, each with its checked command (built once,
as the run takes the item: a bad item fails there, without a request), and a per-item
attempt that runs the command, and hands both to the
:class:`~voxkv_async._bulk.engine.BulkRun`. They reach the client only through
:class:`~voxkv_async._bulk.protocol.BulkClient`, the client's own call primitive.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, Unpack

from .._commands import CallOptions, Command, Executor, ExpiryOptions
from .._errors import ValidationError
from .._models import KeyValueItem
from .._retry import RetryPolicy
from .._validation import check_expiry
from .engine import BulkRun
from .items import Item
from .options import BulkOptions, RunSettings
from .protocol import BulkClient
from .report import BulkFailure, BulkReport

T = TypeVar("T")

__all__ = [
    "ItemLike",
    "KeysInput",
    "SetInput",
    "SetManyOptions",
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


class SetManyOptions(ExpiryOptions, BulkOptions, total=False):
    """The options of ``set_many`` and ``set_many_json``: :class:`ExpiryOptions` for the
    items without an expiry of their own, and the :class:`BulkOptions`."""


async def set_many(
    kv: BulkClient,
    items: SetInput | Mapping[str, Any] | Iterable[Any] | AsyncIterable[Any],
    *,
    via: Executor | None = None,
    encode: Callable[[Any], str] | None = None,
    **options: Unpack[SetManyOptions],
) -> BulkReport:
    """Set many items concurrently, streaming from ``items``; see :class:`BulkOptions`.

    Args:
        kv: The client.
        via: Where the items' commands are built and run: a namespace view of ``kv``
            (relative keys in, out and in the report); by default ``kv`` itself.
        items: A mapping of key to value, or a sync or async iterable of ``(key, value)``
            pairs or :class:`KeyValueItem` s. Read lazily, never held whole.
        encode: Turns each value into the text to store (``set_many_json``'s codec);
            an item it cannot encode fails alone.
        options: ``ttl`` or ``expires_at`` for items that carry no ``expires_at`` of
            their own, and the :class:`BulkOptions`.

    Returns:
        The report: every input item is counted as succeeded or failed.

    Raises:
        ValidationError: ``ttl``/``expires_at`` or an option is invalid (before any
            request; a bad *item* only fails that item).
        BulkError: With ``raise_on_error=True``, if any item failed.
        Exception: Whatever the input iterable raised, after the items already taken
            from it have finished (they are in the report).
    """
    expiry = check_expiry(options.pop("ttl", None), options.pop("expires_at", None))
    source: Iterable[object] | AsyncIterable[object] = (
        items.items() if isinstance(items, Mapping) else items
    )
    settings = _settings(kv, options)
    calls = kv if via is None else via
    commands = calls._commands
    once: CallOptions = {"retry": ONE_ATTEMPT, "timeout": settings.timeout}

    def unpack(raw: object) -> tuple[object, object, int | None]:
        key, value, own_expiry = unpack_item(raw)
        return key, value if encode is None else encode(value), own_expiry

    def prepare(raw: object) -> tuple[str, Command[KeyValueItem]]:
        # Checked once, here: the attempts send this command as it is.
        key, value, own_expiry = unpack(raw)
        own = expiry if own_expiry is None else check_expiry(None, own_expiry)
        command = commands.set(key, value, own)
        return command.key, command

    async def attempt(item: Item) -> bool:
        await calls._execute(item.prepared, once)
        return True

    async def applied(failure: BulkFailure) -> bool:
        key, value, _ = unpack(failure.item)
        stored = await calls._execute(commands.get(key), {})
        return stored is not None and stored.value == value

    run = BulkRun(kv, "set_many", prepare, attempt, settings)
    await run.run(source)
    await _verify(run.report, options, settings, applied)
    return run.report


async def get_many(
    kv: BulkClient, keys: KeysInput, *, via: Executor | None = None,
    **options: Unpack[BulkOptions],
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
    calls = kv if via is None else via
    once: CallOptions = {"retry": ONE_ATTEMPT, "timeout": settings.timeout}

    async def attempt(item: Item) -> bool:
        found = await calls._execute(item.prepared, once)
        results[item.index] = found
        return found is not None

    run = BulkRun(kv, "get_many", _prepare_key(calls._commands.get), attempt, settings,
                  on_take=lambda: results.append(None))
    await run.run(_keys_source(keys))
    return results


async def delete_many(
    kv: BulkClient, keys: KeysInput, *, via: Executor | None = None,
    **options: Unpack[BulkOptions],
) -> BulkReport:
    """Delete many keys concurrently; keys already absent count as succeeded and missing."""
    settings = _settings(kv, options)
    calls = kv if via is None else via
    commands = calls._commands
    once: CallOptions = {"retry": ONE_ATTEMPT, "timeout": settings.timeout}

    async def attempt(item: Item) -> bool:
        deleted: bool = await calls._execute(item.prepared, once)
        return deleted

    async def applied(failure: BulkFailure) -> bool:
        return await calls._execute(commands.get(failure.item), {}) is None

    run = BulkRun(kv, "delete_many", _prepare_key(commands.delete), attempt, settings)
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


def _prepare_key(build: Callable[[object], Command[T]]
                 ) -> Callable[[object], tuple[str, Command[T]]]:
    """An item's checked command, built once as the run takes the key."""

    def prepare(raw: object) -> tuple[str, Command[T]]:
        command = build(raw)
        return command.key, command

    return prepare


def _keys_source(keys: KeysInput) -> Iterable[object] | AsyncIterable[object]:
    if isinstance(keys, str | bytes):
        raise TypeError("keys must be an iterable of keys, not a single string")
    return keys


def unpack_item(raw: object) -> tuple[object, object, int | None]:
    """``(key, value, own expires_at)`` of one input item; ``ValidationError`` if no item.

    The key and value are checked where the item's command is built.
    """
    if isinstance(raw, KeyValueItem):
        return raw.key, raw.value, raw.expires_at
    if isinstance(raw, tuple | list) and len(raw) == 2:
        return raw[0], raw[1], None
    raise ValidationError(
        "item", "must be a (key, value) pair or a KeyValueItem", type(raw).__name__
    )
