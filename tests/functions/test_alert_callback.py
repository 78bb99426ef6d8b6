"""alert_callback: Kapacitor's alert POST in, a historicization CloudEvent on Kafka out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cloudevents.http import from_http
from cloudevents.kafka import KafkaMessage, from_binary

from deadman_local.broker import EmbeddedBroker, create_topics, read_topic, topic_size
from deadman_local.functions import FunctionProcess
from tests.support.apps import AppFactory, json_of
from tests.support.paths import FUNCTIONS_SOURCE
from tests.support.receiver import serve_scripted
from tests.support.shared import captured_alerts

pytestmark = pytest.mark.kafka


def captured(level: str) -> dict[str, Any]:
    return next(body for body in captured_alerts() if body["level"] == level)


def decode(record: Any) -> Any:
    return from_binary(KafkaMessage(record.headers, record.key, record.value))


@pytest.fixture
def topic(kafka_broker: EmbeddedBroker) -> str:
    name = f"alerts-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap_servers, [name])
    return name


@pytest.fixture
def kafka_env(kafka_broker: EmbeddedBroker, topic: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "ALERTS_TOPIC": topic,
        "SINK_TIMEOUT_SECONDS": "5",
    }


def test_alert_callback_critical_lands_on_topic_as_stopped(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
) -> None:
    client = function_client("alert_callback", **kafka_env)
    response = client.post(
        "/", data=json.dumps(captured("CRITICAL")), content_type="application/json"
    )
    assert response.status_code == 200, response.data
    records = read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    assert topic_size(kafka_broker.bootstrap_servers, topic) == 1
    event = decode(records[0])
    assert event["type"] == "historicization-stopped"
    assert event["subject"] == "dev-1"
    assert records[0].key == b"dev-1"
    assert event["time"] == "2026-11-21T17:47:10Z"
    assert event.data["level"] == "CRITICAL"
    assert json_of(response)["id"] == event["id"]


def test_alert_callback_ok_lands_on_topic_as_restarted(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
) -> None:
    client = function_client("alert_callback", **kafka_env)
    assert client.post("/", json=captured("OK")).status_code == 200
    (record,) = read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    event = decode(record)
    assert event["type"] == "historicization-restarted"
    assert event.data["previousLevel"] == "CRITICAL"
    assert event.data["duration"] == 20_000_000_000


def test_alert_callback_same_alert_twice_same_event_id(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
) -> None:
    client = function_client("alert_callback", **kafka_env)
    for _ in range(2):
        assert client.post("/", json=captured("CRITICAL")).status_code == 200
    records = read_topic(kafka_broker.bootstrap_servers, topic, expected=2)
    assert len(records) == 2
    assert decode(records[0])["id"] == decode(records[1])["id"]


@pytest.mark.parametrize("level", ["WARNING", "INFO"])
def test_alert_callback_ignored_level_produces_nothing(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
    level: str,
) -> None:
    client = function_client("alert_callback", **kafka_env)
    response = client.post("/", json={**captured("CRITICAL"), "level": level})
    assert response.status_code == 200
    assert json_of(response)["status"] == "ignored"
    assert topic_size(kafka_broker.bootstrap_servers, topic) == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[]", b'{"id": "x"}', json.dumps({"level": "CRITICAL"}).encode()],
)
def test_alert_callback_malformed_body_is_400(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
    body: bytes,
) -> None:
    client = function_client("alert_callback", **kafka_env)
    response = client.post("/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert json_of(response)["error"] == "malformed_alert"
    assert topic_size(kafka_broker.bootstrap_servers, topic) == 0


def test_alert_callback_oversized_body_is_413(
    function_client: AppFactory,
    kafka_env: dict[str, str],
) -> None:
    client = function_client("alert_callback", ALERT_MAX_BODY_BYTES="2048", **kafka_env)
    body = {**captured("CRITICAL"), "details": "x" * 4096}
    response = client.post("/", json=body)
    assert response.status_code == 413
    assert len(response.data) < 1024


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Basic c2VjcmV0", 401), ("Bearer s3cret-token", 200)],
)
def test_alert_callback_token(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
    header: str | None,
    status: int,
) -> None:
    client = function_client("alert_callback", ALERT_CALLBACK_TOKEN="s3cret-token", **kafka_env)
    headers = {"Authorization": header} if header else {}
    response = client.post("/", json=captured("CRITICAL"), headers=headers)
    assert response.status_code == status
    assert b"s3cret-token" not in response.data
    expected = 1 if status == 200 else 0
    if expected:
        read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    assert topic_size(kafka_broker.bootstrap_servers, topic) == expected


def test_alert_callback_accepts_alert_as_wrapped_cloudevent(
    function_client: AppFactory,
    kafka_env: dict[str, str],
    kafka_broker: EmbeddedBroker,
    topic: str,
) -> None:
    """Kapacitor's Kafka handler topic read by a KafkaSource feeds the same mapping."""
    client = function_client("alert_callback", **kafka_env)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:3",
        "ce-source": "/apis/v1/namespaces/iot/kafkasources/kapacitor-alerts#kapacitor-alerts",
        "ce-type": "dev.knative.kafka.event",
        "ce-key": "dev-1_not_fed",
    }
    body = (json.dumps(captured("CRITICAL")) + "\n").encode()
    assert client.post("/", data=body, headers=headers).status_code == 200
    (record,) = read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    assert decode(record)["type"] == "historicization-stopped"


@pytest.fixture
def stopped_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    create_topics(broker.bootstrap_servers, ["alerts"])
    broker.stop()
    yield broker
    broker.stop()


def test_alert_callback_broker_down_is_503_within_deadline(
    function_client: AppFactory,
    stopped_broker: EmbeddedBroker,
) -> None:
    deadline = 2.0
    client = function_client(
        "alert_callback",
        KAFKA_BOOTSTRAP_SERVERS=stopped_broker.bootstrap_servers,
        ALERTS_TOPIC="alerts",
        SINK_TIMEOUT_SECONDS=str(deadline),
    )
    started = time.monotonic()
    response = client.post("/", json=captured("CRITICAL"))
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert json_of(response)["error"] == "sink_unavailable"
    # The delivery report itself may take a moment past message.timeout.ms.
    assert elapsed < deadline + 1.5


def test_alert_callback_k_sink_binary_mode(function_client: AppFactory) -> None:
    with serve_scripted() as receiver:
        receiver.default = 202
        client = function_client("alert_callback", K_SINK=receiver.url)
        response = client.post("/", json=captured("CRITICAL"))
        assert response.status_code == 200
        (request,) = receiver.requests("/")
    headers = request.headers
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "historicization-stopped"
    assert headers["ce-subject"] == "dev-1"
    assert headers["ce-partitionkey"] == "dev-1"
    assert headers["ce-source"] == "/kapacitor/deadman"
    assert headers["content-type"] == "application/json"
    event = from_http(request.headers, request.body)
    assert event.data["deviceCode"] == "dev-1"
    assert event["id"] == json_of(response)["id"]


@pytest.mark.parametrize(("sink_status", "status"), [(503, 503), (500, 503), (400, 502)])
def test_alert_callback_k_sink_refusal_is_loud(
    function_client: AppFactory, sink_status: int, status: int
) -> None:
    with serve_scripted() as receiver:
        receiver.default = sink_status
        client = function_client("alert_callback", K_SINK=receiver.url)
        assert client.post("/", json=captured("CRITICAL")).status_code == status


def test_alert_callback_k_sink_unreachable_is_503(function_client: AppFactory) -> None:
    with serve_scripted() as receiver:
        url = receiver.url
    client = function_client("alert_callback", K_SINK=url, SINK_TIMEOUT_SECONDS="2")
    assert client.post("/", json=captured("CRITICAL")).status_code == 503


def test_alert_callback_without_sink_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, function_client: AppFactory
) -> None:
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(Exception, match="no sink for alert events"):
        function_client("alert_callback")


def test_alert_callback_under_gunicorn_publishes_once_per_post(
    kafka_broker: EmbeddedBroker, topic: str, tmp_path: Any
) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "ALERTS_TOPIC": topic}
    with FunctionProcess(
        "alert_callback", env=env, log_path=tmp_path / "cb.log", source=FUNCTIONS_SOURCE
    ) as function:
        first = httpx.post(function.url, json=captured("CRITICAL"), timeout=15)
        assert first.status_code == 200, first.text
        records = read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
        assert topic_size(kafka_broker.bootstrap_servers, topic) == 1
        second = httpx.post(function.url, json=captured("CRITICAL"), timeout=15)
        assert second.status_code == 200
        records = read_topic(kafka_broker.bootstrap_servers, topic, expected=2)
    first_event, second_event = (decode(record) for record in records)
    assert first_event["type"] == "historicization-stopped"
    assert first_event["subject"] == "dev-1"
    assert records[0].key == b"dev-1"
    assert first_event["id"] == second_event["id"]
