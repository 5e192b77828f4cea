"""``may_have_applied`` of each timeout the chain above the transport makes: true only when
the request may have reached the server. Units (the retry link, the auth link) and
MockTransport; the transport's own timeouts are in test_aiohttp_transport.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from voxkv_async import (
    ConnectError,
    EventStream,
    InvalidArgumentError,
    MockTransport,
    Request,
    RequestTimeoutError,
    Response,
    RetryPolicy,
    ServerError,
    VoxKV,
)
from voxkv_async._auth import Signed, TokenCache
from voxkv_async._errors import AuthenticationError, timed_out
from voxkv_async._retry import Retrier

Attempt = Callable[[float], Awaitable[object]]


def failing(*errors: Exception) -> Attempt:
    """An attempt that raises ``errors`` in turn (the last one for ever)."""
    queue = list(errors)

    async def attempt(time_limit: float) -> object:
        raise queue.pop(0) if len(queue) > 1 else queue[0]

    return attempt


def busy() -> ServerError:  # a 503 answer: the server says it did nothing
    return ServerError("busy", status=503)


def read_timeout() -> RequestTimeoutError:
    return timed_out("GetKeyValueItem", "no complete answer", sent=True)


async def oversleep(seconds: float) -> None:
    await asyncio.sleep(0.2)  # a wait that outlasts any deadline below


async def run(attempt: Attempt, *, deadline: float | None = None, client_deadline: float = 30,
              **policy: Any) -> RequestTimeoutError:
    retrier = Retrier(RetryPolicy(**policy), EventStream(), attempt_timeout=10,
                      deadline=client_deadline)
    with pytest.raises(RequestTimeoutError) as caught:
        await retrier.call(attempt, method="GetKeyValueItem", key="k", deadline=deadline)
    return caught.value


# --- the retry link ----------------------------------------------------------------


@pytest.mark.parametrize(("first", "applied"), [(busy, False), (read_timeout, True)])
async def test_a_deadline_passed_before_the_next_attempt(first, applied) -> None:
    exc = await run(failing(first()), client_deadline=0.1, sleep=oversleep, base=0.001)
    assert "deadline of 0.1 s passed" in str(exc)
    assert exc.may_have_applied is applied


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.mark.parametrize(("errors", "applied"), [
    ((), False),
    ((read_timeout,), True),  # an earlier attempt may have reached the server
])
async def test_a_timeout_that_would_pass_during_the_wait(errors, applied) -> None:
    asks_for_5_s = ServerError("busy", status=503, retry_after=5.0)
    attempt = failing(*(make() for make in errors), asks_for_5_s)
    exc = await run(attempt, deadline=0.5, sleep=no_wait)
    assert "would pass during the wait before its next attempt" in str(exc)
    assert exc.__cause__ is asks_for_5_s
    assert exc.may_have_applied is applied


async def test_the_net_cuts_an_overrunning_wait_after_a_refusal_to_work() -> None:
    exc = await run(failing(busy()), deadline=0.1, sleep=oversleep, base=0.001)
    assert "call's timeout of 0.1 s" in str(exc)
    assert exc.may_have_applied is False  # nothing was in flight, and the 503 did nothing


async def test_the_net_cuts_an_attempt_that_overran_its_time_limit() -> None:
    async def deaf(time_limit: float) -> object:
        await asyncio.sleep(10)  # ignores its time limit: it may have been sent
        return None

    exc = await run(deaf, deadline=0.1)
    assert "call's timeout of 0.1 s" in str(exc)
    assert exc.may_have_applied is True


async def test_any_attempt_that_may_have_applied_makes_the_call_so(credentials) -> None:
    # A read timeout, then an answer that says "not applied": the first may have been.
    answers: list[Exception | Response] = [
        read_timeout(), Response.of_json({"error": {"code": 101, "msg": "bad"}})]

    def handler(request: Request) -> Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with VoxKV(credentials, 77, transport=MockTransport(handler),
                     retry=RetryPolicy.for_testing()) as kv:
        with pytest.raises(InvalidArgumentError) as caught:
            await kv.set("ns:k", "v")
    assert caught.value.may_have_applied is True


async def test_a_connection_never_made_is_not_applied(credentials) -> None:
    def refuse(request: Request) -> Response:
        raise ConnectError("refused", sent=False)

    async with VoxKV(credentials, 77, transport=MockTransport(refuse),
                     retry=RetryPolicy.for_testing(max_attempts=3)) as kv:
        with pytest.raises(ConnectError) as caught:
            await kv.set("ns:k", "v")
    assert caught.value.may_have_applied is False


# --- the auth link -----------------------------------------------------------------


async def test_no_time_left_after_a_refused_token(credentials) -> None:
    sent: list[float] = []

    async def slow_refusal(method: str, body: str, key: str | None, authorization: str,
                           time_limit: float) -> object:
        sent.append(time_limit)
        await asyncio.sleep(time_limit * 1.5)  # the refusal comes after the time is up
        raise AuthenticationError("token expired", code=455, method=method)

    signed = Signed(TokenCache(credentials), slow_refusal, EventStream())
    with pytest.raises(RequestTimeoutError, match="no time left to repeat") as caught:
        await signed("GetKeyValueItem", "", "k", 0.05)
    assert sent == [0.05]  # the repeat never left
    assert caught.value.may_have_applied is False
    assert isinstance(caught.value.__cause__, AuthenticationError)


# --- MockTransport -----------------------------------------------------------------


async def test_a_slow_async_handler_times_out_as_sent(credentials) -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(10)
        return Response(200)

    async with VoxKV(credentials, 77, transport=MockTransport(slow),
                     retry=RetryPolicy.disabled()) as kv:
        with pytest.raises(RequestTimeoutError) as caught:
            await kv.get("ns:k", timeout=0.05)
    assert caught.value.may_have_applied is True
