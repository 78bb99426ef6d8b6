"""Kafka records as the Knative Kafka data plane turns them into CloudEvents.

What the dispatcher does (eventing-kafka-broker ``data-plane/dispatcher``):

* a record is a CloudEvent when its ``content-type`` header starts with
  ``application/cloudevents`` (structured) or it has a ``ce_specversion`` header
  (binary); otherwise, or when that CloudEvent does not parse, it is wrapped
  (``InvalidCloudEventInterceptor``): type ``dev.knative.kafka.event``, id
  ``partition:P/offset:O``, source ``/apis/v1/namespaces/NS/kafkasources/NAME#TOPIC``,
  subject ``partition:P#O``, time = record timestamp, ``key`` and ``partitionkey`` =
  record key, one ``kafkaheader<name>`` per header (name lower-cased, only
  ``[a-z0-9]`` kept) except ``content-type``, whose value (lower-cased) becomes
  ``datacontenttype``; data = the record value;
* every event then gets ``knativekafkapartition`` and ``knativekafkaoffset``
  (``CloudEventOverridesMutator``; newer releases add ``knativekafkatopic``) and the
  source's ``ceOverrides`` extensions;
* it is POSTed in binary mode (``ce-*`` headers, Content-Type = datacontenttype,
  none when unset) with ``Prefer: reply``.

The names and rules the product relies on too (the wrapper type, extension names,
what counts as structured) come from ``deadman.binding``; how the data plane
writes header values is its own (see ``_header_value``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from deadman.binding import (
    KAFKA_OFFSET,
    KAFKA_PARTITION,
    KAFKA_TOPIC,
    kafka_source_uri,
    read_record,
    wrapped_attributes,
)
from deadman.knative import ERROR_CODE, ERROR_DATA, ERROR_DATA_MAX_BYTES, ERROR_DEST

from ._manifests import SourceConfig

__all__ = [
    "Event",
    "KafkaRecord",
    "event_from_record",
    "http_request",
    "with_error_extensions",
]


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True)
class Event:
    """A CloudEvent as the data plane carries it: string attributes, raw data."""

    attributes: Mapping[str, str]
    data: bytes | None = None
    wrapped: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.attributes.get("id", "")

    @property
    def type(self) -> str:
        return self.attributes.get("type", "")


def event_from_record(
    record: KafkaRecord, source: SourceConfig, *, topic_extension: bool = False
) -> Event:
    """The CloudEvent the dispatcher sends for this record (``deadman.binding``'s
    reading: the record's own event, or the record wrapped)."""
    read = read_record(record.headers, record.value)
    if read.encoding == "raw":
        uri = kafka_source_uri(source.namespace, source.name, record.topic)
        attributes = wrapped_attributes(
            record.partition,
            record.offset,
            record.key,
            record.headers,
            source=uri,
            timestamp_ms=record.timestamp_ms,
            key_type=source.key_type,
        )
        event = Event(attributes, record.value, wrapped=True)
    else:
        event = Event(dict(read.attributes), read.data)
    attributes = dict(event.attributes)
    attributes[KAFKA_PARTITION] = str(record.partition)
    attributes[KAFKA_OFFSET] = str(record.offset)
    if topic_extension:
        attributes[KAFKA_TOPIC] = record.topic
    attributes.update(source.ce_overrides)
    return Event(attributes, event.data, event.wrapped)


def http_request(event: Event) -> tuple[dict[str, str], bytes]:
    """Binary-mode HTTP headers and body for an event."""
    headers = {"Prefer": "reply"}
    for name, value in event.attributes.items():
        if name == "datacontenttype":
            headers["Content-Type"] = _header_value(value)
        else:
            headers[f"ce-{name}"] = _header_value(value)
    return headers, event.data or b""


def with_error_extensions(
    event: Event,
    destination: str,
    status: int | None,
    body: bytes | None,
    response_headers: Mapping[str, str] | None = None,
) -> Event:
    """The event as the dead-letter sink gets it (``RecordDispatcherImpl.errorTransform``).

    ``knativeerrordest`` always; with a response also ``knativeerrorcode`` (the
    status), ``kne-*`` response headers as extensions (prefix dropped, lower-cased)
    and ``knativeerrordata`` = base64 of the first 1024 bytes of the body. Without
    a response (refused, timeout) only the destination is added.
    """
    attributes = dict(event.attributes)
    attributes[ERROR_DEST] = destination
    if status is not None:
        attributes[ERROR_CODE] = str(status)
        for name, value in (response_headers or {}).items():
            if name.lower().startswith("kne-") and len(name) > 4:
                attributes[name[4:].lower()] = value
        data = (body or b"")[:ERROR_DATA_MAX_BYTES]
        attributes[ERROR_DATA] = base64.b64encode(data).decode("ascii")
    return Event(attributes, event.data, event.wrapped)


def _header_value(value: str) -> str:
    # The data plane (CloudEvents Java SDK) writes values as they are, without the
    # percent-encoding of HTTP binding 3.1.3.2 (cloudevents/sdk-java#748). Raw
    # bytes beyond ASCII cannot go through httpx, so those alone are escaped here.
    if value.isascii() and value.isprintable():
        return value
    return "".join(
        char
        if char.isascii() and char.isprintable()
        else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in value
    )
