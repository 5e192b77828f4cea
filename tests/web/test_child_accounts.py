"""Child accounts: a parent's key signs for its children, each with storage of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest

from voxkv_async import AuthenticationError, RetryPolicy, ValidationError, VoxKV
from voxkv_async.cli import main
from voxkv_async.emulator import DEFAULT_ACCOUNT_ID, Emulator, generate_credentials

from ._helpers import emulator_kv

CHILD = 2002
OTHER_CHILD = "acme-eu"


@pytest.fixture
def voxkv_emulator_options() -> dict[str, Any]:
    return {"child_accounts": {DEFAULT_ACCOUNT_ID: [CHILD, OTHER_CHILD]}, "tls": False}


@pytest.fixture
def voxkv_client_options() -> dict[str, Any]:
    return {"account_id": CHILD}


async def test_the_fixture_client_acts_for_the_child(voxkv_client: VoxKV,
                                                     voxkv_emulator: Emulator) -> None:
    await voxkv_client.set("k", "child's")
    assert voxkv_emulator.items(account_id=CHILD) == {"k": "child's"}
    assert voxkv_emulator.items() == {}  # the parent's storage is another
    assert voxkv_emulator.child_accounts == sorted([str(CHILD), OTHER_CHILD])


async def test_each_account_has_its_own_storage(voxkv_emulator: Emulator) -> None:
    async with emulator_kv(voxkv_emulator) as parent, \
            emulator_kv(voxkv_emulator, account_id=CHILD) as child, \
            emulator_kv(voxkv_emulator, account_id=OTHER_CHILD) as other:
        await parent.set("k", "parent")
        await child.set("k", "child")
        await other.set("k", "other")
        assert (await parent.get("k")).value == "parent"
        assert (await child.get("k")).value == "child"
        assert (await other.get("k")).value == "other"
        assert [i.key async for i in child.iter_items("k")] == ["k"]
        assert await child.delete("k") is True
        assert (await parent.get("k")).value == "parent"
        assert child.stats.token_signings == 1  # one token cache per client, as always


async def test_the_token_names_the_child_with_the_parents_key(voxkv_emulator: Emulator
                                                              ) -> None:
    async with emulator_kv(voxkv_emulator, account_id=CHILD) as kv:
        header = kv._tokens.authorization()
        token = header.removeprefix("Bearer ")
        assert jwt.get_unverified_header(token)["kid"] == voxkv_emulator.credentials.key_id
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == str(CHILD)
        assert f"account_id={CHILD}" in repr(kv)


async def test_anything_else_is_code_100(voxkv_emulator: Emulator) -> None:
    stranger = generate_credentials(account_id=3003)
    voxkv_emulator.add_account(stranger)
    for kv in (emulator_kv(voxkv_emulator, account_id=9999, retry=RetryPolicy.disabled()),
               VoxKV(stranger, voxkv_emulator.application_id, base_url=voxkv_emulator.base_url,
                     account_id=CHILD, retry=RetryPolicy.disabled())):
        async with kv:
            with pytest.raises(AuthenticationError) as info:
                await kv.get("k")
            assert info.value.code == 100


def test_add_child_account_later() -> None:
    emu = Emulator(tls=False)
    emu.add_child_account(77)
    emu.add_child_account("x-1", parent=DEFAULT_ACCOUNT_ID)
    assert emu.child_accounts == ["77", "x-1"]


@pytest.mark.parametrize("bad", [0, -5, "", True, 1.5])
def test_bad_account_id(voxkv_emulator: Emulator, bad: Any) -> None:
    with pytest.raises(ValidationError, match="account_id"):
        VoxKV(voxkv_emulator.credentials, 1, base_url=voxkv_emulator.base_url, account_id=bad)


def test_cli_emulator_and_data_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxkv_async", "emulator", "--port", "0", "--state-dir",
         str(tmp_path), "--child-account", str(CHILD), "--child-account", OTHER_CHILD],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        while "VOXKV_STATE_DIR" not in env:
            name, _, value = proc.stdout.readline().strip().partition("=")
            assert name, "the emulator stopped"
            env[name] = value
        common = ["--credentials", env["VOXIMPLANT_CREDENTIALS"], "--base-url",
                  env["VOXKV_BASE_URL"], "--application-id", env["VOXKV_APPLICATION_ID"]]
        assert main(["set", "k", "for-the-child", *common, "--account-id", str(CHILD)]) == 0
        assert main(["set", "k", "for-the-other", *common, "--account-id", OTHER_CHILD]) == 0
        capsys.readouterr()
        assert main(["get", "k", *common, "--account-id", str(CHILD)]) == 0
        assert json.loads(capsys.readouterr().out)["value"] == "for-the-child"
        assert main(["get", "k", *common]) == 1  # the parent's storage has no "k"
        assert json.loads(capsys.readouterr().out) is None
        assert main(["get", "k", *common, "--account-id", "12345"]) != 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
