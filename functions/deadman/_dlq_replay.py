"""Replaying dead letters: to a function URL, or back onto a topic.

See ``_dlq`` for what "as it was" means for each kind of dead letter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import httpx

from ._dlq import KAFKA_EXTENSIONS, WRAPPER_TYPE, DeadLetter, DeadLetterError, ReplayResult

__all__ = ["http_headers", "record_for_topic", "replay_to_topic", "replay_to_url"]

Record = tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]


def http_headers(attributes: Mapping[str, str]) -> dict[str, str]:
    """Binary-mode HTTP headers for CloudEvent attributes."""
    headers = {}
    for name, value in attributes.items():
        header = "Content-Type" if name == "datacontenttype" else f"ce-{name}"
        headers[header] = "".join(
            c if c.isascii() and c.isprintable() else "".join(f"%{b:02X}" for b in c.encode())
            for c in value
        )
    return headers


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


def record_for_topic(letter: DeadLetter) -> Record:
    """Key, value and headers of the record that restores the letter on a topic."""
    attributes = letter.restored_attributes()
    if letter.encoding == "raw":
        return letter.key, letter.data, list(letter.headers.items())
    if attributes.get("type") == WRAPPER_TYPE:
        record_key = attributes.get("key", attributes.get("partitionkey"))
        headers: list[tuple[str, str | bytes | None]] = [
            (name[len("kafkaheader") :], value.encode())
            for name, value in attributes.items()
            if name.startswith("kafkaheader") and len(name) > len("kafkaheader")
        ]
        if "datacontenttype" in attributes:
            headers.append(("content-type", attributes["datacontenttype"].encode()))
        return (record_key.encode() if record_key is not None else None), letter.data, headers
    ce_headers: list[tuple[str, str | bytes | None]] = [
        ("content-type" if name == "datacontenttype" else f"ce_{name}", value.encode())
        for name, value in attributes.items()
        if name not in KAFKA_EXTENSIONS
    ]
    partition_key = attributes.get("partitionkey")
    key = partition_key.encode() if partition_key is not None else letter.key
    return key, letter.data, ce_headers


def replay_to_topic(
    letters: Sequence[DeadLetter], bootstrap_servers: str, topic: str, *, timeout: float = 10.0
) -> list[ReplayResult]:
    """Produce each letter's original record to ``topic`` and wait for the acks."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
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
                topic, key=key, value=value, headers=headers, on_delivery=reporter(index)
            )
        producer.flush(timeout + 1.0)
    except (BufferError, KafkaException) as error:
        raise DeadLetterError(f"cannot produce to {topic}: {error}") from error
    results = []
    for index, letter in enumerate(letters):
        failure = outcomes.get(index, "no acknowledgement in time")
        results.append(ReplayResult(letter, failure is None, failure or f"produced to {topic}"))
    return results
