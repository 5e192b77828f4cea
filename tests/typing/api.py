"""Typical user code of voxkv_async's public API, type-checked, never run.

``tests/typing/test_mypy.py`` runs ``mypy --strict`` over this file, as stamina does with
its ``tests/typing``. Each ``assert_type`` pins what a public call gives back, so a change
of a signature that would break the type checking of users' code fails the suite. Only
public names are imported: if this file needs a private one, the public API lacks it.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, assert_type

import voxkv_async
from voxkv_async import (
    BASE_URL_ENV_VAR,
    CREDENTIALS_ENV_VAR,
    DEFAULT_BASE_URL,
    AdaptiveRate,
    ApiError,
    ApplicationNotFoundError,
    AttemptHook,
    AuthenticationError,
    BulkError,
    BulkFailure,
    BulkOptions,
    BulkReport,
    CallOptions,
    ClientClosedError,
    ConnectError,
    Credentials,
    CredentialsError,
    ExpiryOptions,
    IncompleteResponseError,
    InvalidArgumentError,
    JsonCodec,
    KeyInfo,
    KeysInput,
    KeyValueItem,
    Limits,
    Listing,
    Namespace,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    SetInput,
    SetManyOptions,
    SetOptions,
    Stats,
    Timeouts,
    TLSVerificationError,
    TokenSettings,
    TransportError,
    ValidationError,
    VoxKV,
    VoxKVError,
)
from voxkv_async.emulator import Emulator, EmulatorModes, FakeClock, Faults

# --- making a client ---------------------------------------------------------------------


def load_credentials(path: str | None) -> Credentials:
    if path is not None:
        return Credentials.from_file(path)
    creds = Credentials.from_env()
    assert_type(creds.account_id, int | str)
    assert_type(creds.key_id, str)
    assert_type(Credentials.from_env(CREDENTIALS_ENV_VAR), Credentials)
    return Credentials.from_dict(creds.to_dict(), source="a secrets manager")


def make_client(creds: Credentials, context: ssl.SSLContext | None) -> VoxKV:
    assert_type(DEFAULT_BASE_URL, str)
    assert_type(BASE_URL_ENV_VAR, str)
    assert_type(voxkv_async.__version__, str)
    return VoxKV(
        creds,
        123,
        application_name="my-app",
        base_url=DEFAULT_BASE_URL,
        ssl=context,
        limits=Limits(max_connections=20, keepalive=15.0, max_response_bytes=1 << 20),
        timeouts=Timeouts(connect=2, attempt=5.0, deadline=10),
        retry=RetryPolicy(max_attempts=3, base=0.05, throttle_base=0.25, budget_capacity=100),
        tokens=TokenSettings(lifetime=1800, backdate=10, refresh_margin=120),
    )


def retry_policies() -> list[RetryPolicy]:
    assert_type(RetryPolicy.disabled(), RetryPolicy)
    assert_type(RetryPolicy.for_testing(max_attempts=3), RetryPolicy)
    policy = RetryPolicy()
    assert_type(policy.max_attempts, int)
    assert_type(policy.max_wait, float)
    return [policy, RetryPolicy.disabled()]


# --- the five calls ----------------------------------------------------------------------


async def single_calls(kv: VoxKV) -> None:
    assert_type(await kv.set("ns:k", "v"), KeyValueItem)
    assert_type(await kv.set("ns:k", "v", ttl=3600), KeyValueItem)
    assert_type(await kv.set("ns:k", "v", expires_at=1_900_000_000), KeyValueItem)
    later = datetime.now(UTC) + timedelta(days=1)
    assert_type(await kv.set("ns:k", "v", expires_at=later), KeyValueItem)

    item = await kv.get("ns:k")
    assert_type(item, KeyValueItem | None)
    if item is not None:
        assert_type(item.key, str)
        assert_type(item.value, str)
        assert_type(item.expires_at, int | None)
        assert_type(item.expires_at_utc, datetime | None)

    assert_type(await kv.delete("ns:k"), bool)
    fast = await kv.get("ns:k", timeout=0.5, retry=RetryPolicy.disabled())
    assert_type(fast, KeyValueItem | None)
    assert_type(await kv.set("ns:k", "v", ttl=60, timeout=2.0), KeyValueItem)
    assert_type(await kv.delete("ns:k", retry=RetryPolicy.for_testing()), bool)
    assert_type(await kv.items("ns:"), list[KeyValueItem])
    assert_type(await kv.items("ns:", count=10, offset=20), list[KeyValueItem])
    keys = await kv.keys()
    assert_type(keys, list[KeyInfo])
    assert_type(keys[0].key, str)
    assert_type(keys[0].expires_at, int | None)
    assert_type(await kv.keys("ns:", count=50, offset=0), list[KeyInfo])

    async for entry in kv.iter_items("ns:", page_size=20):
        assert_type(entry, KeyValueItem)
    async for info in kv.iter_keys():
        assert_type(info, KeyInfo)
    listing = kv.iter_items("ns:", concurrency=4)
    assert_type(listing, Listing[KeyValueItem])
    assert_type(listing.report.gaps, int)
    walk: AsyncIterator[KeyInfo] = kv.iter_keys()  # still an async iterator
    await anext(walk)


async def views_and_json(kv: VoxKV, options: SetOptions, per_call: CallOptions) -> None:
    users = kv.namespace("users")
    assert_type(users, Namespace)
    assert_type(users.namespace("vip").prefix, str)
    assert_type(await users.set("42", "ada", **options), KeyValueItem)
    assert_type(await users.get("42", **per_call), KeyValueItem | None)
    assert_type(await users.items(), list[KeyValueItem])
    assert_type(await users.keys(count=10), list[KeyInfo])
    async for entry in users.iter_items(page_size=10, timeout=1.0):
        assert_type(entry, KeyValueItem)
    assert_type(await users.set_many({"1": "a"}, ttl=60, concurrency=4), BulkReport)
    assert_type(await users.get_many(["1"]), list[KeyValueItem | None])

    assert_type(await kv.set_json("cfg", {"a": 1}, ttl=60, codec=JsonCodec()), KeyValueItem)
    assert_type(await kv.get_json("cfg", {}, timeout=1.0), Any)
    many: SetManyOptions = {"ttl": 60, "concurrency": 8}
    assert_type(await users.set_many_json({"1": [1, 2]}, **many), BulkReport)
    assert_type(await kv.get_many_json(["cfg"], default=0), list[Any])
    expiry: ExpiryOptions = {"expires_at": datetime.now(UTC) + timedelta(hours=1)}
    assert_type(await kv.set("ns:k", "v", **expiry), KeyValueItem)


async def lifecycle(creds: Credentials) -> None:
    async with VoxKV(creds, 1) as kv:
        assert_type(kv, VoxKV)
        assert_type(kv.closed, bool)
        assert_type(kv.retry_policy, RetryPolicy)
    await kv.close()


# --- bulk ----------------------------------------------------------------------------------


def pairs() -> Iterator[tuple[str, str]]:
    yield "user:1", "ada"


async def items_from_a_database() -> AsyncIterator[KeyValueItem]:
    yield KeyValueItem("user:2", "grace", 1_900_000_000)


async def bulk(kv: VoxKV) -> None:
    def on_failure(failure: BulkFailure) -> None:
        assert_type(failure.index, int)
        assert_type(failure.item, object)
        assert_type(failure.error, Exception)

    def on_progress(report: BulkReport) -> None:
        print(report.done, report.total, report.throughput)

    report = await kv.set_many(
        pairs(),
        ttl=86_400,
        concurrency=32,
        rate_limit=200.0,
        adaptive=AdaptiveRate(min_rate=1.0),
        progress=on_progress,
        progress_interval=1.0,
        on_failure=on_failure,
    )
    assert_type(report, BulkReport)
    assert_type(report.succeeded, int)
    assert_type(report.failures, list[BulkFailure])
    assert_type(report.ok, bool)
    assert_type(report.summary(), str)
    assert_type(await kv.set_many({"a": "1"}, progress=True), BulkReport)
    assert_type(
        await kv.set_many(items_from_a_database(), report=BulkReport(), raise_on_error=True),
        BulkReport,
    )

    found = await kv.get_many(["user:1", "user:2"])
    assert_type(found, list[KeyValueItem | None])
    options: BulkOptions = {"concurrency": 8, "adaptive": False}
    deleted = await kv.delete_many((key for key in ["user:1"]), **options)
    assert_type(deleted, BulkReport)
    assert_type(deleted.missing, int)

    try:
        report.raise_for_errors()
    except BulkError as group:
        assert_type(group.report, BulkReport | None)
        assert_type(group.exceptions, tuple[Exception, ...])


def inputs(rows: dict[str, str], keys: list[str]) -> tuple[SetInput, KeysInput]:
    set_input: SetInput = rows
    keys_input: KeysInput = keys
    return set_input, keys_input


# --- errors --------------------------------------------------------------------------------


async def errors(kv: VoxKV) -> str:
    try:
        await kv.get("ns:k")
    except ValidationError as exc:
        assert_type(exc.field, str)
        assert_type(exc.limit, str)
        assert_type(exc.given, str)
    except RateLimitedError as exc:
        assert_type(exc.retry_after, float | None)
        assert_type(exc.code, int | None)
    except ServerError as exc:
        assert_type(exc.retry_after, float | None)
    except (AuthenticationError, PermissionDeniedError, ApplicationNotFoundError) as exc:
        assert_type(exc.status, int)
    except InvalidArgumentError as exc:
        assert_type(exc.msg, str)
    except ApiError as exc:
        assert_type(exc.method, str)
        assert_type(exc.errors, tuple[tuple[int | None, str], ...])
        assert_type(exc.key, str | None)
    except (ConnectError, RequestTimeoutError, TLSVerificationError) as exc:
        return type(exc).__name__
    except TransportError:
        return "transport"
    except IncompleteResponseError as exc:
        assert_type(exc.status, int)
    except ProtocolError as exc:
        assert_type(exc.excerpt, str)
    except (ClientClosedError, CredentialsError) as exc:
        return str(exc)
    except VoxKVError:
        return "other"
    return "ok"


def error_bases() -> list[Exception]:
    as_value_error: ValueError = ValidationError("key", "1..200 characters", "201 characters")
    as_timeout: TimeoutError = RequestTimeoutError("too slow")
    as_runtime_error: RuntimeError = ClientClosedError("closed")
    as_api_error: ApiError = RateLimitedError("slow down", code=340, retry_after=1.5)
    return [as_value_error, as_timeout, as_runtime_error, as_api_error]


# --- instrumentation -----------------------------------------------------------------------


def instrument(kv: VoxKV, counts: dict[str, int]) -> Callable[[], None]:
    def hook(outcome: VoxKVError | None) -> None:
        counts["attempts"] += 1
        if outcome is not None:
            counts[type(outcome).__name__] += 1

    typed: AttemptHook = hook
    stats = kv.stats
    assert_type(stats, Stats)
    assert_type(stats.calls, int)
    assert_type(stats.retries, int)
    assert_type(stats.as_dict(), dict[str, Any])
    remove = kv.add_attempt_hook(typed)
    assert_type(remove, Callable[[], None])
    return remove


# --- the emulator --------------------------------------------------------------------------


async def against_the_emulator() -> None:
    clock = FakeClock()
    async with Emulator(clock=clock, faults=Faults(http_503=0.1), seed=1) as emu:
        assert_type(emu.base_url, str)
        assert_type(emu.ssl_context, ssl.SSLContext | None)
        async with VoxKV(emu.credentials, emu.application_id, base_url=emu.base_url,
                         ssl=emu.ssl_context, retry=RetryPolicy.for_testing()) as kv:
            await kv.set("k", "v", ttl=60)
        clock.advance(61)
        emu.set_modes(missing_get="error")
        assert_type(emu.set_faults(code_340=0.1), Faults)
        assert_type(emu.modes, EmulatorModes)
        assert_type(emu.items(), dict[str, str])
        assert_type(emu.stats.total_requests, int)
