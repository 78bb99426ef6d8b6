"""Offsets are committed only after an outcome: a stop mid-retry redelivers."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.kafka_source import KafkaSourceStandIn, load_kafka_sources
from tests.support.kafka_source import (
    debezium_record,
    kafka_sink,
    kafka_source,
    produce,
    unique,
    write_manifests,
)
from tests.support.receiver import serve_scripted

pytestmark = pytest.mark.kafka


def committed_offset(bootstrap_servers: str, group: str, topic: str) -> int:
    """The group's committed offset of partition 0 (negative: nothing committed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group})
    try:
        [partition] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(partition.offset)
    finally:
        consumer.close()


def test_kafka_source_stopped_mid_retry_redelivers_on_restart(
    kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic, dlq, group = unique("t-restart"), unique("dlq-restart"), unique("group-restart")
    create_topics(kafka_broker.bootstrap_servers, [topic, dlq])
    source = kafka_source(
        "restart",
        topic,
        path="/restart",
        retry=5,
        backoff_policy="linear",
        backoff_delay="PT0.05S",
        consumer_group=group,
    )
    sources_dir, sinks_dir = write_manifests(tmp_path, [source], [kafka_sink("dead-letters", dlq)])

    with serve_scripted() as receiver:
        configs = load_kafka_sources(sources_dir, sinks_dir, {"fn": receiver.url})
        produce(
            kafka_broker.bootstrap_servers,
            topic,
            [debezium_record("e-restart"), debezium_record("e-after")],
        )
        receiver.script("/restart", [], default=503)
        # A 30 s backoff: the stop lands while the first stand-in waits to retry.
        first = KafkaSourceStandIn(
            kafka_broker.bootstrap_servers,
            sources=configs,
            delivery_override={"backoff_delay": 30.0},
        ).start()
        try:
            first.wait_until(lambda c: c.retries >= 1, timeout=20)
            attempts = receiver.wait_for("/restart", 1)
        finally:
            first.stop()
        assert {r.ce("id") for r in attempts} == {"partition:0/offset:0"}
        assert first.counters.outcomes == 0
        assert first.counters.committed == 0
        assert committed_offset(kafka_broker.bootstrap_servers, group, topic) < 0

        receiver.script("/restart", [], default=200)
        with KafkaSourceStandIn(kafka_broker.bootstrap_servers, sources=configs) as second:
            second.wait_until(lambda c: c.delivered >= 2 and c.committed >= 2, timeout=20)
        redelivered = receiver.requests("/restart")[len(attempts) :]
        assert [r.ce("id") for r in redelivered] == ["partition:0/offset:0", "partition:0/offset:1"]
        assert [r.ce("kafkaheaderid") for r in redelivered] == ["e-restart", "e-after"]
        assert committed_offset(kafka_broker.bootstrap_servers, group, topic) == 2
