"""Retries: what is retried, how long it waits, when it gives up, and that it logs."""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import formatdate

import pytest

from voxkv_async import (
    ApiError,
    ApplicationNotFoundError,
    AuthenticationError,
    ConnectError,
    IncompleteResponseError,
    InvalidArgumentError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    Timeouts,
    VoxKV,
)

import _support as support
from _support import GET_URL, ITEM, SET_URL, MockApi

OK = {"payload": {"result": ITEM}}


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def make_kv(credentials, api: MockApi, sleep: RecordingSleep, *,
            timeouts: Timeouts | None = None, **policy) -> VoxKV:
    """A client of ``api`` that sleeps with ``sleep``."""
    return support.make_kv(credentials, api, retry=RetryPolicy(sleep=sleep, **policy),
                           timeouts=timeouts)


def http(status: int, **kw) -> dict:
    return {"status": status, "body": kw.pop("body", "busy"), "content_type": "text/plain", **kw}


def disconnected() -> ConnectError:
    return ConnectError("GetKeyValueItem: server disconnected", sent=True)


def broken_off() -> IncompleteResponseError:
    return IncompleteResponseError("answer body broken off", status=0, method="GetKeyValueItem")


def api(code: int, msg: str = "oops", **kw) -> dict:
    return {"payload": {"error": {"code": code, "msg": msg}}, **kw}


SEQUENCES = {
    "503,503,ok": [http(503), http(503), OK],
    "429,ok": [http(429), OK],
    "500,502,504,ok": [http(500), http(502), http(504), OK],
    # The errors a transport raises (how aiohttp's map to them: test_aiohttp_transport.py).
    "server-disconnected,ok": [{"exception": disconnected()}, OK],
    "connection-reset,ok": [
        {"exception": ConnectError("GetKeyValueItem: connection reset by peer", sent=True)}, OK
    ],
    "timeout,ok": [{"exception": RequestTimeoutError("GetKeyValueItem: no answer", sent=True)},
                   OK],
    "payload-broken,ok": [{"exception": broken_off()}, OK],
    "code 2,ok": [api(2, "Internal error"), OK],
    "code 162,340,484,515,ok": [api(162), api(340), api(484), api(515), OK],
    "503,reset,429,ok": [
        http(503), {"exception": disconnected()}, http(429), OK
    ],
}


@pytest.mark.parametrize("sequence", list(SEQUENCES.values()), ids=list(SEQUENCES))
async def test_transient_failures_then_success(credentials, mock_api, sleep, sequence) -> None:
    for answer in sequence:
        mock_api.post(GET_URL, **answer)
    async with make_kv(credentials, mock_api, sleep) as kv:
        item = await kv.get("ns:k")
        assert item is not None
        assert item.value == "v"
        assert kv.stats.requests == len(sequence)
        assert kv.stats.retries == len(sequence) - 1
        assert kv.stats.calls == 1
        assert kv.stats.errors == {}
    assert len(sleep.calls) == len(sequence) - 1
    assert all(0 <= s <= 10 for s in sleep.calls)


async def test_for_testing_policy_retries_without_waiting(credentials, mock_api) -> None:
    # Four waits of 5 s the server asks for: 20 s if they were slept, a few ms if not
    # (the margin is for a loaded CI machine).
    for answer in [http(503, headers={"Retry-After": "5"})] * 4 + [OK]:
        mock_api.post(GET_URL, **answer)
    kv = support.make_kv(credentials, mock_api, retry=RetryPolicy.for_testing())
    async with kv:
        start = time.monotonic()
        assert await kv.get("ns:k") is not None
        assert time.monotonic() - start < 5
        assert kv.stats.retries == 4


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_the_sleep(credentials, mock_api, sleep, status) -> None:
    mock_api.post(GET_URL, **http(status, headers={"Retry-After": "7"}))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.get("ns:k")
    assert sleep.calls == [7.0]


async def test_retry_after_http_date_is_the_sleep(credentials, mock_api, sleep) -> None:
    when = formatdate(time.time() + 6, usegmt=True)
    mock_api.post(GET_URL, **http(503, headers={"Retry-After": when}))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.get("ns:k")
    (slept,) = sleep.calls
    assert 4.0 <= slept <= 6.0


async def test_retry_after_date_in_the_past_is_zero(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, **http(503, headers={"Retry-After": formatdate(0, usegmt=True)}))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.get("ns:k")
    assert sleep.calls == [0.0]


async def test_code_416_waits_the_seconds_in_its_message(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, **api(416, "Repeat the request after 3 seconds"))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.get("ns:k")
        assert kv.stats.retries == 1
    assert sleep.calls == [3.0]


async def test_throttling_waits_use_throttle_base(credentials, mock_api, sleep) -> None:
    # Full jitter: wait n is uniform(0, min(max_wait, base * 2**(n-1))).
    for _ in range(4):
        mock_api.post(GET_URL, **api(340, "Rate limit exceeded"))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep, base=0.001, throttle_base=100.0, max_wait=1000,
                       timeouts=Timeouts(deadline=10_000)) as kv:
        await kv.get("ns:k")
    assert len(sleep.calls) == 4
    for n, s in enumerate(sleep.calls):
        assert 0 <= s <= 100.0 * 2**n
    # With the transient base all four would be under 0.008 s; P(all < 1 s) ~ 1e-8.
    assert max(sleep.calls) > 1.0


async def four_failures_then_ok(credentials, mock_api, sleep, status: int) -> None:
    """Four answers of ``status``, then success, under a tiny transient base and a huge
    throttling base: the waits show which base the policy used."""
    for _ in range(4):
        mock_api.post(GET_URL, **http(status))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep, base=0.001, throttle_base=100.0, max_wait=1000,
                       timeouts=Timeouts(deadline=10_000)) as kv:
        await kv.get("ns:k")


async def test_http_429_without_retry_after_is_throttling(credentials, mock_api, sleep) -> None:
    await four_failures_then_ok(credentials, mock_api, sleep, 429)
    assert max(sleep.calls) > 1.0


async def test_transient_waits_use_base(credentials, mock_api, sleep) -> None:
    await four_failures_then_ok(credentials, mock_api, sleep, 503)
    assert len(sleep.calls) == 4
    for n, s in enumerate(sleep.calls):
        assert 0 <= s <= 0.001 * 2**n


async def test_waits_are_capped_by_max_wait(credentials, mock_api, sleep) -> None:
    for _ in range(6):
        mock_api.post(GET_URL, **http(503))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep, max_attempts=7, base=50.0, max_wait=0.5) as kv:
        await kv.get("ns:k")
    assert len(sleep.calls) == 6
    assert all(0 <= s <= 0.5 for s in sleep.calls)


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
async def test_max_attempts_respected(credentials, mock_api, sleep, attempts) -> None:
    mock_api.post(GET_URL, repeat=True, **http(503))
    async with make_kv(credentials, mock_api, sleep, max_attempts=attempts) as kv:
        with pytest.raises(ServerError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == attempts
        assert kv.stats.retries == attempts - 1
        assert kv.stats.errors == {"ServerError": 1}
    assert len(sleep.calls) == attempts - 1
    assert info.value.status == 503
    if attempts > 1:
        assert any(f"after {attempts} attempts" in n for n in info.value.__notes__)


async def test_retry_after_beyond_deadline_gives_up_without_sleeping(
    credentials, mock_api, sleep
) -> None:
    mock_api.post(GET_URL, repeat=True, **http(503, headers={"Retry-After": "20"}))
    async with make_kv(credentials, mock_api, sleep, timeouts=Timeouts(deadline=5)) as kv:
        with pytest.raises(ServerError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 1
        assert kv.stats.retries == 0
    assert sleep.calls == []
    assert any("deadline" in n for n in info.value.__notes__)


async def test_retry_after_beyond_max_retry_after_gives_up(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, repeat=True, **http(429, headers={"Retry-After": "3600"}))
    async with make_kv(credentials, mock_api, sleep, timeouts=Timeouts(deadline=10_000)) as kv:
        with pytest.raises(RateLimitedError) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 1
    assert sleep.calls == []
    assert info.value.retry_after == 3600


async def test_deadline_counts_real_time_spent(credentials, mock_api) -> None:
    """Waits that really pass time stop the retrying at the deadline."""
    slept: list[float] = []

    async def real_sleep(s: float) -> None:
        slept.append(s)
        await asyncio.sleep(s)

    mock_api.post(GET_URL, repeat=True, **http(503, headers={"Retry-After": "0.15"}))
    kv = support.make_kv(credentials, mock_api,
                         retry=RetryPolicy(max_attempts=50, sleep=real_sleep),
                         timeouts=Timeouts(deadline=0.5))
    async with kv:
        with pytest.raises(ServerError):
            await kv.get("ns:k")
        # 0.15 s waits inside 0.5 s: at most 3 waits, so at most 4 requests.
        assert 2 <= kv.stats.requests <= 4
    assert len(slept) == kv.stats.requests - 1


async def test_budget_exhaustion_stops_retrying(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, repeat=True, **http(503))
    async with make_kv(credentials, mock_api, sleep, max_attempts=10, budget_capacity=10,
                       retry_cost=5) as kv:
        with pytest.raises(ServerError) as info:
            await kv.get("ns:k")
        # Two retries drain the 10 tokens; the third is refused.
        assert kv.stats.requests == 3
        assert kv.stats.retries == 2
        assert kv.stats.budget_exhausted == 1
        assert any("budget" in n for n in info.value.__notes__)
        # The bucket is empty: the next call fails on its first error.
        with pytest.raises(ServerError):
            await kv.get("ns:k")
        assert kv.stats.requests == 4
        assert kv.stats.budget_exhausted == 2
    assert len(sleep.calls) == 2


async def test_budget_refills_on_success(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, **http(503))
    mock_api.post(GET_URL, **OK)
    mock_api.post(GET_URL, **http(503))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep, budget_capacity=5, retry_cost=5) as kv:
        await kv.get("ns:k")
        await kv.get("ns:k")  # would be refused if the first retry's cost was not refunded
        assert kv.stats.budget_exhausted == 0
        assert kv.stats.retries == 2


async def test_budget_zero_means_unlimited(credentials, mock_api, sleep) -> None:
    mock_api.post(GET_URL, repeat=True, **http(503))
    async with make_kv(credentials, mock_api, sleep, max_attempts=4, budget_capacity=0) as kv:
        for _ in range(3):
            with pytest.raises(ServerError):
                await kv.get("ns:k")
        assert kv.stats.requests == 12
        assert kv.stats.budget_exhausted == 0


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (101, InvalidArgumentError),
        (104, PermissionDeniedError),
        (116, ApplicationNotFoundError),
        (433, AuthenticationError),
        (558, ApplicationNotFoundError),
        (999, ApiError),
    ],
)
async def test_no_retry_on_final_codes(credentials, mock_api, sleep, code, cls) -> None:
    mock_api.post(GET_URL, repeat=True, **api(code, "refused"))
    async with make_kv(credentials, mock_api, sleep) as kv:
        with pytest.raises(cls) as info:
            await kv.get("ns:k")
        assert kv.stats.requests == 1
        assert kv.stats.retries == 0
    assert info.value.code == code
    assert sleep.calls == []


@pytest.mark.parametrize("status", [400, 404, 401, 403])
async def test_no_retry_on_4xx(credentials, mock_api, sleep, status) -> None:
    mock_api.post(GET_URL, repeat=True, **http(status))
    async with make_kv(credentials, mock_api, sleep) as kv:
        with pytest.raises(Exception):  # noqa: B017 - class checked elsewhere
            await kv.get("ns:k")
        assert kv.stats.requests == 1
    assert sleep.calls == []


@pytest.mark.parametrize(
    ("answer", "exc"),
    [
        (http(503), ServerError),
        (http(429), RateLimitedError),
        ({"exception": disconnected()}, ConnectError),
        ({"exception": broken_off()}, IncompleteResponseError),
        (api(2), ServerError),
    ],
)
async def test_disabled_policy_makes_one_attempt(credentials, mock_api, answer, exc) -> None:
    mock_api.post(GET_URL, repeat=True, **answer)
    kv = support.make_kv(credentials, mock_api, retry=RetryPolicy.disabled())
    async with kv:
        with pytest.raises(exc):
            await kv.get("ns:k")
        assert kv.stats.requests == 1
        assert kv.stats.retries == 0
    assert RetryPolicy.disabled().max_attempts == 1


async def test_cancel_while_sleeping_between_retries_propagates(credentials, mock_api) -> None:
    sleeping = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        sleeping.set()
        await asyncio.sleep(3600)

    mock_api.post(GET_URL, repeat=True, **http(503))
    kv = support.make_kv(credentials, mock_api, retry=RetryPolicy(sleep=slow_sleep),
                         timeouts=Timeouts(deadline=10_000))
    async with kv:
        task = asyncio.create_task(kv.get("ns:k"))
        await asyncio.wait_for(sleeping.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert kv.stats.requests == 1
        # Cancellation is not an error of the client's, and it is not retried.
        await asyncio.sleep(0)
        assert kv.stats.requests == 1
        assert kv.stats.errors == {}
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_cancel_with_real_asyncio_sleep(credentials, mock_api) -> None:
    mock_api.post(GET_URL, repeat=True, **http(503, headers={"Retry-After": "5"}))
    kv = support.make_kv(credentials, mock_api, retry=RetryPolicy())
    async with kv:
        task = asyncio.create_task(kv.get("ns:k"))
        await asyncio.sleep(0.05)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert kv.stats.requests == 1
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_every_retry_is_logged(credentials, mock_api, sleep, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="voxkv_async")
    mock_api.post(SET_URL, **http(503, headers={"Retry-After": "2"}))
    mock_api.post(SET_URL, exception=disconnected())
    mock_api.post(SET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.set("ns:k", "TOP-SECRET-VALUE")
    retry_logs = [
        r for r in caplog.records if r.name == "voxkv_async" and "retrying" in r.getMessage()
    ]
    assert len(retry_logs) == 2
    first, second = (r.getMessage() for r in retry_logs)
    assert "SetKeyValueItem" in first
    assert "ns:k" in first
    assert "attempt 1" in first
    assert "2.000" in first  # the delay
    assert "ServerError" in first
    assert "503" in first
    assert "attempt 2" in second
    assert "ConnectError" in second
    assert f"{sleep.calls[1]:.3f}" in second
    for r in caplog.records:
        assert "TOP-SECRET-VALUE" not in r.getMessage()
        assert "Bearer" not in r.getMessage()


# --- found in review ------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503])
async def test_unknown_error_code_on_a_retryable_status_is_retried(
    credentials, mock_api, sleep, status
) -> None:
    mock_api.post(GET_URL, status=status, payload={"error": {"code": 9999, "msg": "busy"}})
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        assert await kv.get("ns:k") is not None
        assert kv.stats.retries == 1


async def test_budget_keeps_only_the_last_retrys_cost_after_a_success(
    credentials, mock_api, sleep
) -> None:
    # botocore "standard": a call that needed two retries (2 x 5 tokens) and then
    # succeeded returns 5, not 10: calls that keep needing retries drain the budget.
    for _ in range(3):
        mock_api.post(GET_URL, **http(503))
        mock_api.post(GET_URL, **http(503))
        mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep, budget_capacity=50) as kv:
        for _ in range(3):
            await kv.get("ns:k")
        assert kv.retry_budget.tokens == 50 - 3 * 5
        mock_api.post(GET_URL, **OK)
        await kv.get("ns:k")
        assert kv.retry_budget.tokens == 50 - 3 * 5 + 1


async def test_retry_after_date_is_read_against_the_answers_date(
    credentials, mock_api, sleep
) -> None:
    server_now = time.time() + 7200  # the server's clock is two hours ahead of ours
    headers = {"Date": formatdate(server_now, usegmt=True),
               "Retry-After": formatdate(server_now + 3, usegmt=True)}
    mock_api.post(GET_URL, **http(503, headers=headers))
    mock_api.post(GET_URL, **OK)
    async with make_kv(credentials, mock_api, sleep) as kv:
        await kv.get("ns:k")
    assert sleep.calls == [pytest.approx(3, abs=1)]
