"""Reading whole Kafka topics for the operator tools (dead letters, drift audit).

Each partition is read from its start to its end, where "end" is librdkafka's
partition EOF: the high watermark the fetch reports when the reader catches up (a
watermark asked for up front can lag behind records produced in one batch).
Partitions are assigned directly: no consumer group joins, nothing is committed,
and no KafkaSource's offset moves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .._exceptions import TopicReadError

__all__ = ["RawRecord", "read_records"]


class RawRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def read_records(
    bootstrap_servers: str,
    topics: Sequence[str],
    on_record: Callable[[RawRecord], None],
    *,
    timeout: float = 30.0,
    config: Mapping[str, str] | None = None,
    since_ms: int | None = None,
) -> list[str]:
    """Hand every record of ``topics`` to ``on_record``; return the truncated partitions.

    With ``since_ms`` (epoch milliseconds) each partition is read from its first
    record of that time or later (Kafka's time index), not from its start.

    Each partition is read from its start to its end, where "end" is librdkafka's
    partition EOF (the high watermark the fetch reports when the reader catches
    up; a watermark asked for up front can lag behind the records). Partitions are
    assigned directly: no group joins, nothing is committed, no offset moves. A
    partition whose low watermark is above 0 lost its oldest records to retention
    ("topic:partition" in the result). ``timeout`` bounds the whole read.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    try:
        consumer = Consumer(
            {
                **(config or {}),
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"deadmanctl-{os.getpid()}-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
    except KafkaException as error:
        # librdkafka refuses a setting at once, naming it (KAFKA_CONSUMER_CONFIG).
        raise TopicReadError(f"cannot make a Kafka consumer: {error}") from error
    truncated: list[str] = []
    try:
        pending: set[tuple[str, int]] = set()
        starts = []
        for topic in topics:
            described = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                why = described.error if described is not None else "no metadata"
                raise TopicReadError(f"topic {topic} is not readable on {bootstrap_servers}: {why}")
            for number in sorted(described.partitions):
                low, _ = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout)
                if low > 0:
                    truncated.append(f"{topic}:{number}")
                pending.add((topic, number))
                starts.append(TopicPartition(topic, number, low))
        if since_ms is not None:
            starts = _from_time(consumer, starts, since_ms, pending, timeout)
        consumer.assign(starts)
        deadline = time.monotonic() + timeout
        last_error = ""
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            where = (str(message.topic()), int(message.partition() or 0))
            problem = message.error()
            if problem is not None:
                if problem.code() == KafkaError._PARTITION_EOF:
                    pending.discard(where)  # caught up with the end of the partition
                else:
                    last_error = str(problem)
                continue
            if where not in pending:
                continue  # written after that partition was read to its end
            on_record(
                RawRecord(
                    where[0],
                    where[1],
                    int(message.offset() or 0),
                    _bytes(message.key()),
                    _bytes(message.value()),
                    [(str(name), _bytes(raw)) for name, raw in _pairs(message.headers())],
                )
            )
        if pending:
            unread = ", ".join(f"{topic}:{number}" for topic, number in sorted(pending))
            raise TopicReadError(
                f"timed out reading partitions {unread}" + (f": {last_error}" if last_error else "")
            )
    except KafkaException as error:
        raise TopicReadError(f"cannot read the topics on {bootstrap_servers}: {error}") from error
    finally:
        consumer.close()
    return truncated


def _from_time(
    consumer: Any,
    starts: list[Any],
    since_ms: int,
    pending: set[tuple[str, int]],
    timeout: float,
) -> list[Any]:
    """Start offsets at ``since_ms``; partitions with nothing that recent are done."""
    from confluent_kafka import TopicPartition

    asked = [TopicPartition(tp.topic, tp.partition, since_ms) for tp in starts]
    found = []
    for tp in consumer.offsets_for_times(asked, timeout=timeout):
        if tp.offset < 0:  # no record at or after that time
            pending.discard((tp.topic, tp.partition))
        else:
            found.append(tp)
    return found


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _pairs(headers: object) -> list[tuple[str, str | bytes | None]]:
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers) if isinstance(headers, list) else []
