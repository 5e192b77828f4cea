"""The contenders, each run as ``python -m benchmarks.clients SPEC_JSON`` in its own process.

Every contender does the same work: N ``SetKeyValueItem`` calls (keys ``bench:0000000``...,
64-character values), then N ``GetKeyValueItem`` calls of the keys just written, with
``concurrency`` calls in flight, each phase stopped early at ``time_box`` seconds. Async
contenders use a pool of ``concurrency`` worker tasks pulling the next index from a shared
counter (no task per call); thread contenders use a pool of threads doing the same.

Measured inside the process, around each phase only (imports, credential parsing and
session creation excluded; connecting, TLS and token signing included):
wall time, ``time.process_time()`` (this process, all threads), per-call latency
(``perf_counter`` around each awaited call), and errors (exceptions and wrong answers).

The result is one JSON object on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus

TTL = 2_592_000  # what voxkv_async sends when no ttl is given: every contender sends it
FORM = "application/x-www-form-urlencoded"
VALUE_LEN = 64


def key_of(i: int) -> str:
    return f"bench:{i:07d}"


def value_of(i: int) -> str:
    return f"value-{i:07d}-".ljust(VALUE_LEN, "x")


# --- measuring ------------------------------------------------------------------------


def summarize(lat: list[float]) -> dict[str, float | None]:
    if not lat:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    s = sorted(lat)
    n = len(s)

    def q(p: float) -> float:
        return s[min(n - 1, int(p * n))] * 1000

    return {
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "mean_ms": sum(s) / n * 1000,
        "max_ms": s[-1] * 1000,
    }


class Phase:
    """What one phase measured."""

    def __init__(self) -> None:
        self.calls = 0
        self.wall = 0.0
        self.cpu = 0.0
        self.lat: list[float] = []
        self.errors: Counter[str] = Counter()
        self.timed_out = False

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "calls_per_s": self.calls / self.wall if self.wall else 0.0,
            "cpu_s_per_1000": self.cpu / self.calls * 1000 if self.calls else None,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "time_boxed": self.timed_out,
            **summarize(self.lat),
        }


def merge(phases: list[Phase]) -> Phase:
    total = Phase()
    for p in phases:
        total.calls += p.calls
        total.wall += p.wall
        total.cpu += p.cpu
        total.lat += p.lat
        total.errors.update(p.errors)
        total.timed_out |= p.timed_out
    return total


Call = Callable[[int], Awaitable[bool]]


async def drive(call: Call, n: int, concurrency: int, time_box: float,
                record: bool = True) -> Phase:
    """Run ``call(0..n-1)`` from ``concurrency`` worker tasks; stop taking work at the box."""
    phase = Phase()
    lat = phase.lat
    errors = phase.errors
    perf = time.perf_counter
    nxt = 0
    start = perf()
    deadline = start + time_box

    async def worker() -> None:
        nonlocal nxt
        while True:
            i = nxt
            if i >= n:
                return
            if perf() >= deadline:
                phase.timed_out = True
                return
            nxt = i + 1
            t0 = perf()
            try:
                ok = await call(i)
            except Exception as exc:
                errors[type(exc).__name__] += 1
            else:
                if not ok:
                    errors["wrong answer"] += 1
            if record:
                lat.append(perf() - t0)
            phase.calls += 1

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = perf() - start
    phase.cpu = time.process_time() - cpu0
    return phase


def drive_threads(call: Callable[[int], bool], n: int, threads: int, time_box: float) -> Phase:
    """The same from ``threads`` OS threads (1: the calling thread, sequentially)."""
    phase = Phase()
    perf = time.perf_counter
    counter = itertools.count()
    lock = threading.Lock()
    start = perf()
    deadline = start + time_box

    def worker() -> None:
        while True:
            i = next(counter)  # atomic under the GIL
            if i >= n:
                return
            if perf() >= deadline:
                phase.timed_out = True
                return
            t0 = perf()
            try:
                ok = call(i)
                kind = None if ok else "wrong answer"
            except Exception as exc:
                kind = type(exc).__name__
            dt = perf() - t0
            with lock:
                phase.lat.append(dt)
                phase.calls += 1
                if kind:
                    phase.errors[kind] += 1

    cpu0 = time.process_time()
    if threads == 1:
        worker()
    else:
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(worker) for _ in range(threads)]:
                f.result()
    phase.wall = perf() - start
    phase.cpu = time.process_time() - cpu0
    return phase


# --- the contenders -------------------------------------------------------------------


class Spec:
    def __init__(self, d: dict[str, Any]) -> None:
        self.client: str = d["client"]
        self.n: int = d["n"]
        self.concurrency: int = d.get("concurrency", 64)
        self.time_box: float = d.get("time_box", 60.0)
        self.base_url: str = d["base_url"]
        self.app_id: int = d["app_id"]
        self.creds: str = d["creds"]
        self.ca: str = d["ca"]
        self.uvloop: bool = d.get("uvloop", False)
        self.profile: str | None = d.get("profile")
        self.phases: list[str] = d.get("phases", ["set", "get"])


def _ssl_ctx(spec: Spec) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=spec.ca)


def _sign(creds: Any) -> str:
    import jwt

    now = int(time.time())
    token = jwt.encode(
        {"iss": creds.issuer, "iat": now - 30, "exp": now + 3000},
        creds.private_key,
        algorithm="RS256",
        headers={"kid": creds.key_id},
    )
    return "Bearer " + token


def _set_body(app_id: int, i: int) -> bytes:
    return (
        f"application_id={app_id}&key={quote_plus(key_of(i))}"
        f"&value={quote_plus(value_of(i))}&ttl={TTL}"
    ).encode()


def _get_body(app_id: int, i: int) -> bytes:
    return f"application_id={app_id}&key={quote_plus(key_of(i))}".encode()


async def _phases(spec: Spec, set_call: Call | None, get_call: Callable[[int], Call] | None
                  ) -> dict[str, Phase]:
    """Set phase, then a Get phase over the keys the Set phase wrote."""
    out: dict[str, Phase] = {}
    if "set" in spec.phases and set_call is not None:
        out["set"] = await drive(set_call, spec.n, spec.concurrency, spec.time_box)
    if "get" in spec.phases and get_call is not None:
        written = out["set"].calls if "set" in out else spec.n
        out["get"] = await drive(get_call(max(1, written)), written, spec.concurrency,
                                 spec.time_box)
    return out


async def run_voxkv(spec: Spec) -> tuple[dict[str, Phase], dict[str, Any]]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_file(spec.creds)
    async with VoxKV(creds, spec.app_id, base_url=spec.base_url, ca_file=spec.ca) as kv:

        async def set_call(i: int) -> bool:
            item = await kv.set(key_of(i), value_of(i))
            return item.key == key_of(i)

        def get_call(written: int) -> Call:
            async def call(i: int) -> bool:
                return await kv.get(key_of(i % written)) is not None

            return call

        phases = await _phases(spec, set_call, get_call)
        return phases, {"client_stats": kv.stats.as_dict()}


async def run_raw(spec: Spec) -> tuple[dict[str, Phase], dict[str, Any]]:
    import aiohttp
    from yarl import URL

    from voxkv_async import Credentials

    creds = Credentials.from_file(spec.creds)
    base = URL(spec.base_url)
    set_url, get_url = base / "SetKeyValueItem", base / "GetKeyValueItem"
    loads = json.loads
    app = spec.app_id
    signings = 0
    connector = aiohttp.TCPConnector(ssl=_ssl_ctx(spec))  # aiohttp's default limit: 100
    async with aiohttp.ClientSession(connector=connector) as session:
        headers: dict[str, str] = {}

        async def set_call(i: int) -> bool:
            nonlocal headers, signings
            if not headers:  # one JWT for the whole run
                headers = {"Authorization": _sign(creds), "Content-Type": FORM}
                signings += 1
            async with session.post(set_url, data=_set_body(app, i), headers=headers) as r:
                payload = loads(await r.read())
            return "result" in payload

        def get_call(written: int) -> Call:
            async def call(i: int) -> bool:
                body = _get_body(app, i % written)
                async with session.post(get_url, data=body, headers=headers) as r:
                    payload = loads(await r.read())
                return bool(payload.get("result"))

            return call

        phases = await _phases(spec, set_call, get_call)
    return phases, {"client_stats": {"token_signings": signings}}


async def run_naive(spec: Spec) -> tuple[dict[str, Phase], dict[str, Any]]:
    import aiohttp

    from voxkv_async import Credentials

    creds = Credentials.from_file(spec.creds)
    ctx = _ssl_ctx(spec)
    set_url = spec.base_url + "/SetKeyValueItem"
    get_url = spec.base_url + "/GetKeyValueItem"
    app = spec.app_id
    signings = 0

    async def post(url: str, form: dict[str, Any]) -> Any:
        nonlocal signings
        signings += 1
        headers = {"Authorization": _sign(creds)}
        async with aiohttp.ClientSession() as session, session.post(
            url, data=form, headers=headers, ssl=ctx
        ) as r:
            return await r.json()

    async def set_call(i: int) -> bool:
        form = {"application_id": app, "key": key_of(i), "value": value_of(i), "ttl": TTL}
        return "result" in await post(set_url, form)

    def get_call(written: int) -> Call:
        async def call(i: int) -> bool:
            payload = await post(get_url, {"application_id": app, "key": key_of(i % written)})
            return bool(payload.get("result"))

        return call

    phases = await _phases(spec, set_call, get_call)
    return phases, {"client_stats": {"token_signings": signings}}


def report_fields(report: Any) -> dict[str, Any]:
    """The plain fields of a BulkReport (whatever its exact shape)."""
    out: dict[str, Any] = {}
    for name in dir(report):
        if name.startswith("_"):
            continue
        try:
            v = getattr(report, name)
        except Exception:
            continue
        if isinstance(v, int | float | str | bool) or v is None:
            out[name] = v
        elif isinstance(v, list | tuple | dict | set | frozenset):
            out[name] = f"<{type(v).__name__} of {len(v)}>"
    return out


def report_failures(report: Any) -> int:
    for name in ("failed", "failures", "errors", "n_failed"):
        v = getattr(report, name, None)
        if isinstance(v, int):
            return v
        if isinstance(v, list | tuple | dict):
            return len(v)
    return 0


async def run_set_many(spec: Spec) -> tuple[dict[str, Phase], dict[str, Any]]:
    from voxkv_async import Credentials, VoxKV

    creds = Credentials.from_file(spec.creds)
    async with VoxKV(creds, spec.app_id, base_url=spec.base_url, ca_file=spec.ca) as kv:
        items = ((key_of(i), value_of(i)) for i in range(spec.n))
        phase = Phase()
        cpu0, t0 = time.process_time(), time.perf_counter()
        report = await kv.set_many(items, concurrency=spec.concurrency)
        phase.wall = time.perf_counter() - t0
        phase.cpu = time.process_time() - cpu0
        failed = report_failures(report)
        phase.calls = spec.n
        if failed:
            phase.errors["failed items"] = failed
        return {"set": phase}, {"client_stats": kv.stats.as_dict(),
                                "report": report_fields(report)}


def run_sdk(spec: Spec) -> tuple[dict[str, Phase], dict[str, Any]]:
    os.environ["REQUESTS_CA_BUNDLE"] = spec.ca
    from voximplant.apiclient import VoximplantAPI

    endpoint = spec.base_url.split("://", 1)[1].split("/", 1)[0]
    api = VoximplantAPI(spec.creds, endpoint=endpoint)
    app = spec.app_id

    def set_call(i: int) -> bool:
        res = api.set_key_value_item(key_of(i), value_of(i), app)
        return "result" in res

    out: dict[str, Phase] = {}
    if "set" in spec.phases:
        out["set"] = drive_threads(set_call, spec.n, spec.concurrency, spec.time_box)
    if "get" in spec.phases:
        written = max(1, out["set"].calls if "set" in out else spec.n)

        def get_call(i: int) -> bool:
            return bool(api.get_key_value_item(key_of(i % written), app).get("result"))

        out["get"] = drive_threads(get_call, spec.n, spec.concurrency, spec.time_box)
    # The SDK signs one token per request.
    signings = sum(p.calls for p in out.values())
    return out, {"client_stats": {"token_signings": signings}}


ASYNC_CLIENTS = {
    "voxkv": run_voxkv,
    "raw": run_raw,
    "naive": run_naive,
    "set_many": run_set_many,
}
THREAD_CLIENTS = {"sdk": run_sdk}


def run(spec: Spec) -> dict[str, Any]:
    profiler = None
    if spec.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    if spec.client in THREAD_CLIENTS:
        phases, extra = THREAD_CLIENTS[spec.client](spec)
    else:
        runner = ASYNC_CLIENTS[spec.client]
        if spec.uvloop:
            import uvloop

            phases, extra = uvloop.run(runner(spec))
        else:
            phases, extra = asyncio.run(runner(spec))
    if profiler is not None:
        profiler.stop()
        with open(spec.profile, "w") as f:
            f.write(profiler.output_text(unicode=False, color=False, show_all=False))
        with open(spec.profile + ".html", "w") as f:
            f.write(profiler.output_html())
    result: dict[str, Any] = {
        "client": spec.client,
        "concurrency": spec.concurrency,
        "uvloop": spec.uvloop,
        "n": spec.n,
        "phases": {name: p.to_json() for name, p in phases.items()},
        "total": merge(list(phases.values())).to_json(),
    }
    result.update(extra)
    return result


def main(argv: list[str]) -> None:
    spec = Spec(json.loads(argv[1]))
    print(json.dumps(run(spec)))


if __name__ == "__main__":
    main(sys.argv)
