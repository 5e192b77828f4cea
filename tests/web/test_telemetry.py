"""OpenTelemetry: a span per call, attributes without values, metrics; off when asked."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from voxkv_async import ConnectError, RateLimitedError, ReadCache, RetryPolicy, ServerError
from voxkv_async.emulator import Emulator, Faults

from ._helpers import GET_URL, ITEM, SET_URL, emulator_kv, mocked_kv

SECRET = "SECRET-VALUE-123"


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def options(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Otel:
    return Otel()


async def test_a_span_per_call_named_after_the_method(otel: Otel) -> None:
    async with Emulator(tls=False) as emu, emulator_kv(emu, **otel.options()) as kv:
        await kv.set("ns:+79001234567", SECRET)
        await kv.get("ns:+79001234567")
        await kv.get("ns:missing")
        await kv.delete("ns:+79001234567")
        await kv.items("ns:")
        await kv.keys("ns:")
    spans = otel.spans.get_finished_spans()
    assert [s.name for s in spans] == ["SetKeyValueItem", "GetKeyValueItem", "GetKeyValueItem",
                                       "DelKeyValueItem", "GetKeyValueItems", "GetKeyValueKeys"]
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        attrs = dict(span.attributes or {})
        assert attrs["voxkv.attempts"] == 1
        assert attrs["voxkv.retries"] == 0
        assert attrs["voxkv.throttles"] == 0
        assert attrs["http.response.status_code"] == 200
        assert "voxkv.key" not in attrs  # keys are often phone numbers
        assert "error.type" not in attrs
        assert SECRET not in repr(attrs)
        assert "79001234567" not in repr(attrs)


async def test_retries_throttles_and_errors_are_on_the_span(otel: Otel) -> None:
    async with Emulator(tls=False, faults=Faults(code_340=1.0), seed=1) as emu, \
            emulator_kv(emu, retry=RetryPolicy.for_testing(max_attempts=3),
                        **otel.options()) as kv:
        with pytest.raises(RateLimitedError) as info:
            await kv.get("k")
        emu.faults = Faults(http_503=1.0)
        with pytest.raises(ServerError):
            await kv.set("k", SECRET)
    throttled, failed = otel.spans.get_finished_spans()
    attrs = dict(throttled.attributes or {})
    assert attrs["voxkv.attempts"] == 3
    assert attrs["voxkv.retries"] == 2
    assert attrs["voxkv.throttles"] == 3
    assert attrs["error.type"] == type(info.value).__name__ == "RateLimitedError"
    assert throttled.status.status_code is StatusCode.ERROR
    assert throttled.status.description == "RateLimitedError"  # no message: it names keys
    attrs = dict(failed.attributes or {})
    assert attrs["http.response.status_code"] == 503
    assert attrs["error.type"] == "ServerError"
    assert not throttled.events  # no recorded exception: its message names the key
    metrics = otel.metrics()
    calls = {dict(p.attributes)["voxkv.outcome"]: p.value for p in metrics["voxkv.calls"]}
    assert calls == {"RateLimitedError": 1, "ServerError": 1}
    assert sum(p.value for p in metrics["voxkv.retries"]) == 4
    assert sum(p.value for p in metrics["voxkv.throttles"]) == 3
    assert sum(p.count for p in metrics["voxkv.call.duration"]) == 2


async def test_the_span_has_the_status_the_server_sent(otel: Otel, credentials) -> None:
    # Issue 18 item 4: a success answered 203 (a proxy's "non-authoritative") or 201 was
    # recorded as 200.
    with aioresponses() as mock:
        mock.post(SET_URL, status=201, payload={"result": ITEM})
        mock.post(GET_URL, status=203, payload={"result": ITEM})
        async with mocked_kv(credentials, **otel.options()) as kv:
            await kv.set("ns:k", "v")
            await kv.get("ns:k")
    created, proxied = otel.spans.get_finished_spans()
    assert created.attributes["http.response.status_code"] == 201
    assert proxied.attributes["http.response.status_code"] == 203


async def test_no_status_on_the_span_of_a_call_that_got_no_answer(otel: Otel,
                                                                  credentials) -> None:
    with aioresponses() as mock:
        mock.post(GET_URL, exception=aiohttp.ServerDisconnectedError())
        async with mocked_kv(credentials, **otel.options()) as kv:
            with pytest.raises(ConnectError):
                await kv.get("ns:k")
    (span,) = otel.spans.get_finished_spans()
    assert "http.response.status_code" not in span.attributes
    assert span.attributes["error.type"] == "ConnectError"


async def test_keys_only_when_asked(otel: Otel) -> None:
    async with Emulator(tls=False) as emu, \
            emulator_kv(emu, telemetry_keys=True, **otel.options()) as kv:
        await kv.get("ns:k")
    (span,) = otel.spans.get_finished_spans()
    assert span.attributes["voxkv.key"] == "ns:k"


async def test_cache_hits_and_coalescing_in_metrics(otel: Otel) -> None:
    async with Emulator(tls=False) as emu, \
            emulator_kv(emu, read_cache=ReadCache(max_age=60), **otel.options()) as kv:
        await kv.set("k", "v")
        for _ in range(3):
            await kv.get("k")
        await kv.get("other")
    metrics = otel.metrics()
    assert metrics["voxkv.cache.hits"][0].value == 3
    assert metrics["voxkv.cache.misses"][0].value == 1
    assert metrics["voxkv.coalesced"][0].value == 0
    assert sum(p.value for p in metrics["voxkv.calls"]) == 2  # set + the one miss


async def test_telemetry_false_makes_no_spans(otel: Otel) -> None:
    async with Emulator(tls=False) as emu, \
            emulator_kv(emu, telemetry=False, **otel.options()) as kv:
        await kv.get("k")
        assert len(kv.events) == 1  # kv.stats only: telemetry is not subscribed
    assert otel.spans.get_finished_spans() == ()


def test_without_opentelemetry_the_client_pays_nothing() -> None:
    code = """
import sys, asyncio
sys.modules["opentelemetry"] = None  # as if not installed
from voxkv_async import VoxKV
from voxkv_async._telemetry import otel_available
from voxkv_async.emulator import Emulator
assert not otel_available()
async def main():
    async with Emulator(tls=False) as emu:
        async with VoxKV(emu.credentials, 1, base_url=emu.base_url) as kv:
            assert len(kv.events) == 1  # kv.stats only: telemetry is not subscribed
            await kv.set("k", "v")
            assert (await kv.get("k")).value == "v"
asyncio.run(main())
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_global_providers_set_after_the_client_is_made_are_used() -> None:
    code = """
import asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from voxkv_async import VoxKV
from voxkv_async.emulator import Emulator
async def main():
    async with Emulator(tls=False) as emu:
        async with VoxKV(emu.credentials, 1, base_url=emu.base_url) as kv:
            await kv.get("k")          # API, no SDK: nothing recorded
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            await kv.get("k")
            print([s.name for s in exporter.get_finished_spans()])
asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['GetKeyValueItem']"
