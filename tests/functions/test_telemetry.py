"""OpenTelemetry over OTLP/HTTP, against a real receiver: spans continue the caller's
trace, metrics carry the counts, SIGTERM flushes, a bad collector changes nothing
for the caller, and nothing of OpenTelemetry is imported unless configured."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deadman_local.broker import EmbeddedBroker, create_topics, read_topic
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_emulator import RequestRecord
from tests.support.apps import create_app_in_fresh_interpreter
from tests.support.emulator import served_emulator
from tests.support.events import inner_event, wrapped_delivery
from tests.support.otlp import OtlpReceiver, serve_otlp
from tests.support.paths import FUNCTIONS_SOURCE
from tests.support.shared import captured_alerts

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    with serve_otlp() as receiver:
        yield receiver


def otel_env(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "enable-alert-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "THREADS": "4",
    }


def test_enable_alert_exports_spans_in_the_callers_trace_and_metrics_on_sigterm(
    collector: OtlpReceiver, tmp_path: Path
) -> None:
    seen: list[RequestRecord] = []
    with served_emulator(request_log=seen.append) as kapacitor:
        env = {**otel_env(collector.url), "KAPACITOR_URL": kapacitor.url, "KAPACITOR_DB": "iot"}
        function = FunctionProcess(
            "enable_alert", env=env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
        ).start()
        try:
            delivery = wrapped_delivery(inner_event("device-enabled", ["otel-1", "otel-2"]))
            headers = {**delivery.headers, "traceparent": TRACEPARENT}
            response = httpx.post(function.url, headers=headers, content=delivery.body)
            assert response.status_code == 200, response.text
        finally:
            assert function.stop() == 0  # SIGTERM: a clean exit flushes what is buffered
    [server] = [span for span in collector.spans if span.kind == SERVER]
    assert (server.trace_id, server.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert server.name == "enabled devices"
    assert server.service == "enable-alert-test"
    assert server.attributes["deadman.devices"] == 2
    calls = [span for span in collector.spans if span.kind == CLIENT]
    assert len(calls) == 4  # a GET and a POST per device, each its own span
    assert {span.trace_id for span in calls} == {TRACE_ID}
    assert {span.parent_span_id for span in calls} == {server.span_id}
    assert {span.name for span in calls} == {"GET /tasks/{id}", "POST /tasks"}
    # Each Kapacitor call carried its span's context to Kapacitor.
    sent = {record.traceparent for record in seen if record.kind == "tasks"}
    assert sent == {f"00-{TRACE_ID}-{span.span_id}-01" for span in calls}
    devices = collector.points("deadman.lifecycle.devices")
    assert [(p.attributes, p.value, p.unit) for p in devices] == [
        ({"deadman.action": "enabled", "deadman.outcome": "applied"}, 2, "{device}")
    ]
    events = collector.points("deadman.lifecycle.events")
    assert [(p.attributes, p.value) for p in events] == [
        ({"deadman.action": "enabled", "http.response.status_code": 200}, 1)
    ]
    durations = collector.points("deadman.kapacitor.request.duration")
    assert {
        (p.attributes["http.route"], p.attributes["http.response.status_code"]) for p in durations
    } == {
        ("/tasks/{id}", 404),
        ("/tasks", 200),
    }
    assert sum(p.value for p in durations) == 4
    assert {p.unit for p in durations} == {"s"}


@pytest.mark.kafka
def test_alert_callback_continues_the_trace_into_the_emitted_event(
    collector: OtlpReceiver, kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap_servers, [topic])
    env = {
        **otel_env(collector.url),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "ALERTS_TOPIC": topic,
    }
    function = FunctionProcess(
        "alert_callback", env=env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
    ).start()
    try:
        alert = next(body for body in captured_alerts() if body["level"] == "CRITICAL")
        response = httpx.post(function.url, json=alert, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200, response.text
    finally:
        assert function.stop() == 0
    [record] = read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    carried = record.headers["ce_traceparent"].decode()
    assert carried.split("-")[1] == TRACE_ID
    send = next(span for span in collector.spans if span.name == "send kafka")
    assert carried.split("-")[2] == send.span_id  # the consumer continues from the send
    server = next(span for span in collector.spans if span.kind == SERVER)
    assert (server.trace_id, server.parent_span_id, send.parent_span_id) == (
        TRACE_ID,
        PARENT_ID,
        server.span_id,
    )
    alerts = collector.points("deadman.alerts")
    assert [(p.attributes, p.value) for p in alerts] == [
        (
            {
                "deadman.alert.kind": "device",
                "deadman.alert.level": "CRITICAL",
                "deadman.outcome": "published",
            },
            1,
        )
    ]
    [sink] = collector.points("deadman.sink.duration")
    assert (sink.attributes, sink.value) == ({"deadman.sink": "kafka"}, 1)


@pytest.mark.parametrize("collector_state", ["down", "slow"])
def test_bad_collector_changes_nothing_for_the_caller(collector_state: str, tmp_path: Path) -> None:
    with serve_otlp(delay=30.0) as slow, served_emulator() as kapacitor:
        endpoint = slow.url if collector_state == "slow" else "http://127.0.0.1:9"
        env = {
            **otel_env(endpoint),
            "KAPACITOR_URL": kapacitor.url,
            "KAPACITOR_DB": "iot",
            # Export at once, so that exports are in flight while requests run.
            "OTEL_BSP_SCHEDULE_DELAY": "1",
            "OTEL_METRIC_EXPORT_INTERVAL": "100",
        }
        function = FunctionProcess(
            "enable_alert", env=env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
        ).start()
        try:
            for number in range(5):
                delivery = wrapped_delivery(inner_event("device-enabled", [f"bad-otel-{number}"]))
                started = time.monotonic()
                response = httpx.post(function.url, headers=delivery.headers, content=delivery.body)
                assert response.status_code == 200, response.text
                assert time.monotonic() - started < 2  # no wait on the collector
        finally:
            started = time.monotonic()
            function.stop()
            # The exit flush gives up after the export timeout (5 s) per signal.
            assert time.monotonic() - started < 14


@pytest.mark.parametrize("target", ["enable_alert", "alert_callback"])
def test_no_opentelemetry_imported_unless_configured(target: str) -> None:
    result = create_app_in_fresh_interpreter(target, python_options=("-X", "importtime"))
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    assert imported, result.stderr[:500]
    assert not [name for name in imported if name.startswith("opentelemetry")]
    configured = create_app_in_fresh_interpreter(
        target,
        then="import opentelemetry.sdk.trace\n",
        python_options=("-X", "importtime"),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert "opentelemetry" in configured.stderr  # the probe sees them when they are there
