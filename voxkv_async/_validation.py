"""Argument checks against the API's documented limits, run before any request.

Each check raises :class:`~voxkv_async.ValidationError` naming the field, the limit and
what was given. Stored values are never echoed, only their type and length.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import TypeGuard

from ._errors import ValidationError, shorten

__all__ = [
    "EXPIRY_SLACK",
    "KEY_MAX",
    "MAX_COUNT",
    "TTL_DEFAULT",
    "TTL_MAX",
    "VALUE_MAX",
    "check_application_id",
    "check_count",
    "check_expiry",
    "check_key",
    "check_offset",
    "check_value",
]

KEY_MAX = 200
VALUE_MAX = 2000
TTL_MAX = 7_776_000  # 90 days
TTL_DEFAULT = 2_592_000  # 30 days, the API's documented default
MAX_COUNT = 50
EXPIRY_SLACK = 60
"""Seconds of clock skew allowed either side of the ``expires_at`` window (now .. now +
90 days): our clock may be a little off the server's."""

# The documented pattern, `^[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]*$`, applied with fullmatch so a
# trailing newline cannot slip past `$`.
_KEY_CHARS = re.compile(r"[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]+")
_KEY_RULE = f"must be 1..{KEY_MAX} characters of Latin or Cyrillic letters, digits, _ - : ; . # +"


def _describe(given: object) -> str:
    if isinstance(given, str):
        return f"{shorten(given)!r} ({len(given)} characters)"
    return f"{type(given).__name__} {shorten(repr(given))}"


def _is_int(v: object) -> TypeGuard[int]:
    return type(v) is int  # bool is not a count


def check_key(key: object, field: str = "key") -> str:
    """``key`` if it is a valid key (or key prefix), else :class:`ValidationError`."""
    if type(key) is not str:
        raise ValidationError(field, _KEY_RULE, _describe(key))
    if not 0 < len(key) <= KEY_MAX or _KEY_CHARS.fullmatch(key) is None:
        raise ValidationError(field, _KEY_RULE, _describe(key))
    return key


def check_value(value: object) -> str:
    """``value`` if it is a string of at most 2000 characters."""
    if type(value) is not str:
        raise ValidationError("value", "must be a str", f"{type(value).__name__}")
    if len(value) > VALUE_MAX:
        # Never echo the value: it may be a secret of the user's.
        raise ValidationError(
            "value", f"must be at most {VALUE_MAX} characters", f"{len(value)} characters"
        )
    return value


def check_expiry(ttl: object, expires_at: object) -> tuple[str, int]:
    """The expiry parameter to send: ``("ttl", n)`` or ``("expires_at", ts)``.

    With neither given the API's documented default TTL is sent explicitly: the docs both
    give a default and say one of the two must be set, so sending it is right either way.
    """
    if ttl is not None and expires_at is not None:
        raise ValidationError(
            "ttl/expires_at", "give at most one of ttl and expires_at", "both"
        )
    if expires_at is not None:
        if isinstance(expires_at, datetime):
            if expires_at.tzinfo is None:
                raise ValidationError(
                    "expires_at", "a datetime must be timezone-aware", "a naive datetime"
                )
            seconds = int(expires_at.timestamp())
            if seconds < 0:
                raise ValidationError(
                    "expires_at", "must not be before 1970-01-01 UTC", expires_at.isoformat()
                )
            return "expires_at", _in_window(seconds)
        if not _is_int(expires_at) or expires_at < 0:
            raise ValidationError(
                "expires_at", "must be Unix seconds (int >= 0) or an aware datetime",
                _describe(expires_at),
            )
        return "expires_at", _in_window(expires_at)
    if ttl is None:
        return "ttl", TTL_DEFAULT
    if not _is_int(ttl) or not 0 <= ttl <= TTL_MAX:
        raise ValidationError("ttl", f"must be an int of seconds in 0..{TTL_MAX}", _describe(ttl))
    return "ttl", ttl


def _in_window(seconds: int) -> int:
    """``seconds`` if it lies between now and now + 90 days (give or take the slack).

    An expiry in the past would store nothing that lives, and one past 90 days is what
    a ``ttl`` over 90 days is: both are refused here, as a ``ttl`` out of range is.
    """
    now = time.time()
    if not now - EXPIRY_SLACK <= seconds <= now + TTL_MAX + EXPIRY_SLACK:
        raise ValidationError(
            "expires_at",
            f"must be between now and now + {TTL_MAX} s (90 days), "
            f"with {EXPIRY_SLACK} s of slack for clock skew",
            f"{seconds} ({seconds - int(now):+d} s from now)",
        )
    return seconds


def check_count(count: object) -> int:
    """``count`` if it is an int in 1..50."""
    if not _is_int(count) or not 1 <= count <= MAX_COUNT:
        raise ValidationError("count", f"must be an int in 1..{MAX_COUNT}", _describe(count))
    return count


def check_offset(offset: object) -> int:
    """``offset`` if it is an int >= 0."""
    if not _is_int(offset) or offset < 0:
        raise ValidationError("offset", "must be an int >= 0", _describe(offset))
    return offset


def check_application_id(application_id: object) -> int:
    """``application_id`` if it is a positive int."""
    if not _is_int(application_id) or application_id <= 0:
        raise ValidationError(
            "application_id", "must be a positive int", _describe(application_id)
        )
    return application_id
