"""CloudEvents in Kafka records, and KafkaSource wrapping (see the package docstring)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ._http import STRUCTURED_CONTENT_TYPE, is_structured

__all__ = [
    "KAFKA_HEADER_PREFIX",
    "KAFKA_OFFSET",
    "KAFKA_PARTITION",
    "KAFKA_POSITION_EXTENSIONS",
    "KAFKA_TOPIC",
    "KAFKA_WRAPPER_TYPE",
    "Headers",
    "RecordEvent",
    "binary_record",
    "kafka_header_extension",
    "kafka_source_uri",
    "read_record",
    "record_key_text",
    "structured_record",
    "unwrapped_record",
    "wrapped_attributes",
]

KAFKA_WRAPPER_TYPE = "dev.knative.kafka.event"
KAFKA_HEADER_PREFIX = "kafkaheader"
KAFKA_PARTITION = "knativekafkapartition"
KAFKA_OFFSET = "knativekafkaoffset"
KAFKA_TOPIC = "knativekafkatopic"
KAFKA_POSITION_EXTENSIONS = (KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_TOPIC)

Headers = list[tuple[str, bytes]]
Encoding = Literal["binary", "structured", "raw"]


def kafka_header_extension(header: str) -> str:
    """The extension a KafkaSource gives a record header of this name."""
    lowered = header.lower()
    return KAFKA_HEADER_PREFIX + "".join(c for c in lowered if "a" <= c <= "z" or "0" <= c <= "9")


@dataclass(frozen=True)
class RecordEvent:
    """A Kafka record read as CloudEvents: its mode, attributes (strings) and data.

    ``raw`` records are no CloudEvent to Knative: no attributes, the value as data.
    """

    encoding: Encoding
    attributes: Mapping[str, str]
    data: bytes | None


def read_record(headers: Iterable[tuple[str, bytes | None]], value: bytes | None) -> RecordEvent:
    """A record's CloudEvent as a KafkaSource reads it, whatever its mode; ``raw``
    when it is none, or not a valid one (version 1.0 with id, source and type):
    the source then wraps it."""
    by_name = {name.lower(): raw or b"" for name, raw in headers}
    content_type = by_name.get("content-type", b"").decode("utf-8", "replace")
    if is_structured(content_type):
        event = _structured(content_type, value)
    elif "ce_specversion" in by_name:
        attributes = {
            name[3:]: raw.decode("utf-8", "replace")
            for name, raw in by_name.items()
            if name.startswith("ce_") and len(name) > 3
        }
        if content_type:
            attributes["datacontenttype"] = content_type
        event = RecordEvent("binary", attributes, value)
    else:
        event = None
    if event is None or not _valid(event.attributes):
        return RecordEvent("raw", {}, value)
    return event


def kafka_source_uri(namespace: str, name: str, topic: str) -> str:
    """The ``source`` a KafkaSource gives the events it wraps."""
    return f"/apis/v1/namespaces/{namespace}/kafkasources/{name}#{topic}"


def record_key_text(key: bytes, key_type: str = "string") -> str:
    """A record key as the ``key`` extension, per the KafkaSource ``key-type`` label.

    The non-string decodings follow Kafka's deserializers (not checked against the
    data plane).
    """
    if key_type == "int" and len(key) in (4, 8):
        return str(struct.unpack(">i" if len(key) == 4 else ">q", key)[0])
    if key_type == "float" and len(key) in (4, 8):
        return repr(struct.unpack(">f" if len(key) == 4 else ">d", key)[0])
    if key_type == "byte-array":
        return base64.b64encode(key).decode("ascii")
    return key.decode("utf-8", "replace")


def wrapped_attributes(
    partition: int,
    offset: int,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    *,
    source: str = "",
    timestamp_ms: int | None = None,
    key_type: str = "string",
) -> dict[str, str]:
    """The attributes a KafkaSource gives a record that is no CloudEvent: ``source``
    (see ``kafka_source_uri``) and the record time (``timestamp_ms``) when given."""
    attributes = {
        "specversion": "1.0",
        "type": KAFKA_WRAPPER_TYPE,
        "id": f"partition:{partition}/offset:{offset}",
        KAFKA_PARTITION: str(partition),
        KAFKA_OFFSET: str(offset),
    }
    if source:
        attributes["source"] = source
        attributes["subject"] = f"partition:{partition}#{offset}"
    if timestamp_ms is not None:
        attributes["time"] = _timestamp(timestamp_ms)
    if key is not None:
        attributes["key"] = attributes["partitionkey"] = record_key_text(key, key_type)
    for name, raw in headers:
        text = (raw or b"").decode("utf-8", "replace")
        if name.lower() == "content-type":
            attributes["datacontenttype"] = text.lower()
        else:
            attributes[kafka_header_extension(name)] = text
    return attributes


def unwrapped_record(
    attributes: Mapping[str, str], data: bytes | None
) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers of the record a wrapped event was made from.

    Header names come back as the source left them (lower-cased, stripped):
    nothing reads the originals' spelling.
    """
    key = attributes.get("key", attributes.get("partitionkey"))
    headers: Headers = [
        (name[len(KAFKA_HEADER_PREFIX) :], value.encode())
        for name, value in attributes.items()
        if name.startswith(KAFKA_HEADER_PREFIX) and len(name) > len(KAFKA_HEADER_PREFIX)
    ]
    if "datacontenttype" in attributes:
        headers.append(("content-type", attributes["datacontenttype"].encode()))
    return (key.encode() if key is not None else None), data, headers


def binary_record(
    attributes: Mapping[str, str],
    data: bytes | None,
    *,
    key: bytes | None = None,
    keep_position: bool = False,
) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers of a binary-mode Kafka record for a CloudEvent, as a
    KafkaSink writes it: the key is ``partitionkey`` when there is one, else
    ``key``. The position extensions a KafkaSource adds are left out unless
    ``keep_position``: a replayed event gets them anew."""
    headers: Headers = [
        ("content-type" if name == "datacontenttype" else f"ce_{name}", value.encode())
        for name, value in attributes.items()
        if keep_position or name not in KAFKA_POSITION_EXTENSIONS
    ]
    partition_key = attributes.get("partitionkey")
    return (partition_key.encode() if partition_key is not None else key), data, headers


def structured_record(
    attributes: Mapping[str, str], data: bytes | None
) -> tuple[bytes | None, bytes, Headers]:
    """Key, value and headers of a structured-mode (JSON envelope) Kafka record."""
    envelope: dict[str, Any] = dict(attributes)
    if data is not None:
        content_type = attributes.get("datacontenttype", "application/json").lower()
        envelope.update(_embedded_data(data, content_type))
    partition_key = attributes.get("partitionkey")
    return (
        partition_key.encode() if partition_key is not None else None,
        json.dumps(envelope, separators=(",", ":")).encode(),
        [("content-type", STRUCTURED_CONTENT_TYPE.encode())],
    )


def _structured(content_type: str, value: bytes | None) -> RecordEvent | None:
    if not content_type.lower().startswith(STRUCTURED_CONTENT_TYPE):
        return None  # another event format: not one Knative reads
    try:
        envelope = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(envelope, dict):
        return None
    attributes: dict[str, str] = {}
    data: bytes | None = None
    for name, item in envelope.items():
        if name == "data_base64":
            data = base64.b64decode(str(item))
        elif name == "data":
            data = _data_bytes(item, str(envelope.get("datacontenttype") or "application/json"))
        elif item is not None:
            attributes[name.lower()] = _attribute_text(item)
    return RecordEvent("structured", attributes, data)


def _valid(attributes: Mapping[str, str]) -> bool:
    return attributes.get("specversion") == "1.0" and all(
        attributes.get(name) for name in ("id", "source", "type")
    )


def _data_bytes(item: Any, content_type: str) -> bytes:
    if isinstance(item, str) and "json" not in content_type.lower():
        return item.encode()
    return _compact(item)


def _attribute_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return item if isinstance(item, str) else json.dumps(item)


def _embedded_data(data: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        try:
            return {"data": json.loads(data)}
        except ValueError:
            pass
    if content_type.startswith("text/"):
        try:
            return {"data": data.decode()}
        except UnicodeDecodeError:
            pass
    return {"data_base64": base64.b64encode(data).decode("ascii")}


def _timestamp(milliseconds: int) -> str:
    seconds, millis = divmod(milliseconds, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    return f"{text}{fraction}Z"


def _compact(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
