"""A real OTLP/HTTP receiver for the tests: what the functions export, decoded with
opentelemetry-proto (not a mocked SDK)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from werkzeug.wrappers import Request, Response

from tests.support.wsgi import serve_wsgi


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    attributes: dict[str, Any]
    service: str


@dataclass(frozen=True)
class Point:
    """One data point of a metric: its attributes, and its value (or count)."""

    attributes: dict[str, Any]
    value: float
    unit: str


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass
class OtlpReceiver:
    url: str = ""
    delay: float = 0.0
    spans: list[Span] = field(default_factory=list)
    exports: list[Any] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, environ: dict[str, object], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        if self.delay:
            time.sleep(self.delay)
        if request.path == "/v1/traces":
            traces = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            self._add_spans(traces)
            reply: bytes = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        elif request.path == "/v1/metrics":
            metrics = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
            with self._changed:
                self.exports.append(metrics)
                self._changed.notify_all()
            reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        else:
            return Response(status=404)(environ, start_response)
        return Response(reply, content_type="application/x-protobuf")(environ, start_response)

    def _add_spans(self, request: Any) -> None:
        found = []
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    found.append(
                        Span(
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            span.kind,
                            _attributes(span.attributes),
                            service,
                        )
                    )
        with self._changed:
            self.spans.extend(found)
            self._changed.notify_all()

    def points(self, name: str) -> list[Point]:
        """The data points of metric ``name`` in the latest export that has it
        (exports are cumulative: the latest holds the totals)."""
        with self._changed:
            exports = list(self.exports)
        for export in reversed(exports):
            found = []
            for resource_metrics in export.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != name:
                            continue
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            value = point.count if kind == "histogram" else point.as_int
                            found.append(Point(_attributes(point.attributes), value, metric.unit))
            if found:
                return found
        return []


@contextmanager
def serve_otlp(delay: float = 0.0) -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(delay=delay)
    with serve_wsgi(receiver) as url:
        receiver.url = url
        yield receiver
