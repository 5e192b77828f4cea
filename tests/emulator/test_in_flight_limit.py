"""The account's limit on requests in flight (``RateLimit.max_in_flight``), over sockets.

The only numeric limit the Management API documents is one on concurrent requests, with
HTTP 429 beyond it; its error list also has code 314, "Concurrent resource limit exceeded".
The emulator holds each request for its modelled latency, so requests sent together are
in flight together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from voxkv_async import RateLimitedError, RetryPolicy, VoxKV
from voxkv_async.emulator import Faults, RateLimit

from .conftest import Api

SET = "SetKeyValueItem"


async def concurrent_sets(api: Api, n: int) -> list[tuple[int, Any]]:
    return list(await asyncio.gather(*(
        api.call(SET, key=f"k{i}", value=f"v{i}") for i in range(n))))


def accepted(answer: tuple[int, Any]) -> bool:
    status, body = answer
    return status == 200 and isinstance(body, dict) and "result" in body


async def test_no_in_flight_limit_by_default(api: Api) -> None:
    api.emu.faults = Faults(latency=0.2)
    answers = await concurrent_sets(api, 12)
    assert all(map(accepted, answers))
    assert api.emu.stats.throttled == 0
    assert api.emu.stats.peak_in_flight == 12


async def test_http_429_beyond_the_limit_without_retry_after(api: Api) -> None:
    api.emu.faults = Faults(latency=0.3)
    api.emu.rate_limit = RateLimit(max_in_flight=5)
    answers = await concurrent_sets(api, 8)
    refused = [a for a in answers if not accepted(a)]
    assert len(refused) == 3
    assert all(status == 429 for status, _ in refused)
    assert api.emu.stats.throttled == api.emu.stats.throttled_in_flight == 3
    assert api.emu.stats.peak_in_flight == 5
    # A refused write is not applied; the admitted ones are.
    assert len(api.emu.items()) == 5
    # The limit is on requests in flight, not on a total: once they are answered,
    # new requests get in again.
    assert all(map(accepted, await concurrent_sets(api, 5)))


async def test_no_retry_after_on_the_concurrency_429(api: Api) -> None:
    api.emu.faults = Faults(latency=0.3)
    api.emu.rate_limit = RateLimit(max_in_flight=1)
    params = {"key": "x", "value": "v", "application_id": str(api.emu.application_id)}

    async def raw() -> tuple[int, str | None]:
        async with api.session.post(
            f"{api.emu.base_url}/{SET}", data=params,
            headers={"Authorization": f"Bearer {api.token}"}, ssl=api.emu.ssl_context,
        ) as resp:
            return resp.status, resp.headers.get("Retry-After")

    answers = sorted(await asyncio.gather(raw(), raw()))
    assert answers == [(200, None), (429, None)]


async def test_code_314_beyond_the_limit(api: Api) -> None:
    api.emu.faults = Faults(latency=0.3)
    api.emu.set_rate_limit(max_in_flight=2, in_flight_answer="code_314")
    answers = await concurrent_sets(api, 4)
    refused = [body for a in answers if not accepted(a) for body in [a[1]]]
    assert refused == [
        {"error": {"msg": "Concurrent resource limit exceeded", "code": 314}}] * 2
    assert api.emu.stats.errors[314] == 2


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="in_flight_answer"):
        RateLimit(max_in_flight=5, in_flight_answer="http_500")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_in_flight"):
        RateLimit(max_in_flight=-1)
    assert RateLimit(max_in_flight=0).max_in_flight == 0  # 0: no limit


@pytest.mark.parametrize("answer", ["http_429", "code_314"])
async def test_a_client_rides_out_the_limit(api: Api, answer: str) -> None:
    # Both refusals are throttles: retried, never a failed call or a failed bulk item.
    api.emu.faults = Faults(latency=0.05)
    api.emu.rate_limit = RateLimit(max_in_flight=4, in_flight_answer=answer)  # type: ignore[arg-type]
    async with VoxKV(api.emu.credentials, api.emu.application_id,
                     base_url=api.emu.base_url, ssl=api.emu.ssl_context,
                     retry=RetryPolicy.for_testing(max_attempts=50)) as kv:
        singles = await asyncio.gather(*(kv.set(f"s{i}", "v") for i in range(12)))
        report = await kv.set_many({f"b{i}": "v" for i in range(120)}, concurrency=16)
    assert len(singles) == 12
    assert report.failed == 0
    assert report.succeeded == 120
    assert api.emu.stats.throttled_in_flight > 0
    assert api.emu.stats.peak_in_flight <= 4


async def test_a_single_call_that_meets_314_is_retried(api: Api) -> None:
    api.emu.faults = Faults(latency=0.2)
    api.emu.rate_limit = RateLimit(max_in_flight=1, in_flight_answer="code_314")
    async with VoxKV(api.emu.credentials, api.emu.application_id,
                     base_url=api.emu.base_url, ssl=api.emu.ssl_context,
                     retry=RetryPolicy.for_testing(max_attempts=3)) as kv:
        first = asyncio.ensure_future(kv.set("a", "1"))
        await asyncio.sleep(0.05)  # "a" is in the server now
        with pytest.raises(RateLimitedError) as refused:
            await kv.set("b", "2", retry=RetryPolicy.disabled())
        await first
        # Retried (no RetryPolicy.disabled()), the same call waits its turn and succeeds.
        await kv.set("c", "3")
    assert refused.value.code == 314
    assert api.emu.items() == {"a": "1", "c": "3"}
