"""Values as objects: the :class:`Codec` interface, :class:`JsonCodec`, and the JSON methods.

``set_json``/``get_json`` (and the bulk ``set_many_json``/``get_many_json``) are on the
client and on namespace views alike (:class:`CodecMethods`), written around the same
calls with the same options. Each takes ``codec=``: JSON
by default, any object with ``name``, ``encode`` and ``decode`` otherwise (a msgpack +
base64 codec, an orjson one, ...). Encoding is checked before any request: an object
the codec cannot encode, or whose encoding is over 2,000 characters, is a
:class:`~voxkv_async.ValidationError` naming the encoded length. A stored value the
codec cannot read is a :class:`~voxkv_async.DecodeError` naming the key (the value is
never quoted).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, Unpack, runtime_checkable

import attrs

from . import _bulk
from ._commands import CallOptions, SetOptions
from ._errors import DecodeError, ValidationError
from ._models import KeyValueItem
from ._operations import Operations
from ._validation import VALUE_MAX

if TYPE_CHECKING:
    from ._bulk import BulkOptions, BulkReport, KeysInput
    from ._bulk.operations import SetManyOptions

__all__ = ["JSON", "Codec", "CodecMethods", "JsonCodec", "decode_value", "encode_value"]

#: ``set_many_json``'s input: a mapping of key to object, or (a)sync pairs of them.
ObjectsInput = Mapping[str, Any] | Iterable[tuple[str, Any]] | AsyncIterable[tuple[str, Any]]


@runtime_checkable
class Codec(Protocol):
    """Turns objects into stored text and back.

    ``decode`` raises :class:`ValueError` on text it cannot read; ``encode`` raises
    :class:`TypeError` or :class:`ValueError` for objects it cannot write.
    """

    @property
    def name(self) -> str:
        """A short name for messages (``"json"``)."""
        ...

    def encode(self, obj: Any) -> str:
        """The text to store for ``obj``."""
        ...

    def decode(self, text: str) -> Any:
        """The object stored as ``text``."""
        ...


@attrs.frozen
class JsonCodec:
    """JSON: compact separators, non-ASCII kept as characters (a value's 2,000-character
    limit counts characters, and ``"é"`` is 1 where ``"\\u00e9"`` is 6).

    Attributes:
        sort_keys: Write object keys sorted (stable text for equal objects).
    """

    sort_keys: bool = False

    @property
    def name(self) -> str:
        """``"json"``."""
        return "json"

    def encode(self, obj: Any) -> str:
        """``obj`` as compact JSON; ``NaN`` and infinities are refused (not JSON)."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          sort_keys=self.sort_keys)

    def decode(self, text: str) -> Any:
        """The object of the JSON ``text``."""
        return json.loads(text)


#: The default codec.
JSON = JsonCodec()


def encode_value(codec: Codec, obj: Any) -> str:
    """``obj`` encoded, or a :class:`ValidationError` (the object is never quoted)."""
    try:
        text = codec.encode(obj)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(
            "value", f"must be encodable as {codec.name}",
            f"{type(obj).__name__} ({type(exc).__name__})",
        ) from None
    if len(text) > VALUE_MAX:
        raise ValidationError(
            "value", f"must encode to at most {VALUE_MAX} characters of {codec.name}",
            f"{len(text)} characters once encoded",
        )
    return text


def decode_value(codec: Codec, key: str, text: str) -> Any:
    """The object stored at ``key``, or a :class:`DecodeError` naming the key."""
    try:
        return codec.decode(text)
    except json.JSONDecodeError as exc:
        # Not chained: a JSONDecodeError holds the whole document, i.e. the value.
        raise DecodeError(key, codec.name, f"{exc.msg} at character {exc.pos}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise DecodeError(key, codec.name, type(exc).__name__) from None


class CodecMethods(Operations):
    """The calls of :class:`~voxkv_async._operations.Operations`, and ``set_json``,
    ``get_json``, ``set_many_json``, ``get_many_json`` around them, with the same
    options: what the client and the namespace views have."""

    __slots__ = ()

    async def set_json(self, key: str, obj: Any, *, codec: Codec = JSON,
                       **options: Unpack[SetOptions]) -> KeyValueItem:
        """Store ``obj`` encoded (compact JSON by default) under ``key``.

        ``options`` are as for ``set``; ``codec`` encodes. Raises
        :class:`ValidationError` before any request if ``obj`` cannot be encoded or its
        encoding is over 2,000 characters (the message gives the encoded length).
        Returns the stored item (its ``value`` is the encoded text).
        """
        return await self.set(key, encode_value(codec, obj), **options)

    async def get_json(self, key: str, default: Any = None, *,
                       codec: Codec = JSON, **options: Unpack[CallOptions]) -> Any:
        """The object stored under ``key``, or ``default`` when there is none.

        Raises:
            DecodeError: The stored value is not valid for ``codec`` (the error names
                the key, never the value).
        """
        item = await self.get(key, **options)
        return default if item is None else decode_value(codec, key, item.value)

    async def set_many_json(self, items: ObjectsInput, *, codec: Codec = JSON,
                            **options: Unpack[SetManyOptions]) -> BulkReport:
        """``set_many`` of objects, each encoded with ``codec`` as it is read.

        An object that cannot be encoded, or whose encoding is too long, fails alone
        (a ``ValidationError`` in the report), as a bad item of ``set_many`` does.
        """
        return await _bulk.set_many(self._client, items, via=self,
                                    encode=partial(encode_value, codec), **options)

    async def get_many_json(self, keys: KeysInput, default: Any = None, *,
                            codec: Codec = JSON, **options: Unpack[BulkOptions]) -> list[Any]:
        """``get_many``, decoded: the objects in input order, ``default`` where missing.

        Raises:
            DecodeError: A stored value is not valid for ``codec`` (the first such key).
        """
        found = await self.get_many(keys, **options)
        return [default if item is None else decode_value(codec, item.key, item.value)
                for item in found]
