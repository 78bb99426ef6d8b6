"""Where alert CloudEvents go: a Knative sink over HTTP, or Kafka directly.

Both emitters return only once the sink has accepted the event, and raise
``SinkUnavailableError`` when it has not within the deadline: Kapacitor never
retries an alert POST, so the callback must not claim success it does not have.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol, Self

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from ._config import AlertSettings
from ._exceptions import SinkRejectedError, SinkUnavailableError
from ._logging import get_logger
from .binding import Headers, binary_record, encode_header_value
from .knative import is_retried

__all__ = ["AlertSink", "HttpSink", "KafkaSink", "sink_from_settings"]

# Key, value and headers of a record to produce.
KafkaRecord = tuple[bytes | None, bytes | None, Headers]


class AlertSink(Protocol):
    """Delivers one CloudEvent and returns only once the sink accepted it."""

    kind: str  # http or kafka: the deadman.sink attribute of the metrics

    def send(self, event: CloudEvent) -> None: ...

    def close(self) -> None: ...


class HttpSink:
    """POSTs binary-mode CloudEvents to ``K_SINK`` (a KafkaSink answers 202)."""

    kind = "http"

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
        # Attribute values such as a device code with letters beyond ASCII (which a
        # task id may hold) cannot go raw into a header: percent-encode them, as the
        # CloudEvents HTTP binding says.
        headers = {
            name: encode_header_value(value) if name.lower().startswith("ce-") else value
            for name, value in headers.items()
        }
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
        kind = SinkUnavailableError if is_retried(response.status_code) else SinkRejectedError
        raise kind(
            f"sink {self.url} answered {response.status_code}: {response.text[:200]}",
            event_id=event["id"],
            subject=event.get("subject") or "",
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class KafkaSink:
    """Produces binary-mode Kafka CloudEvents (``ce_*`` headers, key = device code).

    The producer is made on first use, in the worker process: gunicorn forks after
    import and a librdkafka client does not survive a fork.
    """

    kind = "kafka"

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
            # Back to a restarted broker within a second, not librdkafka's 10 s:
            # every alert refused meanwhile is one Kapacitor will not send again.
            "reconnect.backoff.max.ms": 1000,
            **(extra_config or {}),
        }
        self._producer: Any = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pollers: list[threading.Thread] = []
        self._retired: dict[int, threading.Event] = {}

    def send(self, event: CloudEvent) -> None:
        message = _binary_record(event)
        delivered = threading.Event()
        outcome: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            outcome.append(error)
            delivered.set()

        producer = self._ensure_producer()
        try:
            try:
                self._produce(producer, message, on_delivery)
            except Exception as error:
                if not _is_fatal(error):
                    raise
                # The producer failed for good before this record was queued (an
                # idempotent producer does after, e.g., the broker lost its state):
                # a new producer can send it without any risk of a duplicate.
                self._retire(producer)
                producer = self._ensure_producer()
                self._produce(producer, message, on_delivery)
        except (BufferError, Exception) as error:
            raise SinkUnavailableError(
                f"Kafka refused the record: {error}",
                event_id=event["id"],
                subject=event.get("subject") or "",
            ) from error
        # A little slack over message.timeout.ms for the delivery report itself.
        if not delivered.wait(self.timeout + 1.0) or outcome[0] is not None:
            reason = outcome[0] if outcome else "no acknowledgement in time"
            if _is_fatal(reason):
                # A fatal producer refuses every later record: the next alert gets a new one.
                self._retire(producer)
            raise SinkUnavailableError(
                f"Kafka did not acknowledge the record on {self.topic}: {reason}",
                event_id=event["id"],
                subject=event.get("subject") or "",
            )

    def close(self) -> None:
        self._closed.set()
        for poller in self._pollers:
            poller.join(timeout=5)
        if self._producer is not None:
            self._producer.flush(self.timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _produce(self, producer: Any, message: KafkaRecord, on_delivery: Any) -> None:
        key, value, headers = message
        producer.produce(self.topic, key=key, value=value, headers=headers, on_delivery=on_delivery)

    def _ensure_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                from confluent_kafka import Producer

                failed = threading.Event()

                def on_error(error: Any) -> None:
                    # Without an error_cb a fatal error is raised out of poll().
                    if _is_fatal(error):
                        failed.set()

                # librdkafka's own log lines go through ours, as JSON.
                producer = Producer(
                    {**self._config, "error_cb": on_error}, logger=get_logger("kafka")
                )
                retired = self._retired[id(producer)] = threading.Event()
                poller = threading.Thread(
                    target=self._poll,
                    args=(producer, failed, retired),
                    name="kafka-delivery-reports",
                    daemon=True,
                )
                self._pollers = [p for p in self._pollers if p.is_alive()] + [poller]
                self._producer = producer
                poller.start()
            return self._producer

    def _retire(self, producer: Any) -> None:
        """Stop using ``producer``; its poller still serves its pending reports."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
            retired = self._retired.pop(id(producer), None)
        if retired is not None:
            retired.set()
            get_logger("kafka").warning("Kafka producer failed for good; a new one will be made")

    def _poll(self, producer: Any, failed: threading.Event, retired: threading.Event) -> None:
        # Delivery reports run on this thread and wake the waiting requests. A
        # retired producer is polled until its last report (or the deadline) passed.
        drain_until = 0.0
        while not self._closed.is_set():
            if retired.is_set():
                drain_until = drain_until or time.monotonic() + self.timeout + 2.0
                if len(producer) == 0 or time.monotonic() > drain_until:
                    return
            try:
                producer.poll(0.05)
            except Exception as error:  # noqa: BLE001 - this thread must not die
                get_logger("kafka").error("Kafka delivery report polling failed: %s", error)
                if _is_fatal(error):
                    failed.set()
            if failed.is_set() and not retired.is_set():
                self._retire(producer)


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


def _is_fatal(error: Any) -> bool:
    """Whether a Kafka error (or exception) leaves the producer unusable."""
    from confluent_kafka import KafkaError, KafkaException

    if isinstance(error, KafkaException) and error.args:
        error = error.args[0]
    if not isinstance(error, KafkaError):
        return False
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


def _binary_record(event: CloudEvent) -> KafkaRecord:
    """The binary-mode Kafka record of an emitted event (``deadman.binding``'s
    encoding, as a KafkaSink writes it: the key is ``partitionkey``)."""
    attributes = {name: str(value) for name, value in event.get_attributes().items()}
    data = event.get_data()
    body = data if isinstance(data, bytes) or data is None else _json(data)
    return binary_record(attributes, body)


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
