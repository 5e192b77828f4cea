"""Connection settings: where to connect, how many connections, how long to wait, TLS."""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl as _ssl

import attrs
from yarl import URL

__all__ = [
    "BASE_URL_ENV_VAR",
    "CA_FILE_ENV_VAR",
    "DEFAULT_BASE_URL",
    "Limits",
    "Timeouts",
    "make_ssl_context",
    "resolve_base_url",
]

logger = logging.getLogger("voxkv_async")

CA_FILE_ENV_VAR = "VOXKV_CA_FILE"
"""The environment variable naming a PEM file of CAs to trust when a client is given
neither ``ssl`` nor ``ca_file`` (``voxkv emulator --tls`` prints it): the library and the
CLI read it alike."""

DEFAULT_BASE_URL = "https://api.voximplant.com/platform_api"
"""The real API's root, used when neither ``base_url`` nor ``$VOXKV_BASE_URL`` is given."""
BASE_URL_ENV_VAR = "VOXKV_BASE_URL"
"""The environment variable that overrides :data:`DEFAULT_BASE_URL` when no ``base_url``
is passed: point an application at a local emulator without code changes."""



@attrs.frozen
class Limits:
    """Connection pool settings.

    Attributes:
        max_connections: Connections open at once; further requests queue for one.
            The API documents throttling above 200 concurrent requests.
        keepalive: Seconds an idle connection is kept for reuse.
        dns_cache_ttl: Seconds a DNS answer is reused.
        max_response_bytes: Larger answers are refused with a ``ProtocolError`` (the
            largest legitimate page, 50 items of 2000 escaped characters, is ~0.6 MB).
    """

    max_connections: int = attrs.field(default=100, validator=attrs.validators.gt(0))
    keepalive: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    dns_cache_ttl: int = attrs.field(default=300, validator=attrs.validators.gt(0))
    max_response_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=attrs.validators.gt(0))


@attrs.frozen
class Timeouts:
    """Time limits, in seconds.

    Attributes:
        connect: To open a connection: DNS, TCP and TLS.
        attempt: One request from start to the last byte of the answer, the wait for a
            free pooled connection included (calls beyond ``max_connections`` queue in
            arrival order).
        deadline: One call from start to end, its retries and waits included. Retrying
            stops as soon as the next wait would end past it.
    """

    connect: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    attempt: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    deadline: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None) -> URL:
    """The API's base URL: ``base_url``, else ``$VOXKV_BASE_URL``, else the real API.

    Raises:
        ValueError: the URL is not ``https://`` (plain ``http://`` is allowed only to a
            loopback address, for local emulators), or has a query or fragment.
    """
    raw = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    url = URL(raw)
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValueError(
            f"base_url {raw!r}: plain http is refused except to loopback addresses; use https"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url {raw!r}: must be an https:// URL")
    if url.query_string or url.fragment:
        raise ValueError(f"base_url {raw!r}: must have no query or fragment")
    return url.with_path(url.path.rstrip("/"))


def make_ssl_context(
    ssl: _ssl.SSLContext | None,
    ca_file: str | os.PathLike[str] | None,
    insecure_skip_verify: bool,
) -> _ssl.SSLContext:
    """The TLS context for the pool: verification on, with an optional extra CA.

    ``insecure_skip_verify`` is the only way to turn verification off, and says so in the
    log every time a client is made with it. With neither ``ssl`` nor ``ca_file``, the
    CAs of ``$VOXKV_CA_FILE`` (:data:`CA_FILE_ENV_VAR`) are trusted instead of the
    system's when it is set and not empty.
    """
    if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
        raise TypeError(
            "ssl must be an ssl.SSLContext; to disable verification (never in production) "
            "pass insecure_skip_verify=True"
        )
    if insecure_skip_verify:
        logger.warning(
            "TLS certificate verification is DISABLED (insecure_skip_verify=True): "
            "anyone on the network path can read and change requests"
        )
        ctx = _ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
        return ctx
    if ssl is not None:
        return ssl
    if not ca_file:
        ca_file = os.environ.get(CA_FILE_ENV_VAR) or None
    return _ssl.create_default_context(cafile=os.fspath(ca_file) if ca_file else None)
