"""KafkaSource and KafkaSink manifests, Debezium records and a producer, for the
KafkaSource stand-in and the dead-letter tools."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import yaml
from confluent_kafka import Producer

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class DeliveryOptions(TypedDict, total=False):
    """The ordering and delivery settings ``kafka_source`` takes."""

    ordering: str
    retry: int
    backoff_delay: str
    backoff_policy: str
    timeout: str


def kafka_source(
    name: str,
    topic: str,
    *,
    path: str = "/",
    ordering: str = "ordered",
    retry: int = 0,
    backoff_delay: str = "PT0.05S",
    backoff_policy: str = "linear",
    timeout: str = "PT2S",
    dead_letter_sink: str | None = "dead-letters",
    sink_uri: str | None = None,
    initial_offset: str = "earliest",
    consumer_group: str | None = None,
) -> dict[str, Any]:
    """A KafkaSource document like those of kafka-sources/, with small delays."""
    sink: dict[str, Any] = (
        {"uri": sink_uri}
        if sink_uri
        else {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fn"},
            "uri": path,
        }
    )
    delivery: dict[str, Any] = {
        "retry": retry,
        "backoffPolicy": backoff_policy,
        "backoffDelay": backoff_delay,
        "timeout": timeout,
    }
    if dead_letter_sink:
        delivery["deadLetterSink"] = {
            "ref": {
                "apiVersion": "eventing.knative.dev/v1alpha1",
                "kind": "KafkaSink",
                "name": dead_letter_sink,
            }
        }
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "KafkaSource",
        "metadata": {"name": name, "namespace": "deadman"},
        "spec": {
            "bootstrapServers": ["ignored:9092"],
            "topics": [topic],
            "consumerGroup": consumer_group or unique(f"group-{name}"),
            "initialOffset": initial_offset,
            "ordering": ordering,
            "sink": sink,
            "delivery": delivery,
        },
    }


def kafka_sink(name: str, topic: str, content_mode: str | None = "binary") -> dict[str, Any]:
    spec: dict[str, Any] = {"topic": topic, "bootstrapServers": ["ignored:9092"]}
    if content_mode:
        spec["contentMode"] = content_mode
    return {
        "apiVersion": "eventing.knative.dev/v1alpha1",
        "kind": "KafkaSink",
        "metadata": {"name": name},
        "spec": spec,
    }


def write_manifests(
    root: Path, sources: Sequence[dict[str, Any]], sinks: Sequence[dict[str, Any]]
) -> tuple[Path, Path]:
    """A kafka-sources/ and a knative/ folder holding these documents."""
    sources_dir, sinks_dir = root / "kafka-sources", root / "knative"
    sources_dir.mkdir(parents=True, exist_ok=True)
    sinks_dir.mkdir(parents=True, exist_ok=True)
    (sources_dir / "kafka-sources.yaml").write_text(yaml.safe_dump_all(sources))
    (sinks_dir / "kafka-sinks.yaml").write_text(yaml.safe_dump_all(sinks))
    # Documents of other kinds sit beside them and must be ignored.
    (sources_dir / "topics.yaml").write_text(
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: x}\n"
    )
    return sources_dir, sinks_dir


def produce(
    bootstrap_servers: str, topic: str, records: Sequence[Record], partition: int = 0
) -> None:
    """Produce records in order to one partition and wait for the acks."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all"})
    for key, value, headers in records:
        pairs: list[tuple[str, str | bytes | None]] = list(headers)
        producer.produce(topic, key=key, value=value, headers=pairs, partition=partition)
    assert producer.flush(10) == 0, "the broker did not acknowledge every record"


def outbox_event(event_id: str, devices: Sequence[str] = ("dev-1",)) -> dict[str, Any]:
    """The structured CloudEvent Debezium writes for an outbox row (an enable)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/debezium/mysql/cfg",
        "type": "device-enabled",
        "time": "2026-11-21T17:45:01.123Z",
        "datacontenttype": "application/json",
        "iodebeziumop": "c",
        "data": {"devicescode": list(devices), "eventtype": "enabled"},
    }


def debezium_record(event_id: str, key: str = "dev-1") -> Record:
    """What Debezium writes by default: structured JSON, no content-type header."""
    value = json.dumps(outbox_event(event_id)).encode()
    return key.encode(), value, [("id", event_id.encode()), ("Debezium-Table_Name", b"outbox")]
