"""The fixtures every test folder shares: keys, credentials, the mocked API (on
MockTransport, and on aiohttp with aioresponses and its compatibility shim), and the
suite-wide secret guard. A folder's own conftest.py holds
only what that folder alone uses."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from _mock_api import MockApi
from aioresponses import aioresponses
from cryptography.hazmat.primitives.asymmetric import rsa

from voxkv_async import Credentials

# secret_guard scans every log record and error message of the whole run for tokens, keys
# and values.
pytest_plugins = ["secret_guard"]


def _let_aioresponses_build_responses() -> None:
    """Let aioresponses 0.7.9 (its latest) build responses on aiohttp >= 3.14.

    aiohttp 3.14 added a required keyword-only ``stream_writer`` to
    ``ClientResponse.__init__``; aioresponses builds its mocked responses itself without
    it (``TypeError: ... missing ... 'stream_writer'``). Those responses are never
    written to, so a stand-in reporting 0 bytes sent is enough. Only the class that
    aioresponses builds is replaced, in aioresponses' own module: aiohttp itself, which
    the client under test uses, is left as it is. Remove once aioresponses passes it.
    """
    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return

    class MockedResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
            super().__init__(*args, **kwargs)

    aioresponses_core.ClientResponse = MockedResponse  # type: ignore[misc]


_let_aioresponses_build_responses()

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    """One RSA key for the whole run: generating one takes ~50-100 ms."""
    return _KEY


@pytest.fixture
def credentials(private_key: rsa.RSAPrivateKey) -> Credentials:
    return Credentials(account_id=4242, key_id="kid-1", private_key=private_key,
                       account_email="svc@example.com")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """The API mocked with aioresponses, under aiohttp: for the aiohttp transport's own
    tests (what goes on the wire, how aiohttp's exceptions map to ours)."""
    with aioresponses() as m:
        yield m


@pytest.fixture
def mock_api() -> MockApi:
    """The API played behind a MockTransport: no socket, no aiohttp (``tests/_mock_api.py``).
    Units above the transport are tested on it; ``mocked`` is for the aiohttp transport."""
    return MockApi()
