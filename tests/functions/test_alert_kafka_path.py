"""The durable alert path: Kapacitor's Kafka event handler, then a KafkaSource to
alert_callback. The records are those of a real Kapacitor 1.5.7
(../shared/kapacitor-captures/kafka-handler-records.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from pydantic import ValidationError

from deadman import ConfigurationError, KapacitorSettings
from deadman.ops.cli import main
from deadman.ops.template import bundled_template, render_template
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_emulator import KafkaCluster, KapacitorEmulator, serve
from tests.support.apps import AppFactory, json_of
from tests.support.events import inner_event, wrapped_delivery
from tests.support.paths import FUNCTIONS_SOURCE, TEMPLATE_ID
from tests.support.receiver import ScriptedReceiver, serve_scripted
from tests.support.shared import shared_path


def handler_records() -> list[dict[str, Any]]:
    data = json.loads(shared_path("kapacitor-captures", "kafka-handler-records.json").read_text())
    return list(data["records"])


def delivered_wrapped(record: dict[str, Any], offset: int = 4) -> tuple[dict[str, str], bytes]:
    """The record as a KafkaSource POSTs it: binary dev.knative.kafka.event, data =
    the value, key = the alert id, no datacontenttype (the record has no headers)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": f"partition:0/offset:{offset}",
        "ce-source": "/apis/v1/namespaces/deadman/kafkasources/alert-callback#" + record["topic"],
        "ce-type": "dev.knative.kafka.event",
        "ce-subject": f"partition:0#{offset}",
        "ce-time": "2026-12-01T07:06:41Z",
        "ce-key": record["key"],
        "ce-partitionkey": record["key"],
        "ce-knativekafkapartition": "0",
        "ce-knativekafkaoffset": str(offset),
    }
    return headers, record["value"].encode()


@pytest.fixture
def sink() -> Iterator[ScriptedReceiver]:
    with serve_scripted() as receiver:
        receiver.script("/", [], default=202)
        yield receiver


def emitted(sink: ScriptedReceiver, count: int) -> list[tuple[dict[str, str], bytes]]:
    return [
        ({k: v for k, v in item.headers.items() if k.startswith("ce-")}, item.body)
        for item in sink.wait_for("/", count)
    ]


@pytest.mark.parametrize("index", range(5))
def test_alert_callback_kafka_record_yields_the_same_event_as_the_post(
    function_client: AppFactory, sink: ScriptedReceiver, index: int
) -> None:
    record = handler_records()[index]
    client = function_client("alert_callback", K_SINK=sink.url)
    posted = client.post("/", data=record["value"], content_type="application/json")
    assert posted.status_code == 200, posted.data
    headers, body = delivered_wrapped(record)
    wrapped = client.post("/", headers=headers, data=body)
    assert wrapped.status_code == 200, wrapped.data
    assert wrapped.json == posted.json
    first, second = emitted(sink, 2)
    assert first == second  # every attribute, id included, and the data
    assert first[0]["ce-subject"] == "kafka_test"
    assert first[0]["ce-type"] == (
        "historicization-restarted" if index == 4 else "historicization-stopped"
    )


def test_alert_callback_kafka_redelivery_same_event_id(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    record = handler_records()[0]
    client = function_client("alert_callback", K_SINK=sink.url)
    for offset in (0, 9):  # the same record delivered again, e.g. after a replay
        headers, body = delivered_wrapped(record, offset)
        assert client.post("/", headers=headers, data=body).status_code == 200
    first, second = emitted(sink, 2)
    assert first[0]["ce-id"] == second[0]["ce-id"]


def test_alert_callback_kafka_record_not_an_alert_is_400(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    """Knative dead-letters a 400 at once, with the reason in knativeerrordata."""
    client = function_client("alert_callback", K_SINK=sink.url)
    headers, _ = delivered_wrapped(handler_records()[0])
    response = client.post("/", headers=headers, data=b'{"hello": "world"}\n')
    assert response.status_code == 400
    assert json_of(response)["error"] == "malformed_alert"
    assert sink.requests("/") == []


def test_alert_callback_kafka_record_sink_failing_is_503(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    """Retried by the KafkaSource: nothing is lost while the sink is down."""
    sink.script("/", [503])
    client = function_client("alert_callback", K_SINK=sink.url)
    headers, body = delivered_wrapped(handler_records()[0])
    assert client.post("/", headers=headers, data=body).status_code == 503
    assert client.post("/", headers=headers, data=body).status_code == 200


@pytest.mark.parametrize("delivery", ["httppost", "kafka"])
def test_render_template_by_alert_delivery(delivery: Literal["httppost", "kafka"]) -> None:
    settings = KapacitorSettings(
        alert_delivery=delivery, kapacitor_kafka_cluster="c1", kapacitor_alerts_topic="t.alerts"
    )
    script = bundled_template(TEMPLATE_ID)
    rendered = render_template(script, settings)
    if delivery == "httppost":
        assert rendered == script
        return
    assert ".post()" not in rendered
    assert ".endpoint('benthos')" not in rendered
    assert rendered.endswith(
        "trigger\n    .kafka()\n    .cluster('c1')\n    .kafkaTopic('t.alerts')\n"
    )
    # The rest of the seed's script is untouched.
    assert rendered.split("trigger\n    .kafka()")[0] == script.split("trigger\n    .post()")[0]
    assert render_template(rendered, settings) == rendered  # already a Kafka handler


def test_render_template_without_a_handler_to_replace_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"\.post\(\)"):
        render_template("stream|from()|deadman(0.0, 1m)", KapacitorSettings(alert_delivery="kafka"))


def test_kafka_settings_refuse_what_tickscript_cannot_quote() -> None:
    with pytest.raises(ValidationError):
        KapacitorSettings(kapacitor_kafka_cluster="a'b")
    with pytest.raises(ValidationError):
        KapacitorSettings(kapacitor_alerts_topic="bad topic")


@pytest.mark.kafka
def test_install_template_then_enable_alert_alerts_go_to_the_kafka_handler(
    kafka_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """make template + enable_alert with ALERT_DELIVERY=kafka: a Kapacitor with that
    [[kafka]] cluster writes the task's alerts to that topic, as a real one does.
    Emulator only: it fires the deadman on demand, where a real one fires after the
    template's period (1m); tests/e2e runs the Kafka path on a real Kapacitor."""
    topic = "custom.kapacitor-alerts"
    create_topics(kafka_broker.bootstrap_servers, [topic])
    emulator = KapacitorEmulator(
        kafka_clusters=[KafkaCluster("c1", kafka_broker.bootstrap_servers)]
    )
    env = {
        "ALERT_DELIVERY": "kafka",
        "KAPACITOR_KAFKA_CLUSTER": "c1",
        "KAPACITOR_ALERTS_TOPIC": topic,
        "KAPACITOR_DB": "iot",
    }
    with serve(emulator) as running:
        for name, setting in {**env, "KAPACITOR_URL": running.url}.items():
            monkeypatch.setenv(name, setting)
        assert main(["install-template"]) == 0
        function_env = {**env, "KAPACITOR_URL": running.url, "KAPACITOR_DB": "iot"}
        with FunctionProcess(
            "enable_alert", env=function_env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
        ) as fn:
            delivery = wrapped_delivery(inner_event("device-enabled", ["k-1"]))
            response = httpx.post(fn.url, headers=delivery.headers, content=delivery.body)
        assert response.status_code == 200, response.text
        result = emulator.fire_deadman("k-1_not_fed", "CRITICAL")
        assert result.ok, result
        assert result.topic == topic
    [record] = _records(kafka_broker, topic)
    key, value, headers = record
    assert key == b"k-1_not_fed"
    assert headers is None or headers == []
    assert value.endswith(b"}\n")
    assert json.loads(value)["level"] == "CRITICAL"


def _records(broker: EmbeddedBroker, topic: str) -> list[tuple[bytes | None, bytes, Any]]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"t-{topic}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
    pending = set(metadata.partitions)
    found: list[tuple[bytes | None, bytes, Any]] = []
    while pending:
        message = consumer.poll(5)
        assert message is not None, "the topic did not end"
        if message.error():
            pending.discard(message.partition())
            continue
        found.append((message.key(), message.value() or b"", message.headers()))
    consumer.close()
    return found
