"""The aiohttp application: both URL styles, fault injection, control endpoints."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web

from ._api import METHODS
from ._core import Core
from ._errors import ApiFailure

__all__ = ["CONTROL_PREFIX", "make_app"]

CORE = web.AppKey("core", Core)
#: Where the control endpoints live.
CONTROL_PREFIX = "/_emulator"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(core: Core) -> web.Application:
    """An application serving ``core`` under ``/platform_api`` and ``/_emulator``."""
    app = web.Application(middlewares=[_loopback_only_for_control])
    app[CORE] = core
    app.router.add_post("/platform_api", _api_in_flight)
    app.router.add_post("/platform_api/", _api_in_flight)
    app.router.add_post("/platform_api/{method}", _api_in_flight)
    app.router.add_get(f"{CONTROL_PREFIX}/stats", _get_stats)
    app.router.add_get(f"{CONTROL_PREFIX}/store", _get_store)
    app.router.add_post(f"{CONTROL_PREFIX}/reset", _post_reset)
    app.router.add_get(f"{CONTROL_PREFIX}/faults", _get_faults)
    app.router.add_post(f"{CONTROL_PREFIX}/faults", _post_faults)
    app.router.add_get(f"{CONTROL_PREFIX}/modes", _get_modes)
    app.router.add_post(f"{CONTROL_PREFIX}/modes", _post_modes)
    app.router.add_get(f"{CONTROL_PREFIX}/rate_limit", _get_rate_limit)
    app.router.add_post(f"{CONTROL_PREFIX}/rate_limit", _post_rate_limit)
    app.on_response_prepare.append(_stamp_date)
    return app


def _connection_key(request: web.Request) -> tuple[object, int]:
    # Neither uvloop's SSL transports nor aiohttp's handlers can be weakly referenced;
    # the peer's address with the handler's id names one live connection (an ephemeral
    # port and an id are each reused, but not both at once).
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer, id(request.protocol)


async def _stamp_date(request: web.Request, response: web.StreamResponse) -> None:
    # Clients learn clock skew from Date (on codes 455/456): it must come from the same
    # clock the tokens are checked against, fake or not.
    response.headers["Date"] = formatdate(request.app[CORE].token_clock(), usegmt=True)


# --- the API --------------------------------------------------------------------------


# Set on a request that arrived while the account had ``max_in_flight`` requests in flight.
_REFUSED_IN_FLIGHT = web.RequestKey("refused_in_flight", bool)


async def _api_in_flight(request: web.Request) -> web.StreamResponse:
    """An API request, counted in flight (for ``RateLimit.max_in_flight``) until answered."""
    core = request.app[CORE]
    limiter = core.limiter
    if not limiter.enter():
        request[_REFUSED_IN_FLIGHT] = True
        return await _api(request)
    core.stats.peak_in_flight = max(core.stats.peak_in_flight, limiter.in_flight)
    try:
        return await _api(request)
    finally:
        limiter.leave()


async def _api(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    core.stats.saw_connection(_connection_key(request))
    params = await _params(request)
    method = request.match_info.get("method") or params.pop("cmd", "")
    core.stats.requests[method if method in METHODS else "?"] += 1
    authorization = request.headers.get("Authorization")
    core.stats.saw_token(authorization)

    # The network delay comes first, on the way in: a request drawing more jitter than
    # a later one reaches the store after it. Then the rate limit, then the faults.
    delay = core.injector.delay()
    if delay:
        await asyncio.sleep(delay)
    if request.get(_REFUSED_IN_FLIGHT):
        return _refused_in_flight(core)
    if not core.limiter.take():
        return _rate_limited(request, core)
    fault = core.injector.draw(method)
    if fault in _EARLY_FAULTS:
        return _EARLY_FAULTS[fault](request, core)
    if fault == "slow":
        await asyncio.sleep(core.faults.slow_seconds)

    if fault == "drop_after" and core.faults.late_apply:
        # The server goes on with the call after its client is gone: it lands later.
        core.late.schedule(core.faults.late_apply,
                           lambda: core.answer(method, params, authorization))
        return _drop(request, core)
    body = core.answer(method, params, authorization)
    if fault == "drop_after":
        return _drop(request, core)
    return web.json_response(body)


async def _params(request: web.Request) -> dict[str, str]:
    """Query string and form body (urlencoded or multipart) merged; the body wins."""
    params = dict(request.query)
    if request.content_type in _FORM_TYPES:
        form = await request.post()
        for name, value in form.items():
            params[name] = value if isinstance(value, str) else _file_text(value)
    return params


def _file_text(field: Any) -> str:
    # A multipart part sent with a filename arrives as a FileField.
    data = field.file.read()
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


# --- faults ---------------------------------------------------------------------------


def _http_503(request: web.Request, core: Core) -> web.StreamResponse:
    return web.Response(
        status=503,
        text="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        content_type="text/html",
    )


def _http_429(request: web.Request, core: Core) -> web.StreamResponse:
    return web.Response(
        status=429,
        text="429 Too Many Requests",
        headers={"Retry-After": str(core.faults.retry_after)},
    )


def _api_code(code: int, msg: Callable[[Core], str]) -> Callable[[web.Request, Core], web.Response]:
    def answer(request: web.Request, core: Core) -> web.Response:
        return web.json_response(core.failure(ApiFailure(code, msg(core))))

    return answer


def _drop(request: web.Request, core: Core) -> web.StreamResponse:
    """Reset the connection: no answer at all, as when a proxy or the server dies."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: close() sends a TCP RST, so the client sees a reset, not a clean EOF.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # Nothing can be written any more; aiohttp discards this response.
    return web.Response(status=500)


def _rate_limited(request: web.Request, core: Core) -> web.StreamResponse:
    """A refusal by the rate limit, in the configured shape; nothing is applied."""
    core.stats.throttled += 1
    answer = core.rate_limit.answer
    if answer == "http_429":
        return web.Response(
            status=429,
            text="429 Too Many Requests",
            headers={"Retry-After": str(core.limiter.retry_after())},
        )
    if answer == "code_416":
        failure = ApiFailure(
            416, f"Repeat the request after {core.limiter.retry_after()} seconds"
        )
    else:
        failure = ApiFailure(340, "Rate limit exceeded")
    return web.json_response(core.failure(failure))


def _refused_in_flight(core: Core) -> web.StreamResponse:
    """A refusal by the concurrency limit, in the configured shape; nothing is applied."""
    core.stats.throttled += 1
    core.stats.throttled_in_flight += 1
    if core.rate_limit.in_flight_answer == "code_314":
        return web.json_response(core.failure(ApiFailure(
            314, "Concurrent resource limit exceeded")))
    return web.Response(status=429, text="429 Too Many Requests")


_EARLY_FAULTS: dict[str | None, Callable[[web.Request, Core], web.StreamResponse]] = {
    "http_503": _http_503,
    "http_429": _http_429,
    "code_2": _api_code(2, lambda core: "Internal error"),
    "code_340": _api_code(340, lambda core: "Rate limit exceeded"),
    "code_416": _api_code(
        416, lambda core: f"Repeat the request after {core.faults.retry_after} seconds"
    ),
    "drop_before": _drop,
}


# --- control endpoints ----------------------------------------------------------------


@web.middleware
async def _loopback_only_for_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX) and not is_loopback(request.remote):
        return web.json_response(
            {"error": "control endpoints answer loopback peers only"}, status=403
        )
    return await handler(request)


def is_loopback(remote: str | None) -> bool:
    """Whether the peer address ``remote`` is a loopback address."""
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def _get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE].stats.to_json())


async def _get_store(request: web.Request) -> web.Response:
    dump = request.app[CORE].dump()
    return web.json_response(
        {str(app): [i.to_json() for i in items] for app, items in dump.items()}
    )


async def _post_reset(request: web.Request) -> web.Response:
    request.app[CORE].reset()
    return web.json_response({"ok": True})


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE].faults.to_json())


async def _post_faults(request: web.Request) -> web.Response:
    core = request.app[CORE]
    changes = await _json_object(request)
    seed = changes.pop("seed", None)
    try:
        core.faults = core.faults.evolve(changes)
    except (TypeError, ValueError) as exc:
        raise _bad_request(str(exc)) from None
    if seed is not None:
        core.injector.seed(seed)
    return web.json_response(core.faults.to_json())


async def _get_modes(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE].modes.to_json())


async def _post_modes(request: web.Request) -> web.Response:
    core = request.app[CORE]
    try:
        core.modes = core.modes.evolve(await _json_object(request))
    except (TypeError, ValueError) as exc:
        raise _bad_request(str(exc)) from None
    return web.json_response(core.modes.to_json())


async def _get_rate_limit(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE].rate_limit.to_json())


async def _post_rate_limit(request: web.Request) -> web.Response:
    core = request.app[CORE]
    try:
        core.rate_limit = core.rate_limit.evolve(await _json_object(request))
    except (TypeError, ValueError) as exc:
        raise _bad_request(str(exc)) from None
    return web.json_response(core.rate_limit.to_json())


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError:
        raise _bad_request("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _bad_request("the body must be a JSON object")
    return data


def _bad_request(problem: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": problem}), content_type="application/json")
