"""Dead letters: read them from the dead-letter topic, and replay them.

A KafkaSource's delivery spec sends what its function refused for good (or what
still failed after the retries) to a KafkaSink on the dead-letter topic, with
``knativeerrorcode`` (last HTTP status; absent when nothing answered),
``knativeerrordest`` (the function's URL) and ``knativeerrordata`` (base64 of the
first 1024 bytes of the last response body), in binary or structured mode.

Replaying restores the event "as it was":

* to a function URL: the CloudEvent the function first received, in binary mode,
  minus the ``knativeerror*`` extensions (the ``knativekafka*`` ones stay: the
  function got them the first time too);
* to a topic: what the original *record* was. A ``dev.knative.kafka.event``
  wrapper is the source's envelope around a record that was no CloudEvent
  (Debezium's structured JSON): that record (value, key, headers) is produced
  again, and the KafkaSource wraps it anew with its new partition and offset. Any
  other CloudEvent is produced as a binary-mode Kafka CloudEvent without the
  ``knativeerror*`` and ``knativekafka*`` extensions, which the source adds again.

``deadman.binding`` holds the encoding rules both directions follow.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .._exceptions import DeadLetterError
from ..binding import (
    KAFKA_WRAPPER_TYPE,
    Headers,
    binary_record,
    http_headers,
    read_record,
    unwrapped_record,
)
from ..knative import ERROR_EXTENSIONS
from .topics import RawRecord, read_records

__all__ = [
    "DEFAULT_DLQ_TOPIC",
    "DeadLetter",
    "ReplayResult",
    "decode_record",
    "parse_offsets",
    "read_dead_letters",
    "record_for_topic",
    "replay_to_topic",
    "replay_to_url",
    "select",
]

DEFAULT_DLQ_TOPIC = "kapacitor-alerts-connector.dead-letters-queue"


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
    """A record of a topic, read as CloudEvents whatever its mode."""
    pairs = list(headers)
    event = read_record(pairs, value)
    by_name = {name.lower(): raw or b"" for name, raw in pairs}
    return DeadLetter(
        topic, partition, offset, key, event.attributes, event.data, event.encoding, by_name
    )


def decoded(record: RawRecord) -> DeadLetter:
    return decode_record(*record)


def read_dead_letters(
    bootstrap_servers: str,
    topic: str = DEFAULT_DLQ_TOPIC,
    *,
    timeout: float = 10.0,
    config: Mapping[str, str] | None = None,
) -> list[DeadLetter]:
    """Every record of the dead-letter topic, in partition and offset order.

    ``config``: librdkafka settings of the cluster (``security.protocol``,
    ``sasl.*``, ``ssl.*``), from ``KAFKA_CONSUMER_CONFIG``.
    """
    letters: list[DeadLetter] = []
    read_records(
        bootstrap_servers,
        [topic],
        lambda raw: letters.append(decoded(raw)),
        timeout=timeout,
        config=config,
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


def record_for_topic(letter: DeadLetter) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers of the record that restores the letter on a topic."""
    attributes = letter.restored_attributes()
    if letter.encoding == "raw":
        return letter.key, letter.data, list(letter.headers.items())
    if attributes.get("type") == KAFKA_WRAPPER_TYPE:
        return unwrapped_record(attributes, letter.data)
    return binary_record(attributes, letter.data, key=letter.key)


def replay_to_url(
    letters: Sequence[DeadLetter],
    url: str,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> list[ReplayResult]:
    """POST each letter's restored event to a function, binary mode."""
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    results = []
    try:
        for letter in letters:
            if letter.encoding == "raw":
                results.append(ReplayResult(letter, False, "not a CloudEvent; replay to a topic"))
                continue
            try:
                response = http.post(
                    url,
                    headers=http_headers(letter.restored_attributes()),
                    content=letter.data or b"",
                    timeout=timeout,
                )
            except httpx.HTTPError as error:
                results.append(ReplayResult(letter, False, f"{type(error).__name__}: {error}"))
                continue
            detail = f"HTTP {response.status_code}"
            results.append(ReplayResult(letter, response.is_success, detail))
    finally:
        if own:
            http.close()
    return results


def replay_to_topic(
    letters: Sequence[DeadLetter],
    bootstrap_servers: str,
    topic: str,
    *,
    timeout: float = 10.0,
    config: Mapping[str, str] | None = None,
) -> list[ReplayResult]:
    """Produce each letter's original record to ``topic`` and wait for the acks."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": int(timeout * 1000),
        }
    )
    outcomes: dict[int, str | None] = {}
    lock = threading.Lock()

    def reporter(index: int) -> Callable[[object, object], None]:
        def report(error: object, _message: object) -> None:
            with lock:
                outcomes[index] = None if error is None else str(error)

        return report

    try:
        for index, letter in enumerate(letters):
            key, value, headers = record_for_topic(letter)
            producer.produce(
                topic,
                key=key,
                value=value,
                headers=list(headers),
                on_delivery=reporter(index),
            )
        producer.flush(timeout + 1.0)
    except (BufferError, KafkaException) as error:
        raise DeadLetterError(f"cannot produce to {topic}: {error}") from error
    results = []
    for index, letter in enumerate(letters):
        failure = outcomes.get(index, "no acknowledgement in time")
        results.append(ReplayResult(letter, failure is None, failure or f"produced to {topic}"))
    return results
