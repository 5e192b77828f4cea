"""The five key-value methods: parameter validation and their answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from ._errors import ApiFailure
from ._modes import EmulatorModes
from ._store import Store

__all__ = ["METHODS", "Context", "call"]

KEY_RE = re.compile(r"[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]*")
MAX_KEY = 200
MAX_VALUE = 2000
MAX_TTL = 7_776_000
DEFAULT_TTL = 2_592_000
MAX_COUNT = 50
DEFAULT_COUNT = 10
# Integers travel as decimal text; int() alone would also take " 5" or "1_0".
_INTEGER = re.compile(r"-?[0-9]{1,18}")

# The codes of the "invalid argument" family: docs/explanation/real-api.md, "Error codes".
INVALID, EMPTY, TOO_LONG, OUT_OF_RANGE = 101, 134, 477, 499
APP_NOT_FOUND = 558


@attrs.define
class Context:
    """What a method call needs besides its parameters."""

    store: Store
    modes: EmulatorModes
    applications: Collection[int]


class Params:
    """A request's parameters, read with the API's validation rules."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw

    def text(self, name: str, *, required: bool, limit: int) -> str | None:
        value = self.raw.get(name)
        if value is None or (required and value == ""):
            if required:
                raise ApiFailure(EMPTY, f"Parameter {name!r} is required")
            return None
        if len(value) > limit:
            raise ApiFailure(TOO_LONG, f"Parameter {name!r} is too long: at most {limit}")
        return value

    def key(self, *, required: bool = True) -> str:
        key = self.text("key", required=required, limit=MAX_KEY) or ""
        if not KEY_RE.fullmatch(key):
            raise ApiFailure(
                INVALID, "Parameter 'key' has characters outside [a-zA-Z0-9а-яА-ЯёЁ_-:;.#+]"
            )
        return key

    def integer(self, name: str, lo: int, hi: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not _INTEGER.fullmatch(value):
            raise ApiFailure(INVALID, f"Parameter {name!r} must be an integer")
        number = int(value)
        if number < lo or (hi is not None and number > hi):
            bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise ApiFailure(OUT_OF_RANGE, f"Parameter {name!r} is out of range {bounds}")
        return number

    def application(self, ctx: Context) -> int:
        app = self.integer("application_id", 1)
        if app is None:
            raise ApiFailure(EMPTY, "Parameter 'application_id' is required")
        if ctx.modes.unknown_application == "error" and app not in ctx.applications:
            # The error list's wording for 558; which of 116 and 558 the key-value
            # methods send is UNKNOWN (docs/explanation/real-api.md, "Error codes").
            raise ApiFailure(APP_NOT_FOUND, "Application is not found.")
        return app

    def page(self) -> tuple[int, int]:
        count = self.integer("count", 1, MAX_COUNT)
        offset = self.integer("offset", 0)
        return (DEFAULT_COUNT if count is None else count, offset or 0)


def _expires_at(p: Params, ctx: Context) -> int:
    now = ctx.store.now()
    ttl = p.integer("ttl", 0, MAX_TTL)
    at = p.integer("expires_at", 0, now + MAX_TTL)
    if ttl is not None and at is not None:
        if ctx.modes.ttl_conflict == "error":
            raise ApiFailure(INVALID, "Pass either 'ttl' or 'expires_at', not both")
        return at if ctx.modes.ttl_conflict == "expires_at" else now + ttl
    if at is not None:
        return at
    return now + (DEFAULT_TTL if ttl is None else ttl)


def _not_found(key: str) -> ApiFailure:
    return ApiFailure(INVALID, f"Key {key!r} not found")


def set_item(p: Params, ctx: Context) -> Any:
    app, key = p.application(ctx), p.key()
    # An empty value is accepted: nothing documents it as invalid.
    value = p.text("value", required=False, limit=MAX_VALUE)
    if value is None:
        raise ApiFailure(EMPTY, "Parameter 'value' is required")
    return ctx.store.set(app, key, value, _expires_at(p, ctx)).to_json()


def get_item(p: Params, ctx: Context) -> Any:
    app, key = p.application(ctx), p.key()
    item = ctx.store.get(app, key)
    if item is not None:
        return item.to_json()
    if ctx.modes.missing_get == "error":
        raise _not_found(key)
    return {} if ctx.modes.missing_get == "empty" else None


def del_item(p: Params, ctx: Context) -> Any:
    app, key = p.application(ctx), p.key()
    if ctx.store.delete(app, key):
        return 1
    if ctx.modes.missing_del == "error":
        raise _not_found(key)
    return 0


def get_items(p: Params, ctx: Context) -> Any:
    app, prefix = p.application(ctx), p.key()
    count, offset = p.page()
    return [item.to_json() for item in ctx.store.scan(app, prefix, count, offset)]


def get_keys(p: Params, ctx: Context) -> Any:
    app, prefix = p.application(ctx), p.key(required=False)
    count, offset = p.page()
    items = ctx.store.scan(app, prefix, count, offset)
    if ctx.modes.keys_shape == "strings":
        return [item.key for item in items]
    return [{"key": item.key, "expires_at": item.expires_at} for item in items]


#: The API methods the emulator answers, by name.
METHODS: dict[str, Callable[[Params, Context], Any]] = {
    "SetKeyValueItem": set_item,
    "GetKeyValueItem": get_item,
    "DelKeyValueItem": del_item,
    "GetKeyValueItems": get_items,
    "GetKeyValueKeys": get_keys,
}


def call(method: str, raw: Mapping[str, str], ctx: Context) -> Any:
    """The ``result`` of ``method``, or :class:`ApiFailure`."""
    handler = METHODS.get(method)
    if handler is None:
        raise ApiFailure(INVALID, f"Unknown method {method[:64]!r}")
    return handler(Params(raw), ctx)
