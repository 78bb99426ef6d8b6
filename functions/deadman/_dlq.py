"""Dead letters: read them from the dead-letter topic, and replay them.

A KafkaSource's delivery spec sends what its function refused for good (or what
still failed after the retries) to a KafkaSink on the dead-letter topic, with
``knativeerrorcode`` (last HTTP status; absent when nothing answered),
``knativeerrordest`` (the function's URL) and ``knativeerrordata`` (base64 of the
first 1024 bytes of the last response body). A KafkaSink writes binary-mode
(``ce_*`` headers) or structured-mode (``content-type:
application/cloudevents+json``) records; both are read here.

Replaying restores the event "as it was":

* to a function URL: the CloudEvent the function first received, in binary mode,
  minus the ``knativeerror*`` extensions (the ``knativekafka*`` ones stay: the
  function got them the first time too);
* to a topic: what the original *record* was. A ``dev.knative.kafka.event``
  wrapper is not the original event but the source's envelope around a record
  that was no CloudEvent (Debezium's structured JSON): its data is the record
  value, its ``key`` extension the record key and its ``kafkaheader*`` extensions
  the record headers (their names as the source lower-cased and stripped them;
  ``content-type`` comes back from ``datacontenttype``). That record is produced
  again, and the KafkaSource wraps it anew with its new partition and offset.
  Any other CloudEvent is produced as a binary-mode Kafka CloudEvent without the
  ``knativeerror*`` and ``knativekafka*`` extensions, which the source adds again.

The records are decoded by hand rather than with ``cloudevents.kafka``: the SDK
invents an ``id`` and a ``time`` for events that lack them, and a replay must not.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import DeadmanError, TopicReadError

__all__ = [
    "DEFAULT_DLQ_TOPIC",
    "ERROR_EXTENSIONS",
    "KAFKA_EXTENSIONS",
    "WRAPPER_TYPE",
    "DeadLetter",
    "DeadLetterError",
    "ReplayResult",
    "decode_record",
    "parse_offsets",
    "read_dead_letters",
    "read_records",
    "select",
]

DEFAULT_DLQ_TOPIC = "kapacitor-alerts-connector.dead-letters-queue"
WRAPPER_TYPE = "dev.knative.kafka.event"
ERROR_EXTENSIONS = ("knativeerrorcode", "knativeerrordest", "knativeerrordata")
KAFKA_EXTENSIONS = ("knativekafkapartition", "knativekafkaoffset", "knativekafkatopic")
STRUCTURED = "application/cloudevents"


class DeadLetterError(DeadmanError, ConnectionError):
    """The dead-letter topic could not be read, or a replay target not reached."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic and the CloudEvent it holds."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    attributes: Mapping[str, str]
    data: bytes | None
    encoding: str  # binary, structured, or raw (not a CloudEvent)
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        return self.attributes.get("knativeerrorcode")

    @property
    def error_dest(self) -> str | None:
        return self.attributes.get("knativeerrordest")

    @property
    def error_data(self) -> str:
        """``knativeerrordata`` decoded to printable text (empty when absent)."""
        raw = self.attributes.get("knativeerrordata", "")
        try:
            decoded = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = raw
        return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in decoded)

    @property
    def reason(self) -> str:
        if self.error_code is None:
            return "no response (refused, reset or timed out)" if self.error_dest else "unknown"
        return f"HTTP {self.error_code}: {self.error_data}".rstrip(": ")

    def restored_attributes(self) -> dict[str, str]:
        """The event's attributes without what the dead-lettering added."""
        return {k: v for k, v in self.attributes.items() if k not in ERROR_EXTENSIONS}

    def as_json(self) -> dict[str, Any]:
        data = self.data or b""
        try:
            data_text: str | None = data.decode()
        except UnicodeDecodeError:
            data_text = None
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "encoding": self.encoding,
            "id": self.attributes.get("id"),
            "type": self.attributes.get("type"),
            "source": self.attributes.get("source"),
            "subject": self.attributes.get("subject"),
            "error_code": self.error_code,
            "error_dest": self.error_dest,
            "error_data": self.error_data,
            "reason": self.reason,
            "attributes": dict(self.attributes),
            "data": data_text,
            "data_base64": None if data_text is not None else base64.b64encode(data).decode(),
        }


@dataclass(frozen=True)
class ReplayResult:
    letter: DeadLetter
    ok: bool
    detail: str


def decode_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
) -> DeadLetter:
    """A dead-letter record, decoded whatever its CloudEvents mode."""
    by_name = {name.lower(): raw or b"" for name, raw in headers}
    content_type = by_name.get("content-type", b"").decode("utf-8", "replace")
    attributes: dict[str, str] = {}
    data = value
    encoding = "raw"
    if content_type.lower().startswith(STRUCTURED):
        try:
            envelope = json.loads(value or b"")
        except ValueError:
            envelope = None
        if isinstance(envelope, dict):
            encoding, data = "structured", None
            for name, item in envelope.items():
                if name == "data_base64":
                    data = base64.b64decode(str(item))
                elif name == "data":
                    data = item.encode() if isinstance(item, str) else _compact(item)
                elif item is not None:
                    attributes[name] = item if isinstance(item, str) else json.dumps(item)
    elif "ce_specversion" in by_name:
        encoding = "binary"
        attributes = {
            name[3:]: raw.decode("utf-8", "replace")
            for name, raw in by_name.items()
            if name.startswith("ce_")
        }
        if content_type:
            attributes["datacontenttype"] = content_type
    return DeadLetter(topic, partition, offset, key, attributes, data, encoding, by_name)


def read_dead_letters(
    bootstrap_servers: str, topic: str = DEFAULT_DLQ_TOPIC, *, timeout: float = 10.0
) -> list[DeadLetter]:
    """Every record of the dead-letter topic, in partition and offset order."""
    letters: list[DeadLetter] = []
    read_records(bootstrap_servers, [topic], letters.append, timeout=timeout)
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


def read_records(
    bootstrap_servers: str,
    topics: Sequence[str],
    on_record: Callable[[DeadLetter], None],
    *,
    timeout: float = 30.0,
    config: Mapping[str, str] | None = None,
) -> list[str]:
    """Hand every record of ``topics`` to ``on_record``; return the truncated partitions.

    Each partition is read from its start to its end, where "end" is librdkafka's
    partition EOF (the high watermark the fetch reports when the reader catches
    up; a watermark asked for up front can lag behind the records). Partitions are
    assigned directly: no group joins, nothing is committed, no offset moves. A
    partition whose low watermark is above 0 lost its oldest records to retention
    ("topic:partition" in the result). ``timeout`` bounds the whole read.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    consumer = Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"deadmanctl-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
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
        consumer.assign(starts)
        deadline = time.monotonic() + timeout
        last_error = ""
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            where = (str(message.topic()), int(message.partition() or 0))
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(where)  # caught up with the end of the partition
                else:
                    last_error = str(error)
                continue
            if where not in pending:
                continue  # written after that partition was read to its end
            on_record(
                decode_record(
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


def parse_offsets(text: str) -> list[tuple[int | None, int]]:
    """``"3,0:7"`` → ``[(None, 3), (0, 7)]``: offsets, optionally ``partition:offset``."""
    wanted: list[tuple[int | None, int]] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        partition, sep, offset = part.rpartition(":")
        try:
            wanted.append((int(partition) if sep else None, int(offset)))
        except ValueError as error:
            raise ValueError(f"not an offset or partition:offset: {part!r}") from error
    return wanted


def select(
    letters: Sequence[DeadLetter],
    *,
    offsets: Sequence[tuple[int | None, int]] | None = None,
    all_letters: bool = False,
    error_code: str | None = None,
) -> list[DeadLetter]:
    """The letters matching the offsets (or all), and the error code when given."""
    if offsets is None and not all_letters and error_code is None:
        raise ValueError("choose dead letters with offsets, all, or an error code")
    chosen = []
    for letter in letters:
        if offsets is not None and not any(
            offset == letter.offset and partition in (None, letter.partition)
            for partition, offset in offsets
        ):
            continue
        if error_code is not None and letter.error_code != error_code:
            continue
        chosen.append(letter)
    return chosen


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _pairs(headers: object) -> list[tuple[str, str | bytes | None]]:
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers) if isinstance(headers, list) else []


def _compact(item: object) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
