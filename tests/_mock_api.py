"""A mocked API root (aioresponses) and a client for it: shared by the unit and web tests."""

from __future__ import annotations

import ssl
from typing import Any

from voxkv_async import Credentials, RetryPolicy, VoxKV

__all__ = ["BASE", "DEL_URL", "GET_URL", "ITEM", "ITEMS_URL", "KEYS_URL", "SET_URL", "TLS",
           "make_kv"]

BASE = "https://api.test/platform_api"
SET_URL = f"{BASE}/SetKeyValueItem"
GET_URL = f"{BASE}/GetKeyValueItem"
DEL_URL = f"{BASE}/DelKeyValueItem"
ITEMS_URL = f"{BASE}/GetKeyValueItems"
KEYS_URL = f"{BASE}/GetKeyValueKeys"
ITEM = {"key": "ns:k", "value": "v", "expires_at": 1_900_000_000}
# Building a default TLS context loads the system CAs (~30 ms); share one across tests.
TLS = ssl.create_default_context()


def make_kv(credentials: Credentials, **kw: Any) -> VoxKV:
    """A client for :data:`BASE`; retrying is off unless ``retry=`` says otherwise."""
    kw.setdefault("base_url", BASE)
    kw.setdefault("ssl", TLS)
    kw.setdefault("retry", RetryPolicy.disabled())
    return VoxKV(credentials, application_id=77, **kw)
