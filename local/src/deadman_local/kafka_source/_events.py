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
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deadman.binding import (
    KAFKA_OFFSET,
    KAFKA_PARTITION,
    KAFKA_TOPIC,
    KAFKA_WRAPPER_TYPE,
    is_structured,
    kafka_header_extension,
)
from deadman.knative import ERROR_CODE, ERROR_DATA, ERROR_DATA_MAX_BYTES, ERROR_DEST

from ._manifests import SourceConfig

__all__ = [
    "ERROR_DATA_MAX_BYTES",
    "WRAPPER_TYPE",
    "Event",
    "KafkaRecord",
    "event_from_record",
    "http_request",
    "with_error_extensions",
]

WRAPPER_TYPE = KAFKA_WRAPPER_TYPE
_REQUIRED = ("id", "source", "type")


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


class _NotACloudEvent(ValueError):
    pass


def event_from_record(
    record: KafkaRecord, source: SourceConfig, *, topic_extension: bool = False
) -> Event:
    """The CloudEvent the dispatcher sends for this record."""
    try:
        event = _as_cloudevent(record)
    except _NotACloudEvent:
        event = _wrap(record, source)
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


def _as_cloudevent(record: KafkaRecord) -> Event:
    headers = {name.lower(): value or b"" for name, value in record.headers}
    content_type = headers.get("content-type", b"").decode("utf-8", "replace")
    if is_structured(content_type):
        return _structured(content_type, record.value)
    if "ce_specversion" in headers:
        return _binary(headers, record.value)
    raise _NotACloudEvent("no CloudEvents encoding")


def _binary(headers: Mapping[str, bytes], value: bytes | None) -> Event:
    attributes = {
        name[3:]: raw.decode("utf-8", "replace")
        for name, raw in headers.items()
        if name.startswith("ce_") and len(name) > 3
    }
    if "content-type" in headers:
        attributes["datacontenttype"] = headers["content-type"].decode("utf-8", "replace")
    _check(attributes)
    return Event(attributes, value)


def _structured(content_type: str, value: bytes | None) -> Event:
    if not content_type.lower().startswith("application/cloudevents+json"):
        raise _NotACloudEvent(f"unsupported event format {content_type}")
    try:
        envelope = json.loads(value or b"")
    except ValueError as error:
        raise _NotACloudEvent("structured event is not JSON") from error
    if not isinstance(envelope, dict):
        raise _NotACloudEvent("structured event is not a JSON object")
    attributes: dict[str, str] = {}
    data: bytes | None = None
    for name, item in envelope.items():
        if name == "data_base64":
            data = base64.b64decode(str(item))
        elif name == "data":
            data = _data_bytes(item, str(envelope.get("datacontenttype") or "application/json"))
        elif item is not None:
            attributes[name.lower()] = _attribute_text(item)
    _check(attributes)
    return Event(attributes, data)


def _data_bytes(item: Any, content_type: str) -> bytes:
    if isinstance(item, str) and "json" not in content_type.lower():
        return item.encode()
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


def _attribute_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return item if isinstance(item, str) else json.dumps(item)


def _check(attributes: Mapping[str, str]) -> None:
    if attributes.get("specversion") != "1.0":
        raise _NotACloudEvent(f"unsupported specversion {attributes.get('specversion')!r}")
    missing = [name for name in _REQUIRED if not attributes.get(name)]
    if missing:
        raise _NotACloudEvent(f"missing {', '.join(missing)}")


def _wrap(record: KafkaRecord, source: SourceConfig) -> Event:
    attributes = {
        "specversion": "1.0",
        "id": f"partition:{record.partition}/offset:{record.offset}",
        "source": f"/apis/v1/namespaces/{source.namespace}/kafkasources/{source.name}"
        f"#{record.topic}",
        "type": WRAPPER_TYPE,
        "subject": f"partition:{record.partition}#{record.offset}",
        "time": _timestamp(record.timestamp_ms),
    }
    if record.key is not None:
        attributes["partitionkey"] = attributes["key"] = _key_text(record.key, source.key_type)
    content_type: str | None = None
    for name, value in record.headers:
        text = (value or b"").decode("utf-8", "replace")
        if name.lower() == "content-type":
            content_type = text.lower()
            continue
        attributes[kafka_header_extension(name)] = text
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return Event(attributes, record.value, wrapped=True)


def _key_text(key: bytes, key_type: str) -> str:
    # Key types follow the KafkaSource key-type label; the non-string decodings
    # are inferred from Kafka's deserializers, not checked against the dispatcher.
    if key_type == "int" and len(key) in (4, 8):
        return str(struct.unpack(">i" if len(key) == 4 else ">q", key)[0])
    if key_type == "float" and len(key) in (4, 8):
        return repr(struct.unpack(">f" if len(key) == 4 else ">d", key)[0])
    if key_type == "byte-array":
        return base64.b64encode(key).decode("ascii")
    return key.decode("utf-8", "replace")


def _timestamp(milliseconds: int) -> str:
    seconds, millis = divmod(milliseconds, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    return f"{text}{fraction}Z"


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
