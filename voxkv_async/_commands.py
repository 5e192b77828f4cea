"""Checked commands, and the one primitive that runs them.

A :class:`Command` is one API call ready to go: its method, the stored key it is about,
its encoded form body and how its answer is read. :class:`Commands` builds them for one
view of the storage (all of it, or a namespace's keys), checking every argument once,
there, against the API's limits (:mod:`._validation`); nothing downstream checks again.
A bulk run builds each item's command as it takes the item from its input, so a bad item
fails at once and its attempts send what was checked.

:class:`Executor` is the primitive the calls are written over, as redis-py's command
mixins are written over ``execute_command`` and typed by ``CommandsProtocol``: a command
builder (``_commands``) and ``_execute(command, options)``. ``VoxKV`` runs a command
through its read path and send chain; a namespace view builds prefixed commands and runs
them through its client, giving keys back relative. :class:`CallOptions` and
:class:`SetOptions` are the per-call options, declared once for every method taking them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypedDict, TypeVar, cast

import attrs

from . import _wire
from ._calls import KEY_MISSING
from ._errors import ValidationError
from ._models import KeyInfo, KeyValueItem
from ._retry import RetryPolicy
from ._validation import KEY_MAX, check_count, check_key, check_offset, check_value

__all__ = [
    "CallOptions",
    "Command",
    "Commands",
    "Executor",
    "Expiry",
    "ExpiryOptions",
    "SetOptions",
    "check_options",
    "read_found",
]

T = TypeVar("T")
#: A checked expiry: ``("ttl", seconds)`` or ``("expires_at", unix_seconds)``.
Expiry = tuple[str, int]


class CallOptions(TypedDict, total=False):
    """The options every single call takes (``set``, ``get``, ``delete``, the listings).

    Attributes:
        retry: The retry policy of this call, instead of the client's.
        timeout: Seconds for the whole call, retries included, instead of
            ``Timeouts.deadline``; past it, :class:`~voxkv_async.RequestTimeoutError`.
            A listing's iterator applies it to each page.
    """

    retry: RetryPolicy | None
    timeout: float | None


class ExpiryOptions(TypedDict, total=False):
    """When a stored item expires: at most one of the two (``set`` and ``set_many``).

    With neither, the API's default TTL of 30 days is sent.

    Attributes:
        ttl: Seconds to live, 0..7,776,000 (90 days).
        expires_at: Expiry as Unix seconds or an aware datetime, instead of ``ttl``;
            between now and now + 90 days (60 s of slack for clock skew).
    """

    ttl: int | None
    expires_at: int | datetime | None


class SetOptions(ExpiryOptions, CallOptions, total=False):
    """The options of ``set`` and ``set_json``: :class:`ExpiryOptions` and
    :class:`CallOptions`."""


def check_options(call: str, options: Mapping[str, object], allowed: type) -> None:
    """A ``TypeError`` for a keyword ``call`` does not take, as Python gives for one.

    The options come as ``**options`` typed by a TypedDict: the type checker refuses an
    unknown name, this refuses it at run time (a mistyped ``tll=`` must not pass unseen).
    """
    if not options:  # the common case, kept cheap: this runs on every call
        return
    known: frozenset[str] = allowed.__optional_keys__  # type: ignore[attr-defined]
    for name in options:
        if name not in known:
            raise TypeError(f"{call}() got an unexpected keyword argument {name!r}")


class Command(Generic[T]):
    """One checked API call, ready to be sent.

    Attributes:
        method: The API method (``SetKeyValueItem`` ...).
        key: The stored key or key prefix the call is about; ``""`` for none.
        body: The form body (it holds the value: never shown).
        read: Turns the answer's ``result`` into what the call returns.
        missing_ok: An answer saying "no such key" is a result, not an error.
    """

    __slots__ = ("body", "key", "method", "missing_ok", "read")

    def __init__(self, method: str, key: str, body: str, read: Callable[[Any], T], *,
                 missing_ok: bool = False) -> None:
        self.method = method
        self.key = key
        self.body = body
        self.read = read
        self.missing_ok = missing_ok

    def __repr__(self) -> str:
        return f"<Command {self.method} {self.key!r}>"


def read_found(result: object) -> KeyValueItem | None:
    """The item of a Get answer; ``None`` when the key is missing, however said."""
    return None if result is KEY_MISSING else _wire.read_get(result)


def _read_deleted(result: object) -> bool:
    return result is not KEY_MISSING and _wire.read_deleted(result)


class Commands:
    """Builds the checked commands of one view of the storage.

    Args:
        wire: Encodes the bodies (of one application).
        prefix: The view's prefix, separator included; ``""`` for the whole storage.
            Keys given to a view are relative to it and the prefix counts toward the
            200-character limit.
    """

    __slots__ = ("_wire", "prefix")

    def __init__(self, wire: _wire.RequestBuilder, prefix: str = "") -> None:
        self._wire = wire
        self.prefix = prefix

    def under(self, prefix: str) -> Commands:
        """The commands of the view with this (full) prefix."""
        return Commands(self._wire, prefix)

    def key(self, key: object, field: str = "key") -> str:
        """The stored key of ``key``; :class:`ValidationError` if invalid (once prefixed)."""
        checked = check_key(key, field)
        prefix = self.prefix
        if not prefix:
            return checked
        full = prefix + checked
        if len(full) > KEY_MAX:
            raise ValidationError(
                field,
                f"must be at most {KEY_MAX - len(prefix)} characters in namespace "
                f"{prefix!r}: its prefix takes {len(prefix)} of the {KEY_MAX}",
                f"{len(checked)} characters ({len(full)} with the prefix)",
            )
        return full

    def relative(self, key: str) -> str:
        """``key`` without this view's prefix."""
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def view(self, result: T) -> T:
        """A call's result with its keys relative to this view."""
        if not self.prefix:
            return result
        if isinstance(result, list):
            return cast(T, [self.view(entry) for entry in result])
        if isinstance(result, KeyValueItem | KeyInfo):
            return cast(T, attrs.evolve(result, key=self.relative(result.key)))
        return result  # None, a bool

    # --- the five calls ---------------------------------------------------------------

    def set(self, key: object, value: object, expiry: Expiry) -> Command[KeyValueItem]:
        """``SetKeyValueItem``; ``expiry`` as checked by ``check_expiry``."""
        full = self.key(key)
        text = check_value(value)

        def read(result: object) -> KeyValueItem:
            return _wire.read_set(result, full, text)

        return Command(_wire.SET, full, self._wire.set(full, text, expiry), read)

    def get(self, key: object) -> Command[KeyValueItem | None]:
        """``GetKeyValueItem``: the item, or ``None``."""
        full = self.key(key)
        return Command(_wire.GET, full, self._wire.key(full), read_found, missing_ok=True)

    def delete(self, key: object) -> Command[bool]:
        """``DelKeyValueItem``: whether there was an item to delete."""
        full = self.key(key)
        return Command(_wire.DEL, full, self._wire.key(full), _read_deleted, missing_ok=True)

    def items(self, prefix: str, count: int, offset: int) -> Command[list[KeyValueItem]]:
        """A ``GetKeyValueItems`` page (the API needs a prefix; a view's own by default)."""
        full = self._prefix(prefix)
        return Command(_wire.ITEMS, full, self._page(full, count, offset), _wire.read_items)

    def keys(self, prefix: str | None, count: int, offset: int) -> Command[list[KeyInfo]]:
        """A ``GetKeyValueKeys`` page; every key without a prefix (a view's by default)."""
        full = None if prefix is None and not self.prefix else self._prefix(prefix or "")
        return Command(_wire.KEYS, full or "", self._page(full, count, offset),
                       _wire.read_keys)

    def _prefix(self, prefix: str) -> str:
        """The stored prefix of a listing: a view's own for ``""``."""
        return self.prefix if prefix == "" and self.prefix else self.key(prefix, "prefix")

    def _page(self, prefix: str | None, count: int, offset: int) -> str:
        return self._wire.page(prefix, check_count(count), check_offset(offset))


class Executor(Protocol):
    """The primitive the calls are written over: build a checked command, run it.

    ``VoxKV`` and namespace views provide it; :class:`~voxkv_async._operations.Operations`
    writes every call once over it, and bulk runs build and run their items' commands
    through it (:class:`~voxkv_async._bulk.protocol.BulkClient`).
    """

    #: Builds this view's commands (checks the arguments, prefixes the keys).
    _commands: Commands

    async def _execute(self, command: Command[T], options: CallOptions) -> T:
        """Run ``command`` with the per-call ``options``; what its ``read`` gives."""
        ...
