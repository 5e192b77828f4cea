"""What the web-service tests share: a mocked API root and client factories."""

from __future__ import annotations

from typing import Any

from _mock_api import (  # noqa: F401 - re-exported for the web tests
    BASE,
    DEL_URL,
    GET_URL,
    ITEM,
    ITEMS_URL,
    KEYS_URL,
    SET_URL,
    TLS,
    MockApi,
)
from _mock_api import make_kv as mocked_kv  # noqa: F401

from voxkv_async import VoxKV
from voxkv_async.emulator import Emulator


def emulator_kv(emu: Emulator, **kw: Any) -> VoxKV:
    """A client of ``emu`` (TLS or not)."""
    if emu.tls:
        kw.setdefault("ssl", emu.ssl_context)
    return VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
                 **kw)
