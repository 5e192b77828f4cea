# ruff: noqa: SIM117 - the client is made from the emulator the outer block starts
"""Per-call control: ``timeout=`` (the whole call, retries included) and ``retry=``."""

from __future__ import annotations

import asyncio
import re

import pytest
from _mock_api import DEL_URL, GET_URL, ITEM, ITEMS_URL, KEYS_URL, SET_URL, MockApi
from _mock_api import make_kv as mocked_kv

from voxkv_async import (
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    Timeouts,
    ValidationError,
)
from voxkv_async.emulator import Emulator, Faults

from ._helpers import emulator_kv

pytestmark = pytest.mark.timeout(60)


async def test_timeout_of_a_slow_call_is_our_error() -> None:
    async with Emulator(tls=False, faults=Faults(slow=1.0, slow_seconds=5.0)) as emu:
        async with emulator_kv(emu) as kv:
            loop = asyncio.get_running_loop()
            for call in (kv.get("k", timeout=0.2), kv.set("k", "v", timeout=0.2),
                         kv.delete("k", timeout=0.2), kv.items("k", timeout=0.2),
                         kv.keys(timeout=0.2)):
                started = loop.time()
                with pytest.raises(RequestTimeoutError) as info:
                    await call
                # The answer would take 5 s; the margin is for a loaded CI machine.
                assert loop.time() - started < 3.0
                assert type(info.value) is RequestTimeoutError


async def test_deadline_falling_in_a_retry_wait_is_a_timeout_chained_from_the_last_error(
    credentials,
) -> None:
    mock = MockApi()
    mock.post(GET_URL, status=503, body="busy", headers={"Retry-After": "2"}, repeat=True)
    mock.post(SET_URL, status=503, body="busy", headers={"Retry-After": "2"}, repeat=True)
    # coalesce=False: a get sharing another's request waits for it with its own
    # timeout (test_coalescing.py) and has no error of its own to chain.
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with mocked_kv(credentials, mock, retry=RetryPolicy(sleep=sleep),
                         coalesce=False) as kv:
        with pytest.raises(RequestTimeoutError) as info:
            await kv.get("ns:k", timeout=0.5)
        assert waits == []  # no waiting for a wait that cannot fit
        assert kv.stats.requests == 1
        with pytest.raises(RequestTimeoutError) as info2:
            await kv.set("ns:k", "v", timeout=0.5)
        assert isinstance(info2.value.__cause__, ServerError)
    exc = info.value
    assert isinstance(exc.__cause__, ServerError)
    assert "would pass during the wait" in str(exc)
    assert "ServerError" in str(exc)


async def test_client_wide_deadline_keeps_the_last_error(credentials) -> None:
    # Only a call's own timeout= turns "out of time" into RequestTimeoutError.
    mock = MockApi()
    mock.post(GET_URL, status=503, body="busy", headers={"Retry-After": "2"}, repeat=True)
    async with mocked_kv(credentials, mock, retry=RetryPolicy(),
                         timeouts=Timeouts(deadline=0.5)) as kv:
        with pytest.raises(ServerError):
            await kv.get("ns:k")


async def test_an_overrunning_wait_is_cut_at_the_timeout(credentials) -> None:
    async def oversleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 10)  # a sleep that does not keep its word

    mock = MockApi()
    mock.post(GET_URL, status=503, body="busy", headers={"Retry-After": "0.05"},
              repeat=True)
    async with mocked_kv(credentials, mock, retry=RetryPolicy(sleep=oversleep)) as kv:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RequestTimeoutError, match=r"call's timeout of 0\.3 s"):
            await kv.get("ns:k", timeout=0.3)
        # The sleep would take 10 s; the margin is for a loaded CI machine.
        assert loop.time() - started < 5.0
    await asyncio.sleep(0)  # a cancelled task ends on the loop's next turn
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


@pytest.mark.parametrize("bad", [0, -1, True, "1", float("nan")])
async def test_bad_timeout_is_refused_before_any_request(credentials, mock_api, bad) -> None:
    async with mocked_kv(credentials, mock_api) as kv:
        for call in (kv.get("k", timeout=bad), kv.set("k", "v", timeout=bad),
                     kv.delete("k", timeout=bad), kv.items("k", timeout=bad),
                     kv.keys(timeout=bad)):
            with pytest.raises(ValidationError, match="timeout"):
                await call
        assert kv.stats.requests == 0


@pytest.mark.parametrize("method", ["set", "get", "delete", "items", "keys",
                                    "iter_items", "iter_keys"])
async def test_retry_per_call_on_every_call(credentials, method) -> None:
    url = {"set": SET_URL, "get": GET_URL, "delete": DEL_URL,
           "items": ITEMS_URL, "keys": KEYS_URL, "iter_items": ITEMS_URL,
           "iter_keys": KEYS_URL}[method]
    ok = {"set": ITEM, "get": ITEM, "delete": 1}.get(method, [])

    async def run(kv, retry):
        if method == "set":
            return await kv.set("ns:k", "v", retry=retry)
        if method in ("get", "delete"):
            return await getattr(kv, method)("ns:k", retry=retry)
        if method in ("items", "keys"):
            return await getattr(kv, method)("ns:", retry=retry)
        return [x async for x in getattr(kv, method)("ns:", retry=retry)]

    mock = MockApi()
    mock.post(url, status=503, body="busy")
    mock.post(url, payload={"result": ok}, repeat=True)
    # The client never retries; this call does.
    async with mocked_kv(credentials, mock, retry=RetryPolicy.disabled()) as kv:
        await run(kv, RetryPolicy.for_testing())
        assert kv.stats.retries == 1
    mock = MockApi()
    mock.post(url, status=503, body="busy")
    mock.post(url, payload={"result": ok}, repeat=True)
    # The client retries; this call does not.
    async with mocked_kv(credentials, mock, retry=RetryPolicy.for_testing()) as kv:
        with pytest.raises(ServerError):
            await run(kv, RetryPolicy.disabled())
        assert kv.stats.requests == 1


async def test_iterators_take_a_timeout_per_page() -> None:
    async with Emulator(tls=False) as emu, emulator_kv(emu) as kv:
        await kv.set_many({f"p:{i:02d}": "v" for i in range(30)})
        emu.faults = Faults(slow=1.0, slow_seconds=5.0)
        with pytest.raises(RequestTimeoutError):
            # A page retried as bulk items are (20 attempts) would take a minute here.
            async for _ in kv.iter_items("p:", page_size=10, timeout=0.2,
                                         retry=RetryPolicy(max_attempts=2)):
                pass
        emu.faults = Faults()
        seen = [i.key async for i in kv.iter_items("p:", page_size=10, timeout=5)]
        assert len(seen) == 30


async def test_bulk_calls_take_timeout_per_item() -> None:
    async with Emulator(tls=False, faults=Faults(slow=1.0, slow_seconds=5.0)) as emu:
        async with emulator_kv(emu) as kv:
            loop = asyncio.get_running_loop()
            started = loop.time()
            report = await kv.set_many({"a": "1", "b": "2"}, timeout=0.2,
                                       retry=RetryPolicy.disabled())
            assert report.failed == 2
            assert all(isinstance(f.error, RequestTimeoutError) for f in report.failures)
            assert loop.time() - started < 3.0
            assert re.search("RequestTimeoutError", repr(report.failures[0].error))
