"""What the unit tests share: the mocked API (tests/_mock_api.py) and a client factory."""

from __future__ import annotations

from _mock_api import (  # noqa: F401 - re-exported for the unit tests
    BASE,
    DEL_URL,
    GET_URL,
    ITEM,
    ITEMS_URL,
    KEYS_URL,
    SET_URL,
    TLS,
    MockApi,
    make_kv,
)


def everything_said(exc: BaseException) -> str:
    """All an error says: its message, its repr and its notes."""
    return " ".join([str(exc), repr(exc), *getattr(exc, "__notes__", [])])
