"""Writing failed events to the dead-letter sink: a KafkaSink's topic, or a URL.

A real KafkaSink receives the event over HTTP and produces it with the record key
taken from the ``partitionkey`` extension (``PartitionKeyExtensionInterceptor``;
no key when the event has none), in the sink's ``contentMode``: ``binary``
(``ce_*`` headers, ``content-type`` = datacontenttype, value = data) or
``structured`` (the default: a JSON envelope, ``content-type:
application/cloudevents+json``). The stand-in produces that record itself.

The events are encoded here rather than with the SDK's ``cloudevents.kafka``
helpers because the SDK invents ``id`` and ``time`` for events that lack them,
which would change the event a replay later restores.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import httpx
from confluent_kafka import KafkaException, Producer

from deadman.binding import STRUCTURED_CONTENT_TYPE

from ._events import Event, http_request
from ._manifests import DeadLetterTarget
from ._retry import Attempt

__all__ = ["DeadLetterWriter", "kafka_binary", "kafka_structured"]


def kafka_binary(event: Event) -> tuple[list[tuple[str, bytes]], bytes | None, bytes | None]:
    """Headers, key and value of a binary-mode Kafka CloudEvent."""
    headers: list[tuple[str, bytes]] = []
    for name, value in event.attributes.items():
        if name == "datacontenttype":
            headers.append(("content-type", value.encode()))
        else:
            headers.append((f"ce_{name}", value.encode()))
    key = event.attributes.get("partitionkey")
    return headers, key.encode() if key is not None else None, event.data


def kafka_structured(event: Event) -> tuple[list[tuple[str, bytes]], bytes | None, bytes]:
    """Headers, key and value of a structured-mode (JSON) Kafka CloudEvent."""
    envelope: dict[str, Any] = dict(event.attributes)
    if event.data is not None:
        content_type = event.attributes.get("datacontenttype", "application/json").lower()
        envelope.update(_embedded_data(event.data, content_type))
    key = event.attributes.get("partitionkey")
    return (
        [("content-type", STRUCTURED_CONTENT_TYPE.encode())],
        key.encode() if key is not None else None,
        json.dumps(envelope, separators=(",", ":")).encode(),
    )


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


class DeadLetterWriter:
    """Sends one failed event to the configured dead-letter sink."""

    def __init__(
        self, target: DeadLetterTarget, bootstrap_servers: str, client: httpx.Client
    ) -> None:
        self.target = target
        self._bootstrap_servers = bootstrap_servers
        self._client = client
        self._producer: Any = None
        self._lock = threading.Lock()

    def send(self, event: Event, timeout: float) -> Attempt:
        """One attempt; a 2xx-like ``Attempt`` once the sink has the event."""
        if self.target.topic is None:
            return self._post(event, timeout)
        return self._produce(event, timeout)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush(5)
                self._producer = None

    def _post(self, event: Event, timeout: float) -> Attempt:
        headers, body = http_request(event)
        try:
            response = self._client.post(
                str(self.target.url), headers=headers, content=body, timeout=timeout
            )
        except httpx.HTTPError as error:
            return Attempt(None, error=f"{type(error).__name__}: {error}")
        return Attempt(response.status_code, response.content, dict(response.headers))

    def _produce(self, event: Event, timeout: float) -> Attempt:
        encode = kafka_binary if self.target.content_mode == "binary" else kafka_structured
        headers, key, value = encode(event)
        done = threading.Event()
        errors: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            errors.append(error)
            done.set()

        with self._lock:
            producer = self._ensure_producer()
            try:
                producer.produce(
                    self.target.topic,
                    key=key,
                    value=value,
                    headers=headers,
                    on_delivery=on_delivery,
                )
            except (BufferError, KafkaException, ValueError) as error:
                return Attempt(None, error=f"produce refused: {error}")
            producer.flush(timeout)
        if not done.is_set():
            return Attempt(None, error="no acknowledgement from Kafka in time")
        if errors[0] is not None:
            return Attempt(None, error=f"Kafka refused the dead letter: {errors[0]}")
        return Attempt(202)

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self._bootstrap_servers,
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 1,
                }
            )
        return self._producer
