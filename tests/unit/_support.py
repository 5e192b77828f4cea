"""What the unit tests share: a fake API root, one TLS context, and a client factory."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

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


def sent_form(kwargs: dict[str, Any]) -> dict[str, str]:
    """The form fields of a request aioresponses recorded."""
    return {k: v[0] for k, v in parse_qs(kwargs["data"].decode()).items()}
