"""What the web-service tests share: a mocked API root and client factories."""

from __future__ import annotations

import ssl
from typing import Any

from voxkv_async import Credentials, RetryPolicy, VoxKV
from voxkv_async.emulator import Emulator

BASE = "https://api.test/platform_api"
SET_URL = f"{BASE}/SetKeyValueItem"
GET_URL = f"{BASE}/GetKeyValueItem"
DEL_URL = f"{BASE}/DelKeyValueItem"
ITEMS_URL = f"{BASE}/GetKeyValueItems"
KEYS_URL = f"{BASE}/GetKeyValueKeys"
ITEM = {"key": "ns:k", "value": "v", "expires_at": 1_900_000_000}
TLS = ssl.create_default_context()


def mocked_kv(credentials: Credentials, **kw: Any) -> VoxKV:
    """A client for :data:`BASE` (aioresponses); retrying off unless ``retry=`` says so."""
    kw.setdefault("base_url", BASE)
    kw.setdefault("ssl", TLS)
    kw.setdefault("retry", RetryPolicy.disabled())
    return VoxKV(credentials, application_id=77, **kw)


def emulator_kv(emu: Emulator, **kw: Any) -> VoxKV:
    """A client of ``emu`` (TLS or not)."""
    if emu.tls:
        kw.setdefault("ssl", emu.ssl_context)
    return VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
                 **kw)
