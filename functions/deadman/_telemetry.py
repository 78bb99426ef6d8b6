"""OpenTelemetry traces and metrics, pushed over OTLP/HTTP, only when configured.

Configured means one of the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``
variables is set; the SDK reads the rest itself (headers, timeout,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``; ``service.name`` defaults to
Knative's ``K_SERVICE``, else the function target). Otherwise ``telemetry()`` is
``NO_TELEMETRY`` and not one OpenTelemetry module is imported: cold start does
not pay for it.

Push, because a Service scaled to zero has no ``/metrics`` to pull. Nothing a
request does waits on the collector: spans go to a bounded queue exported by a
background thread every ``OTEL_BSP_SCHEDULE_DELAY`` (SDK default 5 s), metrics
are exported every ``OTEL_METRIC_EXPORT_INTERVAL`` (10 s here unless set), each
export gives up after ``OTEL_EXPORTER_OTLP_TIMEOUT`` (5 s here unless set), and
what is still buffered is flushed when the worker stops (the SDK's exit
handlers, which a SIGTERM to gunicorn reaches, and ``runtime.shutdown``). A
collector that is slow or down loses telemetry, never a request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = [
    "ALERTS",
    "KAPACITOR_DURATION",
    "LIFECYCLE_DEVICES",
    "LIFECYCLE_EVENTS",
    "NO_TELEMETRY",
    "SINK_DURATION",
    "NoTelemetry",
    "Telemetry",
    "configured",
    "shutdown_telemetry",
    "telemetry",
]

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
# Metric names (relied upon by dashboards and alert rules: docs/observability.md).
LIFECYCLE_DEVICES = "deadman.lifecycle.devices"
LIFECYCLE_EVENTS = "deadman.lifecycle.events"
KAPACITOR_DURATION = "deadman.kapacitor.request.duration"
ALERTS = "deadman.alerts"
SINK_DURATION = "deadman.sink.duration"
_INSTRUMENTS = {
    LIFECYCLE_DEVICES: ("counter", "{device}", "Devices a lifecycle event named, by outcome"),
    LIFECYCLE_EVENTS: ("counter", "{event}", "Lifecycle deliveries answered, by status"),
    KAPACITOR_DURATION: ("histogram", "s", "Duration of Kapacitor API calls"),
    ALERTS: ("counter", "{alert}", "Kapacitor alerts received, by outcome"),
    SINK_DURATION: ("histogram", "s", "Time for the sink to accept an alert event"),
}
_DEFAULTS = {"OTEL_METRIC_EXPORT_INTERVAL": "10000", "OTEL_EXPORTER_OTLP_TIMEOUT": "5"}


def configured() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


class NoTelemetry:
    """What the functions use when OpenTelemetry is not configured: nothing."""

    def server_span(
        self, name: str, traceparent: str | None, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[Any]:
        return _nothing()

    def client_span(
        self, name: str, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[dict[str, str]]:
        return _no_headers()

    def trace_context(self) -> dict[str, str]:
        return {}

    def add(self, metric: str, amount: int, attributes: Mapping[str, Any]) -> None:
        return None

    def record(self, metric: str, value: float, attributes: Mapping[str, Any]) -> None:
        return None

    def shutdown(self) -> None:
        return None


NO_TELEMETRY = NoTelemetry()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@contextmanager
def _no_headers() -> Iterator[dict[str, str]]:
    yield {}


class Telemetry(NoTelemetry):
    """The OpenTelemetry SDK with OTLP/HTTP exporters (made in the worker process)."""

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        for name, value in _DEFAULTS.items():
            os.environ.setdefault(name, value)
        named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        default_name = os.environ.get("K_SERVICE") or os.environ.get("FUNCTION_TARGET")
        # Attributes given here would win over the environment's: only a default.
        fallback = {"service.name": default_name} if default_name and not named else {}
        resource = Resource.create(fallback)
        self._tracer_provider = TracerProvider(resource=resource)
        self._tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        self._tracer = self._tracer_provider.get_tracer("deadman")
        meter = self._meter_provider.get_meter("deadman")
        self._instruments: dict[str, Any] = {}
        for metric, (kind, unit, description) in _INSTRUMENTS.items():
            make = meter.create_counter if kind == "counter" else meter.create_histogram
            self._instruments[metric] = make(metric, unit=unit, description=description)
        self._propagator = TraceContextTextMapPropagator()

    @contextmanager
    def server_span(
        self, name: str, traceparent: str | None, attributes: Mapping[str, Any]
    ) -> Iterator[Any]:
        from opentelemetry import trace

        parent = self._propagator.extract({"traceparent": traceparent} if traceparent else {})
        with self._tracer.start_as_current_span(
            name, context=parent, kind=trace.SpanKind.SERVER, attributes=dict(attributes)
        ) as span:
            yield span

    @contextmanager
    def client_span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[dict[str, str]]:
        from opentelemetry import trace

        with self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes=dict(attributes)
        ):
            yield self.trace_context()

    def trace_context(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier

    def add(self, metric: str, amount: int, attributes: Mapping[str, Any]) -> None:
        self._instruments[metric].add(amount, attributes=dict(attributes))

    def record(self, metric: str, value: float, attributes: Mapping[str, Any]) -> None:
        self._instruments[metric].record(value, attributes=dict(attributes))

    def shutdown(self) -> None:
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


_lock = threading.Lock()
_current: NoTelemetry | None = None


def telemetry() -> NoTelemetry:
    """This process's telemetry, made on first use (in the worker, after the fork)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = Telemetry() if configured() else NO_TELEMETRY
    return _current


def shutdown_telemetry() -> None:
    """Flush what is buffered and stop exporting (a worker's exit does it too)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        current.shutdown()
