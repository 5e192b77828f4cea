"""OpenTelemetry traces and metrics, when ``opentelemetry-api`` is importable.

Install the ``otel`` extra (``pip install 'voxkv_async[otel]'``). :class:`Telemetry` is a
subscriber of the client's event stream (:mod:`._events`): every call that goes to the
API (a :class:`~voxkv_async.CallEnded` event) makes one span, named after the API method
(``GetKeyValueItem``, ...), of kind ``CLIENT``, with these attributes:

- ``voxkv.attempts``: attempts made (``1`` without retries), ``voxkv.retries``
  (attempts - 1) and ``voxkv.throttles`` (attempts the API throttled);
- ``http.response.status_code``: of the last answer, as the server sent it (none when
  there was no answer);
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
``VoxKV(telemetry=False)``, nothing is subscribed and a call pays nothing for
telemetry. With the API but no SDK (neither global provider set, none given), each call
checks the two global providers and records nothing: a provider set later, even after
the client was made, is used from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ._events import CallEnded, Event
from ._stats import Stats
from ._version import VERSION

__all__ = ["Telemetry", "make_telemetry", "otel_available"]

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
    """One client's tracer and instruments: a subscriber of its event stream.

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

    def __call__(self, event: Event) -> None:
        """Record a :class:`CallEnded` as a span and metrics; other events are not used."""
        if type(event) is not CallEnded:
            return
        if not self._active:
            if not _sdk_installed():
                return
            self._active = True
        self._record(event)

    def _record(self, call: CallEnded) -> None:
        # The span is made when the call has ended, with the call's own start time: no
        # state per call in flight, and the same span as one opened at the start (the
        # client never made it current, so nothing could be nested under it anyway).
        end = time.time_ns()
        attributes: dict[str, Any] = {
            "voxkv.attempts": call.attempts,
            "voxkv.retries": max(0, call.attempts - 1),
            "voxkv.throttles": call.throttles,
        }
        if self._keys and call.key is not None:
            attributes["voxkv.key"] = call.key
        if call.status is not None:
            attributes["http.response.status_code"] = call.status
        outcome = "ok"
        if call.error is not None:
            outcome = type(call.error).__name__
            attributes["error.type"] = outcome
        span = self._tracer.start_span(call.method, kind=_trace.SpanKind.CLIENT,
                                       attributes=attributes,
                                       start_time=end - int(call.elapsed * 1e9))
        if call.error is not None:
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, outcome))
        span.end(end_time=end)
        method = {"voxkv.method": call.method}
        self._calls.add(1, {**method, "voxkv.outcome": outcome})
        self._duration.record(call.elapsed, method)
        if call.attempts > 1:
            self._retries.add(call.attempts - 1, method)
        if call.throttles:
            self._throttles.add(call.throttles, method)


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
