"""OpenTelemetry traces and metrics, when ``opentelemetry-api`` is importable.

Install the ``otel`` extra (``pip install 'voxkv_async[otel]'``). Every call that goes to
the API makes one span, named after the API method (``GetKeyValueItem``, ...), of kind
``CLIENT``, with these attributes:

- ``voxkv.attempts``: attempts made (``1`` without retries), ``voxkv.retries``
  (attempts - 1) and ``voxkv.throttles`` (attempts the API throttled);
- ``http.response.status_code``: of the last answer (``200`` for a success);
- ``error.type``: the exception class when the call failed (the span's status is
  ``ERROR`` with that name only: messages name keys);
- ``voxkv.key``: only with ``VoxKV(telemetry_keys=True)`` (keys are often phone
  numbers). A value is never recorded.

Metrics through the meter ``voxkv_async``: ``voxkv.calls`` (counter, by method and
outcome), ``voxkv.call.duration`` (histogram, seconds, by method), ``voxkv.retries`` and
``voxkv.throttles`` (counters, by method), and ``voxkv.cache.hits``,
``voxkv.cache.misses``, ``voxkv.coalesced`` (observable counters read from
:class:`~voxkv_async.Stats`, so they cost nothing per call).

Spans and metrics use the global providers unless ``VoxKV(tracer_provider=...,
meter_provider=...)`` are given. Without ``opentelemetry-api``, or with
``VoxKV(telemetry=False)``, the client holds ``None`` here and pays one attribute check
per call. With the API but no SDK (neither global provider set, none given), each call
checks the two global providers and records nothing: a provider set later, even after
the client was made, is used from then on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ._errors import ApiError, ProtocolError, RateLimitedError
from ._stats import Stats
from ._version import VERSION

__all__ = ["CallRecord", "Telemetry", "make_telemetry", "otel_available"]

T = TypeVar("T")

try:  # an optional dependency: the ``otel`` extra
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised where opentelemetry is absent
    _metrics = None  # type: ignore[assignment]
    _trace = None  # type: ignore[assignment]


def otel_available() -> bool:
    """Whether ``opentelemetry-api`` could be imported."""
    return _trace is not None


def make_telemetry(
    enabled: bool,
    stats: Stats,
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    keys: bool = False,
) -> Telemetry | None:
    """A :class:`Telemetry`, or ``None`` when switched off or OpenTelemetry is absent."""
    if not enabled or _trace is None:
        return None
    return Telemetry(stats, tracer_provider=tracer_provider, meter_provider=meter_provider,
                     keys=keys)


class Telemetry:
    """One client's tracer and instruments.

    Args:
        stats: The client's counters, read by the observable counters.
        tracer_provider: Instead of the global one.
        meter_provider: Instead of the global one.
        keys: Whether spans carry the key (``voxkv.key``).
    """

    __slots__ = ("_active", "_calls", "_duration", "_keys", "_retries", "_throttles",
                 "_tracer")

    def __init__(self, stats: Stats, *, tracer_provider: Any, meter_provider: Any,
                 keys: bool) -> None:
        assert _trace is not None
        assert _metrics is not None
        self._tracer = _trace.get_tracer("voxkv_async", VERSION, tracer_provider)
        meter = _metrics.get_meter("voxkv_async", VERSION, meter_provider)
        self._keys = keys
        # Latched: a global provider, once set, cannot be unset.
        self._active = tracer_provider is not None or meter_provider is not None
        self._calls = meter.create_counter("voxkv.calls", "{call}", "API calls made")
        self._duration = meter.create_histogram(
            "voxkv.call.duration", "s", "Duration of API calls, retries included")
        self._retries = meter.create_counter("voxkv.retries", "{retry}", "Attempts made again")
        self._throttles = meter.create_counter(
            "voxkv.throttles", "{attempt}", "Attempts the API throttled")
        for name, field, what in (
            ("voxkv.cache.hits", "cache_hits", "get calls answered by the read cache"),
            ("voxkv.cache.misses", "cache_misses", "get calls the read cache missed"),
            ("voxkv.coalesced", "coalesced", "get calls that shared another's request"),
        ):
            meter.create_observable_counter(name, [_observe(stats, field)], "{call}", what)

    def start(self, method: str, key: str | None) -> CallRecord | None:
        """Open the span of one call; ``None`` while no SDK is there to record it."""
        if not self._active:
            if not _sdk_installed():
                return None
            self._active = True
        attributes = {"voxkv.key": key} if self._keys and key is not None else None
        span = self._tracer.start_span(method, kind=_trace.SpanKind.CLIENT,
                                       attributes=attributes)
        return CallRecord(self, span, method)


class CallRecord:
    """What one call did, counted attempt by attempt, written to its span at the end."""

    __slots__ = ("_method", "_span", "_start", "_telemetry", "attempts", "status",
                 "throttles")

    def __init__(self, telemetry: Telemetry, span: Any, method: str) -> None:
        self._telemetry = telemetry
        self._span = span
        self._method = method
        self._start = time.perf_counter()
        self.attempts = 0
        self.throttles = 0
        self.status: int | None = None

    def wrap(self, attempt: Callable[[float], Awaitable[T]]) -> Callable[[float], Awaitable[T]]:
        """``attempt``, counted."""

        async def counted(time_limit: float) -> T:
            self.attempts += 1
            try:
                result = await attempt(time_limit)
            except BaseException as exc:
                self.status = getattr(exc, "status", None) if isinstance(
                    exc, ApiError | ProtocolError) else None
                if isinstance(exc, RateLimitedError):
                    self.throttles += 1
                raise
            self.status = 200
            return result

        return counted

    def end(self, error: BaseException | None) -> None:
        """Close the span and record the metrics; ``error`` is what the call raised."""
        t = self._telemetry
        span = self._span
        method = {"voxkv.method": self._method}
        retries = max(0, self.attempts - 1)
        span.set_attribute("voxkv.attempts", self.attempts)
        span.set_attribute("voxkv.retries", retries)
        span.set_attribute("voxkv.throttles", self.throttles)
        if error is None:
            self.status = 200
        if self.status is not None:
            span.set_attribute("http.response.status_code", self.status)
        outcome = "ok"
        if error is not None:
            outcome = type(error).__name__
            span.set_attribute("error.type", outcome)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, outcome))
        span.end()
        t._calls.add(1, {**method, "voxkv.outcome": outcome})
        t._duration.record(time.perf_counter() - self._start, method)
        if retries:
            t._retries.add(retries, method)
        if self.throttles:
            t._throttles.add(self.throttles, method)


def _sdk_installed() -> bool:
    """Whether a global tracer or meter provider has been set (by an SDK, usually)."""
    assert _trace is not None
    assert _metrics is not None
    return (not isinstance(_trace.get_tracer_provider(), _trace.ProxyTracerProvider)
            or type(_metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider")


def _observe(stats: Stats, field: str) -> Callable[[Any], Iterable[Any]]:
    def callback(options: Any) -> Iterable[Any]:
        assert _metrics is not None
        yield _metrics.Observation(getattr(stats, field))

    return callback
