"""What the web-service tests share: a client of an emulator (the mocked API is
``tests/_mock_api.py``)."""

from __future__ import annotations

from typing import Any

from _mock_api import GET_URL, ITEM, SET_URL  # noqa: F401 - for test_read_cache, test_telemetry
from _mock_api import make_kv as mocked_kv  # noqa: F401

from voxkv_async import VoxKV
from voxkv_async.emulator import Emulator


def emulator_kv(emu: Emulator, **kw: Any) -> VoxKV:
    """A client of ``emu`` (TLS or not)."""
    if emu.tls:
        kw.setdefault("ssl", emu.ssl_context)
    return VoxKV(emu.credentials, application_id=emu.application_id, base_url=emu.base_url,
                 **kw)
