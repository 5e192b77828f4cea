"""Helpers for the emulator's tests: hand-made tokens and a raw aiohttp client.

The raw client knows nothing of retries, so each test sees exactly what the emulator sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio

from voxkv_async import Credentials
from voxkv_async.emulator import Emulator


def make_token(
    creds: Credentials,
    *,
    iss: Any = None,
    iat: float | None = None,
    lifetime: float = 60,
    kid: str | None = None,
    key: Any = None,
    algorithm: str = "RS256",
    drop: tuple[str, ...] = (),
) -> str:
    """A JWT built by hand (PyJWS, so that ``iss`` may be a number)."""
    now = time.time() if iat is None else iat
    claims = {
        "iss": str(creds.account_id) if iss is None else iss,
        "iat": int(now) - 5 if iat is None else iat,
        "exp": int(now) - 5 + lifetime if iat is None else iat + lifetime,
    }
    for name in drop:
        del claims[name]
    return jwt.PyJWS().encode(
        json.dumps(claims).encode(),
        creds.private_key if key is None else key,
        algorithm=algorithm,
        headers={"kid": creds.key_id if kid is None else kid},
    )


class Api:
    """Calls the emulator in any URL style and returns ``(status, body)``."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.token = make_token(emu.credentials, lifetime=3600)

    async def call(
        self,
        method: str,
        *,
        style: str = "path",
        authorization: str | None = ...,  # type: ignore[assignment]
        app: int | None = ...,  # type: ignore[assignment]
        **params: Any,
    ) -> tuple[int, Any]:
        params = {k: str(v) for k, v in params.items()}
        if app is not ...:
            if app is not None:
                params["application_id"] = str(app)
        else:
            params["application_id"] = str(self.emu.application_id)
        headers = {}
        auth = f"Bearer {self.token}" if authorization is ... else authorization
        if auth is not None:
            headers["Authorization"] = auth
        url, query, data = self._shape(method, style, params)
        async with self.session.post(
            url, params=query, data=data, headers=headers, ssl=self.emu.ssl_context
        ) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    def _shape(self, method: str, style: str, params: dict[str, str]) -> tuple[str, Any, Any]:
        base = self.emu.base_url
        if style == "cmd":
            return base, None, {"cmd": method, **params}
        if style == "query":
            return f"{base}/{method}", params, None
        if style == "multipart":
            form = aiohttp.FormData()
            for name, value in params.items():
                form.add_field(name, value)
            form.add_field("_", b"", filename="x")  # forces multipart/form-data
            return f"{base}/{method}", None, form
        return f"{base}/{method}", None, params

    async def result(self, method: str, **params: Any) -> Any:
        """The ``result`` of a call that must succeed."""
        status, body = await self.call(method, **params)
        assert status == 200, body
        assert "result" in body, body
        return body["result"]

    async def error(self, method: str, **params: Any) -> int:
        """The error code of a call that must fail with an envelope."""
        status, body = await self.call(method, **params)
        assert status == 200, body
        assert "error" in body, body
        assert isinstance(body["error"]["msg"], str)
        assert body["error"]["msg"]
        return int(body["error"]["code"])


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(voxkv_emulator: Emulator, session: aiohttp.ClientSession) -> Api:
    return Api(voxkv_emulator, session)
