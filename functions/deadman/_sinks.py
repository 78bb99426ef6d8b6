"""Where alert CloudEvents go: a Knative sink over HTTP, or Kafka directly.

Both emitters return only once the sink has accepted the event, and raise
``SinkUnavailableError`` when it has not within the deadline: Kapacitor never
retries an alert POST, so the callback must not claim success it does not have.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from cloudevents.kafka import to_binary as to_kafka_binary

from ._config import AlertSettings
from ._exceptions import SinkRejectedError, SinkUnavailableError
from ._logging import get_logger

__all__ = ["AlertSink", "HttpSink", "KafkaSink", "sink_from_settings"]


class AlertSink(Protocol):
    """Delivers one CloudEvent and returns only once the sink accepted it."""

    def send(self, event: CloudEvent) -> None: ...

    def close(self) -> None: ...


class HttpSink:
    """POSTs binary-mode CloudEvents to ``K_SINK`` (a KafkaSink answers 202)."""

    def __init__(
        self, url: str, timeout: float, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport or httpx.HTTPTransport(retries=1),
        )

    def send(self, event: CloudEvent) -> None:
        headers, body = to_binary(event)
        try:
            response = self._client.post(self.url, headers=headers, content=body)
        except httpx.TransportError as error:
            raise SinkUnavailableError(
                f"sink {self.url} did not answer: {type(error).__name__}",
                event_id=event["id"],
                subject=event.get("subject") or "",
            ) from error
        if response.is_success:
            return
        kind = SinkUnavailableError if _retryable(response.status_code) else SinkRejectedError
        raise kind(
            f"sink {self.url} answered {response.status_code}: {response.text[:200]}",
            event_id=event["id"],
            subject=event.get("subject") or "",
        )

    def close(self) -> None:
        self._client.close()


class KafkaSink:
    """Produces binary-mode Kafka CloudEvents (``ce_*`` headers, key = device code).

    The producer is made on first use, in the worker process: gunicorn forks after
    import and a librdkafka client does not survive a fork.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        timeout: float,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            # librdkafka gives up on the record when we do, so a late success
            # cannot follow a 503 we already answered.
            "message.timeout.ms": int(timeout * 1000),
            "linger.ms": 2,
            **(extra_config or {}),
        }
        self._producer: Any = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None

    def send(self, event: CloudEvent) -> None:
        producer = self._ensure_producer()
        message = to_kafka_binary(event)
        delivered = threading.Event()
        outcome: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            outcome.append(error)
            delivered.set()

        try:
            producer.produce(
                self.topic,
                key=message.key,
                value=message.value,
                headers=list(message.headers.items()),
                on_delivery=on_delivery,
            )
        except (BufferError, Exception) as error:
            raise SinkUnavailableError(
                f"Kafka refused the record: {error}",
                event_id=event["id"],
                subject=event.get("subject") or "",
            ) from error
        # A little slack over message.timeout.ms for the delivery report itself.
        if not delivered.wait(self.timeout + 1.0) or outcome[0] is not None:
            reason = outcome[0] if outcome else "no acknowledgement in time"
            raise SinkUnavailableError(
                f"Kafka did not acknowledge the record on {self.topic}: {reason}",
                event_id=event["id"],
                subject=event.get("subject") or "",
            )

    def close(self) -> None:
        self._closed.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        if self._producer is not None:
            self._producer.flush(self.timeout)

    def _ensure_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                from confluent_kafka import Producer

                # librdkafka's own log lines go through ours, as JSON.
                self._producer = Producer(self._config, logger=get_logger("kafka"))
                self._poller = threading.Thread(
                    target=self._poll, name="kafka-delivery-reports", daemon=True
                )
                self._poller.start()
            return self._producer

    def _poll(self) -> None:
        # Delivery reports run on this thread and wake the waiting requests.
        while not self._closed.is_set():
            self._producer.poll(0.05)


def sink_from_settings(settings: AlertSettings) -> AlertSink:
    if settings.k_sink:
        return HttpSink(settings.k_sink, settings.sink_timeout_seconds)
    assert settings.kafka_bootstrap_servers is not None
    return KafkaSink(
        settings.kafka_bootstrap_servers,
        settings.alerts_topic,
        settings.sink_timeout_seconds,
        settings.kafka_producer_config,
    )


def _retryable(status: int) -> bool:
    return status >= 500 or status in (404, 408, 409, 429)
