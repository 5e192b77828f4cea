"""Starting, stopping, restarting, and what the Emulator object offers."""

from __future__ import annotations

import json
import ssl
import stat

import aiohttp
import pytest

from voxkv_async import Credentials
from voxkv_async.emulator import DEFAULT_ACCOUNT_ID, Emulator

from .conftest import Api


async def test_base_url_credentials_and_tls(voxkv_emulator: Emulator) -> None:
    emu = voxkv_emulator
    assert emu.base_url == f"https://127.0.0.1:{emu.port}/platform_api"
    assert emu.port > 0
    assert emu.running
    assert emu.credentials.account_id == DEFAULT_ACCOUNT_ID
    assert "PRIVATE" not in repr(emu.credentials)
    assert isinstance(emu.ssl_context, ssl.SSLContext)
    assert emu.ca_file is not None
    assert b"BEGIN CERTIFICATE" in emu.ca_file.read_bytes()


async def test_the_certificate_is_not_trusted_by_default(voxkv_emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.post(voxkv_emulator.base_url)


async def test_ca_file_verifies_the_server(voxkv_emulator: Emulator) -> None:
    ctx = ssl.create_default_context(cafile=str(voxkv_emulator.ca_file))
    async with (
        aiohttp.ClientSession() as session,
        session.post(voxkv_emulator.base_url, ssl=ctx) as resp,
    ):
        assert (await resp.json())["error"]["code"] == 447


async def test_plain_http(session: aiohttp.ClientSession) -> None:
    async with Emulator(tls=False) as emu:
        assert emu.base_url.startswith("http://")
        assert emu.ssl_context is None
        assert await Api(emu, session).result("GetKeyValueItem", key="k") is None


async def test_stop_and_restart_on_the_same_port_keeps_state(
    session: aiohttp.ClientSession,
) -> None:
    emu = Emulator()
    async with emu:
        api = Api(emu, session)
        await api.result("SetKeyValueItem", key="k", value="v")
        port = emu.port
        await emu.stop()
        assert not emu.running
        with pytest.raises(aiohttp.ClientConnectionError):
            await api.call("GetKeyValueItem", key="k")
        await emu.start()
        assert emu.port == port
        assert (await api.result("GetKeyValueItem", key="k"))["value"] == "v"
        emu.reset()
        assert await api.result("GetKeyValueItem", key="k") is None
    assert not emu.running


async def test_start_twice_is_an_error() -> None:
    async with Emulator(tls=False) as emu:
        with pytest.raises(RuntimeError):
            await emu.start()


async def test_connections_are_counted_once_each(api: Api) -> None:
    for _ in range(3):
        await api.result("GetKeyValueItem", key="k")
    assert api.emu.stats.connections == 1
    async with aiohttp.ClientSession() as other:
        await Api(api.emu, other).result("GetKeyValueItem", key="k")
    assert api.emu.stats.connections == 2


async def test_state_dir(tmp_path: object, session: aiohttp.ClientSession) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "state"
    async with Emulator(state_dir=folder) as emu:
        creds_file = folder / "credentials.json"
        assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
        creds = Credentials.from_file(creds_file)
        assert creds.key_id == emu.credentials.key_id
        assert json.loads(creds_file.read_text())["account_id"] == DEFAULT_ACCOUNT_ID
        assert emu.ca_file == folder / "ca.pem"


async def test_accounts_are_configurable() -> None:
    from voxkv_async.emulator import generate_credentials

    creds = generate_credentials(account_id=555, key_id="kid-1")
    async with Emulator(accounts=[creds], application_id=9, tls=False) as emu:
        assert emu.credentials is creds
        assert emu.application_id == 9
