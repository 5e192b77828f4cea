"""pytest fixtures: a fresh emulator per test, and a ``VoxKV`` client connected to it.

Registered under the ``pytest11`` entry point, so installing voxkv_async is enough::

    async def test_roundtrip(voxkv_client, voxkv_emulator):
        await voxkv_client.set("ns:k", "v")
        assert voxkv_emulator.items() == {"ns:k": "v"}

To start the emulator differently (faults, modes, clock), override
``voxkv_emulator_options`` in a ``conftest.py`` or a test module::

    @pytest.fixture
    def voxkv_emulator_options():
        return {"faults": Faults(http_503=0.2), "seed": 1}

To test code that acts for a child account, give the emulator one and the client its
id (the client signs with the parent's key, naming the child as the issuer)::

    @pytest.fixture
    def voxkv_emulator_options():
        return {"child_accounts": {DEFAULT_ACCOUNT_ID: [2002]}}

    @pytest.fixture
    def voxkv_client_options():
        return {"account_id": 2002}

    async def test_child(voxkv_client, voxkv_emulator):
        await voxkv_client.set("k", "v")
        assert voxkv_emulator.items(account_id=2002) == {"k": "v"}

With ``{"clock": FakeClock()}`` in the options, ``voxkv_emulator.clock`` is that clock:
``voxkv_emulator.clock.advance(3600)`` expires keys without sleeping.

The service key and the TLS certificate are made once per process, so each test only
pays for a listening socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from voxkv_async.emulator import Emulator

if TYPE_CHECKING:
    from voxkv_async import VoxKV

__all__ = ["voxkv_client", "voxkv_client_options", "voxkv_emulator", "voxkv_emulator_options"]


@pytest.fixture
def voxkv_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`~voxkv_async.emulator.Emulator`; override to change."""
    return {}


@pytest.fixture
def voxkv_client_options() -> dict[str, Any]:
    """Extra keyword arguments for the ``VoxKV`` of ``voxkv_client`` (``retry=``, ...)."""
    return {}


@pytest_asyncio.fixture
async def voxkv_emulator(voxkv_emulator_options: dict[str, Any]) -> AsyncIterator[Emulator]:
    """A running emulator (HTTPS on a free loopback port), with empty state."""
    options = {"tls": True, **voxkv_emulator_options}
    async with Emulator(**options) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def voxkv_client(
    voxkv_emulator: Emulator, voxkv_client_options: dict[str, Any]
) -> AsyncIterator[VoxKV]:
    """A ``VoxKV`` talking to ``voxkv_emulator`` over TLS; closed after the test."""
    from voxkv_async import VoxKV  # the plugin must load even where the client cannot

    async with VoxKV(
        voxkv_emulator.credentials,
        application_id=voxkv_emulator.application_id,
        base_url=voxkv_emulator.base_url,
        ssl=voxkv_emulator.ssl_context,
        **voxkv_client_options,
    ) as client:
        yield client
