"""A minimal functions-framework HTTP function: the baseline of ``bench/alert_burst.py``.

It is not part of the project. Per request it reads the body, sends one prebuilt
Kafka record (the record ``alert_callback`` makes of that alert, chosen by the
index in the path: ``POST /<index>``) with the callback's producer settings,
waits for the broker's acknowledgement and answers 200. That is what any Python
HTTP function that publishes an alert to Kafka before answering pays (gunicorn,
Flask, functions-framework, librdkafka), without the callback's own work
(parsing, mapping, encoding, logging).

Environment: ``MINIMAL_RECORDS`` (a JSON list of ``{"key", "value", "headers"}``,
bytes in base64), ``MINIMAL_TOPIC``, ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

from flask import Request

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def _load(path: str) -> list[Record]:
    def raw(text: str) -> bytes:
        return base64.b64decode(text)

    return [
        (raw(r["key"]), raw(r["value"]), [(name, raw(v)) for name, v in r["headers"]])
        for r in json.loads(Path(path).read_text())
    ]


RECORDS = _load(os.environ["MINIMAL_RECORDS"])
TOPIC = os.environ["MINIMAL_TOPIC"]
# The alert callback's KafkaSink settings (functions/deadman/_sinks.py).
CONFIG = {
    "bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
    "enable.idempotence": True,
    "acks": "all",
    "message.timeout.ms": 10_000,
    "linger.ms": 2,
    "reconnect.backoff.max.ms": 1000,
}
_lock = threading.Lock()
_producer: list[Any] = []


def _made_producer() -> Any:
    """Made in the worker on first use (librdkafka does not survive gunicorn's fork),
    with a thread serving delivery reports, as the callback does."""
    with _lock:
        if not _producer:
            from confluent_kafka import Producer

            producer = Producer(CONFIG)

            def poll() -> None:
                while True:
                    producer.poll(0.05)

            threading.Thread(target=poll, name="delivery-reports", daemon=True).start()
            _producer.append(producer)
        return _producer[0]


def minimal_function(request: Request) -> tuple[str, int]:
    request.get_data()
    key, value, headers = RECORDS[int(request.path.strip("/"))]
    delivered = threading.Event()
    outcome: list[Any] = []

    def on_delivery(error: Any, _message: Any) -> None:
        outcome.append(error)
        delivered.set()

    _made_producer().produce(TOPIC, key=key, value=value, headers=headers, on_delivery=on_delivery)
    if not delivered.wait(11.0) or outcome[0] is not None:
        return f"not acknowledged: {outcome}", 503
    return "", 200
