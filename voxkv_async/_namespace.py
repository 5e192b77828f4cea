"""Namespace views: ``users = kv.namespace("users")`` works on the keys ``users:...``.

A view has the client's methods (single and bulk, listing and iterators, JSON) and
takes and returns keys relative to its prefix: ``await users.set("42", v)`` stores
``users:42`` and ``users.iter_items()`` yields ``KeyValueItem("42", ...)``. Views nest:
``users.namespace("vip")`` works on ``users:vip:...``. The prefix counts toward the
200-character key limit: a key too long once prefixed is a
:class:`~voxkv_async.ValidationError` naming both lengths, before any request.

The methods are the client's own (:mod:`._operations`, written once): a view builds its
commands with prefixed keys and runs them through its client, which hands back results
whose keys the view makes relative again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ._codecs import CodecMethods
from ._commands import CallOptions, Command
from ._errors import ValidationError
from ._validation import KEY_MAX, check_key

if TYPE_CHECKING:
    from ._client import VoxKV

__all__ = ["SEPARATOR", "Namespace"]

#: Between a namespace and the keys in it (the API's own ``ns:`` convention).
SEPARATOR = ":"

T = TypeVar("T")


class Namespace(CodecMethods):
    """A view of the keys under one prefix; made by :meth:`VoxKV.namespace`.

    Its calls are the client's (:class:`VoxKV`), with keys relative to the view.

    Attributes:
        prefix: The full prefix, separator included (``"users:vip:"``).
    """

    __slots__ = ("_commands", "_kv", "prefix")

    def __init__(self, kv: VoxKV, prefix: str) -> None:
        self._kv = kv
        self.prefix = prefix
        self._commands = kv._commands.under(prefix)

    def __repr__(self) -> str:
        return f"<Namespace {self.prefix!r} of {self._kv!r}>"

    def namespace(self, name: str) -> Namespace:
        """A view nested in this one: ``users.namespace("vip")`` is ``users:vip:``."""
        return Namespace(self._kv, namespace_prefix(self.prefix, name))

    def full_key(self, key: str, field: str = "key") -> str:
        """The stored key of ``key``; :class:`ValidationError` if invalid once prefixed."""
        return self._commands.key(key, field)

    def relative(self, key: str) -> str:
        """``key`` without this view's prefix."""
        return self._commands.relative(key)

    @property
    def _client(self) -> VoxKV:
        return self._kv

    async def _execute(self, command: Command[T], options: CallOptions) -> T:
        # The command is built with the full keys; the client runs it (read path, send
        # chain) and the result comes back with keys relative to this view.
        return self._commands.view(await self._kv._execute(command, options))


def namespace_prefix(parent: str, name: str) -> str:
    """``parent + name + ":"``, ``name`` checked as a key."""
    check_key(name, "namespace")
    prefix = parent + name + SEPARATOR
    if len(prefix) >= KEY_MAX:
        raise ValidationError("namespace", f"must leave room for keys: the prefix must be "
                              f"under {KEY_MAX} characters", f"{len(prefix)} characters")
    return prefix
