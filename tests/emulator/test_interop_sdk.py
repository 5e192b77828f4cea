"""The official Python SDK against the emulator: evidence that it speaks the real protocol.

The SDK is synchronous (httpx) and posts ``cmd=<Method>`` forms to ``/platform_api``; it
runs in a thread while the emulator serves from the test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from voxkv_async.emulator import Emulator

apiclient = pytest.importorskip("voximplant.apiclient")


@pytest.fixture
def sdk(voxkv_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    creds_file = voxkv_emulator.write_state(tmp_path)["credentials"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(voxkv_emulator.ca_file))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return apiclient.VoximplantAPI(
        credentials_file_path=str(creds_file), endpoint=voxkv_emulator.endpoint
    )


async def test_sdk_performs_the_five_calls(sdk: Any, voxkv_emulator: Emulator) -> None:
    app = voxkv_emulator.application_id
    at = int(time.time()) + 86_400

    def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        seen["set"] = sdk.set_key_value_item("sdk:1", "один", app, ttl=120)
        sdk.set_key_value_item("sdk:2", "two", app, expires_at=at)
        sdk.set_key_value_item("other", "x", app)
        seen["get"] = sdk.get_key_value_item("sdk:1", app)
        seen["items"] = sdk.get_key_value_items("sdk", app, count=10, offset=0)
        seen["keys"] = sdk.get_key_value_keys(app, key="sdk:")
        seen["del"] = sdk.del_key_value_item("sdk:1", app)
        seen["gone"] = sdk.get_key_value_item("sdk:1", app)
        return seen

    seen = await asyncio.to_thread(scenario)

    item = seen["set"]["result"]
    assert item["key"] == "sdk:1"
    assert item["value"] == "один"
    assert isinstance(item["expires_at"], int)
    assert seen["get"] == {"result": item}
    assert [i["key"] for i in seen["items"]["result"]] == ["sdk:1", "sdk:2"]
    assert seen["items"]["result"][1]["expires_at"] == at
    assert seen["keys"]["result"] == [
        {"key": "sdk:1", "expires_at": item["expires_at"]},
        {"key": "sdk:2", "expires_at": at},
    ]
    assert seen["del"] == {"result": 1}
    assert seen["gone"] == {"result": None}
    assert voxkv_emulator.items() == {"sdk:2": "two", "other": "x"}
    # The SDK signs a token per request (iss as a string; identical within one second):
    # each distinct token had its signature checked exactly once.
    stats = voxkv_emulator.stats
    assert stats.total_requests == 8
    assert stats.errors == {}
    assert stats.signature_checks == stats.distinct_tokens >= 1


async def test_sdk_sees_error_envelopes(sdk: Any, voxkv_emulator: Emulator) -> None:
    app = voxkv_emulator.application_id
    with pytest.raises(apiclient.VoximplantException) as caught:
        await asyncio.to_thread(sdk.set_key_value_item, "bad key!", "v", app)
    assert caught.value.code == 101
    with pytest.raises(apiclient.VoximplantException) as caught:
        await asyncio.to_thread(sdk.get_key_value_items, "k", app, count=51)
    assert caught.value.code == 499


async def test_sdk_refuses_the_emulator_without_its_ca(
    sdk: Any, voxkv_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(Exception, match=r"(?i)certificate"):
        await asyncio.to_thread(sdk.get_key_value_item, "k", voxkv_emulator.application_id)
    assert voxkv_emulator.stats.total_requests == 0
