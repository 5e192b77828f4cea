"""voxkv_async: an asyncio client for the Voximplant Management API key-value storage.

>>> from voxkv_async import VoxKV, Credentials
>>> async with VoxKV(Credentials.from_env(), application_id=123) as kv:   # doctest: +SKIP
...     await kv.set("ns:key", "value", ttl=3600)
"""

from ._aiohttp_transport import AiohttpTransport
from ._auth import TokenSettings
from ._bulk import (
    AdaptiveRate,
    BulkAbortedError,
    BulkError,
    BulkFailure,
    BulkOptions,
    BulkReport,
    Checkpoint,
    CheckpointCorruptError,
    CheckpointDestinationError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointMismatchError,
    KeysInput,
    PacingTuning,
    SetInput,
)
from ._bulk.operations import SetManyOptions
from ._cache import ReadCache
from ._client import VoxKV
from ._codecs import Codec, JsonCodec
from ._commands import CallOptions, ExpiryOptions, SetOptions
from ._config import BASE_URL_ENV_VAR, CA_FILE_ENV_VAR, DEFAULT_BASE_URL, Limits, Timeouts
from ._credentials import CREDENTIALS_ENV_VAR, Credentials
from ._errors import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    CredentialsError,
    DecodeError,
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
    WrongEventLoopError,
)
from ._events import (
    AttemptEnded,
    AttemptHook,
    AuthRetried,
    CacheHit,
    CacheMiss,
    CallEnded,
    CallStarted,
    Coalesced,
    Event,
    EventStream,
    RetryRefused,
    RetryScheduled,
    Subscriber,
    TokenSigned,
)
from ._listing import Listing, ListingOptions, ListingReport
from ._mock_transport import MockTransport
from ._models import KeyInfo, KeyValueItem
from ._namespace import Namespace
from ._retry import RetryPolicy
from ._stats import Stats
from ._transports import Request, Response, Transport
from ._version import VERSION as __version__

__all__ = [
    "BASE_URL_ENV_VAR",
    "CA_FILE_ENV_VAR",
    "CREDENTIALS_ENV_VAR",
    "DEFAULT_BASE_URL",
    "AdaptiveRate",
    "AiohttpTransport",
    "ApiError",
    "ApplicationNotFoundError",
    "AttemptEnded",
    "AttemptHook",
    "AuthRetried",
    "AuthenticationError",
    "BulkAbortedError",
    "BulkError",
    "BulkFailure",
    "BulkOptions",
    "BulkReport",
    "CacheHit",
    "CacheMiss",
    "CallEnded",
    "CallOptions",
    "CallStarted",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointDestinationError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
    "ClientClosedError",
    "Coalesced",
    "Codec",
    "ConnectError",
    "Credentials",
    "CredentialsError",
    "DecodeError",
    "Event",
    "EventStream",
    "ExpiryOptions",
    "IncompleteResponseError",
    "InvalidArgumentError",
    "JsonCodec",
    "KeyInfo",
    "KeyValueItem",
    "KeysInput",
    "Limits",
    "Listing",
    "ListingOptions",
    "ListingReport",
    "MockTransport",
    "Namespace",
    "PacingTuning",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ReadCache",
    "Request",
    "RequestTimeoutError",
    "Response",
    "RetryPolicy",
    "RetryRefused",
    "RetryScheduled",
    "ServerError",
    "SetInput",
    "SetManyOptions",
    "SetOptions",
    "Stats",
    "Subscriber",
    "TLSVerificationError",
    "Timeouts",
    "TokenSettings",
    "TokenSigned",
    "Transport",
    "TransportError",
    "ValidationError",
    "VoxKV",
    "VoxKVError",
    "WrongEventLoopError",
    "__version__",
]
