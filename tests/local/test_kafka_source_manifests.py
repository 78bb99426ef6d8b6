"""The stand-in's reading of KafkaSource/KafkaSink manifests, durations and backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from deadman_local.kafka_source import (
    DeliveryConfig,
    ManifestError,
    backoff,
    load_kafka_sources,
    parse_duration,
)
from tests.support.kafka_source import kafka_sink, kafka_source, write_manifests
from tests.support.paths import SINKS_DIR, SOURCES_DIR

SERVICES = {"fn": "http://127.0.0.1:9999"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1S", 1.0),
        ("PT0.5S", 0.5),
        ("PT10M", 600.0),
        ("PT1H30M", 5400.0),
        ("P1DT2H", 93600.0),
        ("P1W", 604800.0),
        ("pt0,25s", 0.25),
        ("PT600S", 600.0),
    ],
)
def test_parse_duration_iso8601(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1s", "P", "PT", "P1M", "P1Y", "PTS", "10"])
def test_parse_duration_rejects_invalid_or_ambiguous(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_duration(text)


def test_backoff_exponential_doubles_from_first_retry() -> None:
    delivery = DeliveryConfig(retry=4, backoff_policy="exponential", backoff_delay=1.0)
    assert [backoff(delivery, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]


def test_backoff_linear_and_scale() -> None:
    delivery = DeliveryConfig(retry=3, backoff_policy="linear", backoff_delay=0.5)
    assert [backoff(delivery, n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert backoff(delivery, 2, scale=0.1) == pytest.approx(0.1)
    assert backoff(DeliveryConfig(retry=3), 3) == 0.0


def test_load_kafka_sources_resolves_sinks_and_dead_letters(tmp_path: Path) -> None:
    source = kafka_source(
        "enable-alert",
        "t-enable",
        path="/enable",
        retry=3,
        backoff_policy="exponential",
        backoff_delay="PT0.5S",
        timeout="PT10M",
    )
    sources_dir, sinks_dir = write_manifests(
        tmp_path, [source], [kafka_sink("dead-letters", "dlq-topic", content_mode=None)]
    )
    [config] = load_kafka_sources(sources_dir, sinks_dir, SERVICES)
    assert config.name == "enable-alert"
    assert config.namespace == "deadman"
    assert config.topics == ("t-enable",)
    assert config.sink_url == "http://127.0.0.1:9999/enable"
    assert config.initial_offset == "earliest"
    assert config.ordering == "ordered"
    assert config.delivery.retry == 3
    assert config.delivery.backoff_policy == "exponential"
    assert config.delivery.backoff_delay == 0.5
    assert config.delivery.timeout == 600.0
    assert config.delivery.dead_letter is not None
    assert config.delivery.dead_letter.topic == "dlq-topic"
    # A KafkaSink without contentMode is structured, as the webhook defaults it.
    assert config.delivery.dead_letter.content_mode == "structured"


def test_load_kafka_sources_applies_webhook_defaults(tmp_path: Path) -> None:
    sources_dir = tmp_path / "kafka-sources"
    sources_dir.mkdir()
    (sources_dir / "s.yml").write_text(
        "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\n"
        "metadata: {name: bare}\n"
        "spec: {topics: [a, b], sink: {uri: 'http://127.0.0.1:1/x'}}\n"
    )
    [config] = load_kafka_sources(sources_dir)
    assert config.namespace == "default"
    assert config.initial_offset == "latest"
    assert config.ordering == "ordered"
    assert config.consumer_group.startswith("knative-kafka-source-")
    assert config.delivery == DeliveryConfig()
    assert config.delivery.timeout == 600.0


def test_load_kafka_sources_unknown_service_names_the_fix(tmp_path: Path) -> None:
    sources_dir, sinks_dir = write_manifests(
        tmp_path, [kafka_source("s", "t")], [kafka_sink("dead-letters", "dlq")]
    )
    with pytest.raises(ManifestError, match="services mapping"):
        load_kafka_sources(sources_dir, sinks_dir, {})


def test_load_kafka_sources_missing_kafka_sink_is_an_error(tmp_path: Path) -> None:
    sources_dir, sinks_dir = write_manifests(tmp_path, [kafka_source("s", "t")], [])
    with pytest.raises(ManifestError, match="KafkaSink 'dead-letters'"):
        load_kafka_sources(sources_dir, sinks_dir, SERVICES)


def test_load_kafka_sources_project_manifests_have_retries_and_dlq() -> None:
    """The real kafka-sources/ manifests each yield retries and a dead-letter topic."""
    if not list(SOURCES_DIR.glob("*.yaml")):
        pytest.skip(f"{SOURCES_DIR} holds no manifests yet")
    names = ["create-alert", "enable-alert", "disable-alert", "delete-alert"]
    services = {name: f"http://127.0.0.1:{8081 + i}" for i, name in enumerate(names)}
    configs = load_kafka_sources(SOURCES_DIR, SINKS_DIR, services)
    if not configs:
        pytest.skip(f"{SOURCES_DIR} holds no KafkaSource documents yet")
    for config in configs:
        assert config.delivery.retry > 0, config.name
        assert config.delivery.dead_letter is not None, config.name
        assert config.delivery.dead_letter.topic, config.name
