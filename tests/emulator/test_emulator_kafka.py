"""The emulator's Kafka event handler against the records of a real Kapacitor 1.5.7
(../shared/kapacitor-captures/kafka-handler-records.json)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.kapacitor_emulator import KafkaCluster, KapacitorEmulator, serve
from tests.support.shared import shared_path

pytestmark = pytest.mark.kafka

CAPTURED_START = datetime(2026, 12, 1, 7, 6, 40, tzinfo=UTC)


def capture() -> dict[str, Any]:
    path = shared_path("kapacitor-captures", "kafka-handler-records.json")
    captured: dict[str, Any] = json.loads(path.read_text())
    return captured


def script_task(task_id: str, script: str) -> dict[str, Any]:
    """An enabled task made from a TICKscript (no template), as in the capture."""
    return {
        "id": task_id,
        "script": script,
        "dbrps": [{"db": "iot", "rp": "autogen"}],
        "status": "enabled",
    }


def records(broker: EmbeddedBroker, topic: str) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"read-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    pending, found = set(partitions), []
    while pending:
        message = consumer.poll(5)
        assert message is not None
        if message.error():
            pending.discard(message.partition())
        else:
            found.append(message)
    consumer.close()
    return sorted(found, key=lambda message: (message.partition(), message.offset()))


def _without_server_info(value: bytes) -> bytes:
    # ClusterID, ServerID and Hostname are the server's own.
    return re.sub(rb"ServerInfo\\u0026#34;:\{.*?\}", b"ServerInfo", value)


def test_emulator_kafka_handler_writes_records_like_kapacitor(kafka_broker: EmbeddedBroker) -> None:
    captured = capture()
    topic = f"kapacitor-alerts-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_broker.bootstrap_servers, [topic])
    emulator = KapacitorEmulator(
        kafka_clusters=[KafkaCluster("local", kafka_broker.bootstrap_servers)]
    )
    script = captured["tickscript"].replace("'kapacitor-alerts'", f"'{topic}'")
    with serve(emulator) as running:
        created = httpx.post(
            f"{running.url}/kapacitor/v1/tasks",
            json=script_task("kafka_test_not_fed", script),
        )
        assert created.status_code == 200, created.text
        # Silent for four periods, then one point: as in the capture.
        for tick in range(5):
            level, emitted = ("OK", 1.0) if tick == 4 else ("CRITICAL", 0.0)
            fired = emulator.fire_deadman(
                "kafka_test_not_fed", level, CAPTURED_START + timedelta(seconds=5 * tick), emitted
            )
            assert fired.ok, fired
    got = records(kafka_broker, topic)
    expected = captured["records"]
    assert [m.key().decode() for m in got] == [r["key"] for r in expected]
    assert all(not m.headers() for m in got)  # Kapacitor sends no headers
    for message, record in zip(got, expected, strict=True):
        assert _without_server_info(message.value()) == _without_server_info(
            record["value"].encode()
        )


def test_emulator_close_stops_its_kafka_report_poller(kafka_broker: EmbeddedBroker) -> None:
    """Used without serve(), the emulator's producer threads end with close()."""
    topic = f"kapacitor-alerts-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_broker.bootstrap_servers, [topic])
    cluster = KafkaCluster(f"direct-{uuid.uuid4().hex[:6]}", kafka_broker.bootstrap_servers)
    script = capture()["tickscript"].replace("'kapacitor-alerts'", f"'{topic}'")
    script = script.replace(".cluster('local')", f".cluster('{cluster.id}')")
    with KapacitorEmulator(kafka_clusters=[cluster]) as emulator:
        api = httpx.Client(transport=httpx.WSGITransport(app=emulator), base_url="http://k")
        created = api.post(
            "/kapacitor/v1/tasks",
            json=script_task("direct_not_fed", script),
        )
        assert created.status_code == 200, created.text
        fired = emulator.fire_deadman("direct_not_fed", "CRITICAL")
        assert fired.ok, fired
        [poller] = [t for t in threading.enumerate() if t.name.endswith(f"-kafka-{cluster.id}")]
        assert poller.is_alive()
    poller.join(timeout=5)
    assert not poller.is_alive()
