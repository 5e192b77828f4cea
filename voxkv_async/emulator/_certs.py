"""Keys and certificates, made once per process: RSA and X.509 generation is slow."""

from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .._credentials import Credentials

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "ca_file",
    "ca_pem",
    "client_ssl_context",
    "generate_credentials",
    "server_ssl_context",
    "service_key",
]

DEFAULT_ACCOUNT_ID = 1000001
"""The account id of the emulator's generated service account."""
#: The names the emulator's certificate is valid for.
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@functools.cache
def service_key(slot: int = 0) -> rsa.RSAPrivateKey:
    """An RSA-2048 key, generated once per process and ``slot``.

    Slot 0 signs the default account; tests take other slots for foreign keys.
    """
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def generate_credentials(
    account_id: int | str = DEFAULT_ACCOUNT_ID,
    key_id: str | None = None,
    *,
    slot: int = 0,
) -> Credentials:
    """A service account for the emulator: the cached key of ``slot``, a random key id."""
    return Credentials(
        account_id=account_id,
        key_id=key_id or uuid.uuid4().hex,
        private_key=service_key(slot),
        account_email=f"emulator+{account_id}@voxkv.invalid",
        source="<voxkv emulator>",
    )


@functools.cache
def _ca() -> Any:
    try:
        import trustme
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "the emulator's TLS needs trustme: pip install 'voxkv_async[emulator]'"
        ) from None
    return trustme.CA(organization_name="voxkv_async emulator")


@functools.cache
def server_ssl_context() -> ssl.SSLContext:
    """The server side: a certificate for 127.0.0.1, localhost and ::1."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _ca().issue_cert(*SERVER_NAMES).configure_cert(ctx)
    return ctx


@functools.cache
def client_ssl_context() -> ssl.SSLContext:
    """A client context that trusts the emulator's CA (and verifies host names).

    One per process: aiohttp pools connections per SSL context object, so handing out a
    new context every time would defeat keep-alive.
    """
    ctx = ssl.create_default_context()
    _ca().configure_trust(ctx)
    return ctx


def ca_pem() -> bytes:
    """The emulator's CA certificate, PEM-encoded."""
    return bytes(_ca().cert_pem.bytes())


@functools.cache
def ca_file() -> Path:
    """A PEM file holding the CA certificate, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="voxkv-ca-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "ca.pem"
    path.write_bytes(ca_pem())
    return path
