"""The server-side rate limit (a token bucket) and network jitter on the way in."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import attrs
import pytest

from voxkv_async.emulator import Emulator, FakeClock, Faults, RateLimit

from .conftest import Api
from .test_control import control

SET = "SetKeyValueItem"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=100.0)


@pytest.fixture
def voxkv_emulator_options(clock: FakeClock) -> dict[str, Any]:
    # The bucket fills on this clock only: nothing refills unless a test moves it.
    return {"rate_clock": clock}


async def sets(api: Api, *keys: str) -> list[tuple[int, Any]]:
    return [await api.call(SET, key=k, value=f"v-{k}") for k in keys]


def accepted(answers: list[tuple[int, Any]]) -> list[bool]:
    return [status == 200 and "result" in body for status, body in answers]


async def test_no_limit_by_default(api: Api) -> None:
    assert api.emu.rate_limit == RateLimit()
    assert not api.emu.rate_limit.active
    assert all(accepted(await sets(api, *(f"k{i}" for i in range(30)))))
    assert api.emu.stats.throttled == 0


async def test_code_340_refuses_beyond_the_burst_and_applies_nothing(api: Api) -> None:
    api.emu.rate_limit = RateLimit(rate=1, burst=2)
    answers = await sets(api, "a", "b", "c")
    assert accepted(answers) == [True, True, False]
    assert answers[2] == (200, {"error": {"msg": "Rate limit exceeded", "code": 340}})
    assert api.emu.items() == {"a": "v-a", "b": "v-b"}
    stats = api.emu.stats
    assert stats.throttled == 1
    assert stats.errors[340] == 1
    assert not stats.faults  # a refusal is not a fault
    assert stats.requests[SET] == 3


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"rate": 0.5}, "2"),  # a token every 2 s: "come back in 2 s"
        ({"rate": 10}, "1"),  # 0.1 s rounds up to a whole second
        ({"rate": 10, "retry_after": 7}, "7"),  # or what was configured
    ],
)
async def test_http_429_announces_retry_after(
    api: Api, settings: dict[str, Any], expected: str
) -> None:
    api.emu.rate_limit = RateLimit(burst=1, answer="http_429", **settings)
    assert accepted(await sets(api, "a")) == [True]
    async with api.session.post(
        f"{api.emu.base_url}/{SET}",
        data={"key": "b", "value": "x", "application_id": str(api.emu.application_id)},
        headers={"Authorization": f"Bearer {api.token}"},
        ssl=api.emu.ssl_context,
    ) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == expected
    assert api.emu.items() == {"a": "v-a"}
    assert api.emu.stats.throttled == 1


async def test_code_416_names_the_delay(api: Api) -> None:
    api.emu.rate_limit = RateLimit(rate=0.25, burst=1, answer="code_416")
    answers = await sets(api, "a", "b")
    assert accepted(answers) == [True, False]
    assert answers[1][1]["error"] == {"code": 416, "msg": "Repeat the request after 4 seconds"}
    assert api.emu.items() == {"a": "v-a"}


async def test_the_bucket_refills_at_rate_up_to_burst(api: Api, clock: FakeClock) -> None:
    api.emu.rate_limit = RateLimit(rate=2, burst=3)
    assert accepted(await sets(api, "a", "b", "c", "d")) == [True, True, True, False]
    clock.advance(0.5)  # one token back
    assert accepted(await sets(api, "e", "f")) == [True, False]
    clock.advance(0.25)  # half a token: still refused, and refusals take nothing
    assert accepted(await sets(api, "g", "h")) == [False, False]
    clock.advance(0.25)
    assert accepted(await sets(api, "i", "j")) == [True, False]
    clock.advance(60)  # a long pause fills the bucket to burst, no more
    assert accepted(await sets(api, *"klmn")) == [True, True, True, False]
    assert api.emu.stats.throttled == 6
    assert sorted(api.emu.items()) == ["a", "b", "c", "e", "i", "k", "l", "m"]


async def test_every_method_and_failure_counts_against_one_bucket(api: Api) -> None:
    api.emu.rate_limit = RateLimit(rate=1, burst=3)
    await api.result("GetKeyValueItem", key="a")
    assert await api.error(SET, key="bad key!", value="x") != 340  # a failure costs a token
    await api.call("GetKeyValueItem", key="a", authorization=None)  # so does a bad token
    assert await api.error("GetKeyValueKeys", key="a") == 340


async def test_the_limit_comes_before_the_faults(api: Api) -> None:
    api.emu.faults = Faults(code_2=1.0)
    api.emu.rate_limit = RateLimit(rate=1, burst=1)
    assert await api.error(SET, key="a", value="x") == 2  # admitted, then the fault
    assert await api.error(SET, key="b", value="x") == 340  # refused before any draw
    assert api.emu.stats.faults == {"code_2": 1}
    assert api.emu.stats.throttled == 1


async def test_burst_defaults_to_a_tenth_of_a_second(api: Api) -> None:
    assert RateLimit(rate=300).bucket_size == 30
    assert RateLimit(rate=5).bucket_size == 1
    api.emu.rate_limit = RateLimit(rate=50)
    assert accepted(await sets(api, *"abcdef")) == [True] * 5 + [False]


async def test_run_time_changes_through_the_property(api: Api, clock: FakeClock) -> None:
    api.emu.rate_limit = RateLimit(rate=1, burst=1)
    assert accepted(await sets(api, "a", "b")) == [True, False]
    assert api.emu.set_rate_limit(rate=0) == RateLimit(rate=0, burst=1)  # 0: no limit
    assert all(accepted(await sets(api, *"cdefg")))
    api.emu.set_rate_limit(rate=1, answer="code_416")  # a new limit starts with a full bucket
    answers = await sets(api, "h", "i")
    assert accepted(answers) == [True, False]
    assert answers[1][1]["error"]["code"] == 416


async def test_run_time_changes_through_the_control_endpoint(api: Api) -> None:
    assert await control(api, "GET", "rate_limit") == (
        200,
        {"rate": None, "burst": None, "answer": "code_340", "retry_after": None,
         "max_in_flight": None, "in_flight_answer": "http_429"},
    )
    status, body = await control(api, "POST", "rate_limit", {"rate": 1, "burst": 1})
    assert status == 200
    assert body == {"rate": 1.0, "burst": 1.0, "answer": "code_340", "retry_after": None,
                    "max_in_flight": None, "in_flight_answer": "http_429"}
    assert api.emu.rate_limit == RateLimit(rate=1, burst=1)
    assert accepted(await sets(api, "a", "b")) == [True, False]
    status, body = await control(api, "POST", "rate_limit", {"answer": "http_429"})
    assert (status, body["answer"], body["rate"]) == (200, "http_429", 1.0)
    assert (await api.call(SET, key="c", value="x"))[0] == 429
    assert (await control(api, "GET", "rate_limit"))[1] == body


@pytest.mark.parametrize(
    "body",
    [{"rate": -1}, {"burst": 0.5}, {"answer": "http_503"}, {"bogus": 1}, [1], {"rate": "x"}],
)
async def test_bad_rate_limits_are_400(api: Api, body: Any) -> None:
    before = api.emu.rate_limit
    status, answer = await control(api, "POST", "rate_limit", body)
    assert status == 400
    assert "error" in answer
    assert api.emu.rate_limit == before


async def test_stats_count_throttled_and_reset_refills(api: Api) -> None:
    api.emu.rate_limit = RateLimit(rate=1, burst=1, answer="http_429")
    await sets(api, "a", "b", "c")
    status, stats = await control(api, "GET", "stats")
    assert status == 200
    assert stats["throttled"] == 2
    assert stats["requests"] == {SET: 3}
    assert stats["errors"] == {}  # a 429 carries no error envelope
    assert await control(api, "POST", "reset") == (200, {"ok": True})
    assert api.emu.stats.throttled == 0
    assert api.emu.rate_limit == RateLimit(rate=1, burst=1, answer="http_429")  # settings stay
    assert accepted(await sets(api, "d", "e")) == [True, False]  # the bucket is full again


async def test_set_at_start(clock: FakeClock) -> None:
    limit = RateLimit(rate=1, burst=1)
    async with Emulator(tls=False, rate_limit=limit, rate_clock=clock) as emu:
        assert emu.rate_limit is limit
        async with aiohttp.ClientSession() as session:
            api = Api(emu, session)
            assert accepted(await sets(api, "a", "b")) == [True, False]
            clock.advance(1)
            assert accepted(await sets(api, "b")) == [True]


def test_fields_carry_cli_help() -> None:
    flags = {f.name: f.metadata.get("flag") for f in attrs.fields(RateLimit)}
    assert flags == {
        "rate": "--rate-limit",
        "burst": "--rate-burst",
        "answer": "--rate-answer",
        "retry_after": "--rate-retry-after",
        "max_in_flight": "--max-in-flight",
        "in_flight_answer": "--in-flight-answer",
    }
    assert all(f.metadata["help"] for f in attrs.fields(RateLimit))
    assert attrs.fields(RateLimit).answer.metadata["choices"] == (
        "code_340",
        "http_429",
        "code_416",
    )


# --- jitter on the way in -------------------------------------------------------------


def _seed_where_the_first_waits_longest(jitter: float) -> int:
    """A seed whose first two jitter draws leave the first request far behind."""
    for seed in range(10_000):
        rng = random.Random(seed)
        first, second = rng.uniform(0, jitter), rng.uniform(0, jitter)
        if first > 0.8 * jitter and second < 0.1 * jitter:
            return seed
    raise AssertionError("no such seed")


async def test_jitter_lets_a_later_write_overtake_an_earlier_one(api: Api) -> None:
    jitter = 0.5
    api.emu.faults = Faults(jitter=jitter)
    api.emu.seed(_seed_where_the_first_waits_longest(jitter))
    first = asyncio.create_task(api.call(SET, key="k", value="A"))
    # Send B only once A has reached the server and drawn its (long) delay.
    for _ in range(5_000):
        if api.emu.stats.requests[SET]:
            break
        await asyncio.sleep(0.001)
    second = await api.call(SET, key="k", value="B")
    assert second[1]["result"]["value"] == "B"
    assert not first.done()  # B was answered while A still travelled
    assert (await first)[1]["result"]["value"] == "A"
    # Sent A then B, applied B then A: the earlier write is the one that stays.
    assert api.emu.items() == {"k": "A"}
    assert api.emu.stats.faults["latency"] == 2
