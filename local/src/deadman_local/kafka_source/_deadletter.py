"""Writing failed events to the dead-letter sink: a KafkaSink's topic, or a URL.

A real KafkaSink receives the event over HTTP and produces it with the record key
taken from the ``partitionkey`` extension (``PartitionKeyExtensionInterceptor``;
no key when the event has none), in the sink's ``contentMode``: ``binary``
(``ce_*`` headers, ``content-type`` = datacontenttype, value = data) or
``structured`` (the default: a JSON envelope, ``content-type:
application/cloudevents+json``). The stand-in produces that record itself.

Both encodings are ``deadman.binding``'s, as every Kafka CloudEvent of the project.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from confluent_kafka import KafkaException, Producer

from deadman.binding import binary_record, structured_record

from ._events import Event, http_request
from ._manifests import DeadLetterTarget
from ._retry import Attempt

__all__ = ["DeadLetterWriter"]


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
        if self.target.content_mode == "binary":
            key, value, headers = binary_record(event.attributes, event.data, keep_position=True)
        else:
            key, value, headers = structured_record(event.attributes, event.data)
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
