"""The ordered lifecycle layout's manifests (``components/device-lifecycle`` of
``kafka-sources/`` and ``knative/``), and the dead-letter rule every lifecycle
KafkaSource of every layout keeps."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from deadman_local.kustomize import render
from deadman_local.stack import TOPIC_LAYOUTS
from tests.support.paths import ROOT, SINKS_DIR, SOURCES_DIR

ORDERED = "components/device-lifecycle"
KAFKA_ALERTS = "components/kafka-alerts"


def kafka_sources_with(*components: str) -> list[dict[str, Any]]:
    return render(SOURCES_DIR, [SOURCES_DIR / c for c in components])


def knative_with(*components: str) -> list[dict[str, Any]]:
    return render(SINKS_DIR, [SINKS_DIR / c for c in components])


def of_kind(kind: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    [container] = service["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def test_ordered_layout_one_ordered_source_on_one_single_partition_topic() -> None:
    docs = kafka_sources_with(ORDERED)
    [source] = of_kind("KafkaSource", docs)
    spec = source["spec"]
    assert (source["metadata"]["name"], spec["ordering"]) == ("device-lifecycle", "ordered")
    [topic] = spec["topics"]
    topics = {doc["metadata"]["name"]: doc for doc in of_kind("KafkaTopic", docs)}
    # One outbox event may name many devices: only one partition keeps every event
    # of a device in one sequence.
    assert topics[topic]["spec"]["partitions"] == 1
    assert not [name for name in topics if name.startswith("kapacitor-alerts-connector.device-")]
    [connector] = of_kind("KafkaConnector", docs)
    config = connector["spec"]["config"]
    # The EventRouter's default: by aggregatetype to outbox.event.<aggregatetype>.
    assert "transforms.outbox.route.by.field" not in config
    assert topic == "outbox.event.device"


def test_ordered_layout_sink_is_the_device_lifecycle_function() -> None:
    docs = knative_with(ORDERED)
    services = {doc["metadata"]["name"]: doc for doc in of_kind("Service", docs)}
    assert set(services) == {"device-lifecycle", "alert-callback"}
    target = env_of(services["device-lifecycle"])["FUNCTION_TARGET"]
    tree = ast.parse((ROOT / "functions" / "main.py").read_text(encoding="utf-8"))
    assert target in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    [source] = of_kind("KafkaSource", kafka_sources_with(ORDERED))
    assert source["spec"]["sink"]["ref"]["name"] == "device-lifecycle"
    settings = [
        doc for doc in of_kind("ConfigMap", docs) if doc["metadata"]["name"] == "deadman-settings"
    ]
    assert settings
    assert all(doc["data"]["AUDIT_TOPICS"] == source["spec"]["topics"][0] for doc in settings)


def test_ordered_layout_one_pod_for_one_event_at_a_time() -> None:
    [service] = [
        doc
        for doc in of_kind("Service", knative_with(ORDERED))
        if doc["metadata"]["name"] == "device-lifecycle"
    ]
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/max-scale"] == "1"
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"


@pytest.mark.parametrize(
    "components",
    [*(tuple(c) for c in TOPIC_LAYOUTS.values()), (KAFKA_ALERTS,), (ORDERED, KAFKA_ALERTS)],
    ids=lambda components: "+".join(components) or "per-type",
)
def test_every_kafka_source_has_a_dead_letter_sink(components: tuple[str, ...]) -> None:
    """Once its retries are exhausted, the Kafka data plane commits an event's offset
    after the dead-letter attempt, even when that attempt fails or no dead-letter
    sink is set: without one the event is gone. So every source has one."""
    sinks = {doc["metadata"]["name"] for doc in of_kind("KafkaSink", knative_with())}
    sources = of_kind("KafkaSource", kafka_sources_with(*components))
    assert sources
    for source in sources:
        delivery = source["spec"]["delivery"]
        assert delivery["retry"] > 0, source["metadata"]["name"]
        ref = delivery["deadLetterSink"]["ref"]
        assert ref["kind"] == "KafkaSink"
        assert ref["name"] in sinks
