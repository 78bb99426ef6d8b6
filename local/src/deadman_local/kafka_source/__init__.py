"""A local stand-in for Knative KafkaSource and its delivery spec.

It reads the KafkaSource manifests of ``kafka-sources/`` (and the KafkaSinks of
``knative/`` for dead-letter topics), consumes their topics with their consumer
groups, turns records into CloudEvents as the Knative Kafka data plane does and
delivers them over HTTP with the manifest's retries, backoff, per-attempt timeout
and dead-letter sink. See ``_events``, ``_retry`` and ``_dispatcher`` for the
data-plane behaviour each one reproduces.
"""

from ._counters import CounterSnapshot
from ._events import Event, KafkaRecord, event_from_record, http_request
from ._manifests import (
    DeadLetterTarget,
    DeliveryConfig,
    ManifestError,
    SourceConfig,
    load_kafka_sinks,
    load_kafka_sources,
    parse_duration,
)
from ._retry import backoff
from ._standin import DEFAULT_SINKS_DIR, DEFAULT_SOURCES_DIR, KafkaSourceStandIn

__all__ = [
    "DEFAULT_SINKS_DIR",
    "DEFAULT_SOURCES_DIR",
    "CounterSnapshot",
    "DeadLetterTarget",
    "DeliveryConfig",
    "Event",
    "KafkaRecord",
    "KafkaSourceStandIn",
    "ManifestError",
    "SourceConfig",
    "backoff",
    "event_from_record",
    "http_request",
    "load_kafka_sinks",
    "load_kafka_sources",
    "parse_duration",
]
