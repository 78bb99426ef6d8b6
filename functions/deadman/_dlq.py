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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import DeadmanError
from ._topics import read_records

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
    read_records(
        bootstrap_servers, [topic], lambda raw: letters.append(decode_record(*raw)), timeout=timeout
    )
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


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


def _compact(item: object) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
