"""voxkv_async: an asyncio client for the Voximplant Management API key-value storage.

>>> from voxkv_async import VoxKV, Credentials
>>> async with VoxKV(Credentials.from_env(), application_id=123) as kv:   # doctest: +SKIP
...     await kv.set("ns:key", "value", ttl=3600)
"""

__version__ = "0.1.0"

from ._auth import TokenSettings
from ._bulk import AdaptiveRate, BulkError, BulkFailure, BulkOptions, BulkReport
from ._client import VoxKV
from ._config import BASE_URL_ENV_VAR, DEFAULT_BASE_URL, Limits, Timeouts
from ._credentials import CREDENTIALS_ENV_VAR, Credentials
from ._errors import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    CredentialsError,
    IncompleteResponseError,
    InvalidArgumentError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TLSVerificationError,
    TransportError,
    ValidationError,
    VoxKVError,
)
from ._models import KeyInfo, KeyValueItem
from ._retry import RetryPolicy
from ._stats import Stats

__all__ = [
    "BASE_URL_ENV_VAR",
    "CREDENTIALS_ENV_VAR",
    "DEFAULT_BASE_URL",
    "AdaptiveRate",
    "ApiError",
    "ApplicationNotFoundError",
    "AuthenticationError",
    "BulkError",
    "BulkFailure",
    "BulkOptions",
    "BulkReport",
    "ClientClosedError",
    "ConnectError",
    "Credentials",
    "CredentialsError",
    "IncompleteResponseError",
    "InvalidArgumentError",
    "KeyInfo",
    "KeyValueItem",
    "Limits",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "Stats",
    "TLSVerificationError",
    "Timeouts",
    "TokenSettings",
    "TransportError",
    "ValidationError",
    "VoxKV",
    "VoxKVError",
    "__version__",
]
