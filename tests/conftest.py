"""Shared test setup: the aioresponses compatibility shim, keys, credentials."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from voxkv_async import Credentials

# secret_guard scans every log record and error message of the whole run for tokens, keys
# and values; _docs_support has the fixture emulator_env of the docs' and README's tests.
pytest_plugins = ["secret_guard", "_docs_support"]


def _give_client_response_a_stream_writer() -> None:
    """Let aioresponses 0.7.9 build responses on aiohttp >= 3.14.

    aiohttp 3.14 added a required keyword-only ``stream_writer`` to
    ``ClientResponse.__init__``; aioresponses builds responses itself and does not pass
    it, failing with ``TypeError: ... missing ... 'stream_writer'``. Its mocked
    responses are never written to, so a stand-in that reports 0 bytes sent is enough.
    Test-only: the library itself never touches aioresponses.
    """
    init = aiohttp.ClientResponse.__init__
    if "stream_writer" not in inspect.signature(init).parameters or getattr(
        init, "_voxkv_shim", False
    ):
        return

    def patched(self: aiohttp.ClientResponse, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        init(self, *args, **kwargs)

    patched._voxkv_shim = True  # type: ignore[attr-defined]
    aiohttp.ClientResponse.__init__ = patched  # type: ignore[method-assign]


_give_client_response_a_stream_writer()

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    """One RSA key for the whole run: generating one takes ~50-100 ms."""
    return _KEY


@pytest.fixture
def credentials(private_key: rsa.RSAPrivateKey) -> Credentials:
    return Credentials(account_id=4242, key_id="kid-1", private_key=private_key,
                       account_email="svc@example.com")
