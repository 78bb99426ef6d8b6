"""Kafka records shaped like those Debezium 2.7.3 writes from the outbox table.

The shape follows records produced by Debezium's own transforms and converter
(``../shared/debezium-records``): a structured CloudEvent as the value with no
``content-type`` header (so a KafkaSource wraps it), ``id`` generated from the
binlog position, ``iodebezium*`` extensions typed as Debezium types them (int64
as strings, int32 as numbers), and ``source``/``op``/``transaction``/``id``/
``type`` headers as JSON with their schema envelope. For the demo, tests and
benchmarks: nothing here talks to MySQL.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deadman import rfc3339

__all__ = ["OutboxRecord", "OutboxWriter"]

_STRING = {"type": "string", "optional": True}


@dataclass(frozen=True)
class OutboxRecord:
    """One record: what a producer needs to write it."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, str | bytes | None]]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.value)  # type: ignore[no-any-return]


@dataclass
class OutboxWriter:
    """Builds the records of successive outbox INSERTs, one binlog position each.

    ``topic_of`` maps the outbox ``type`` to its topic: ``prefix + type`` by
    default (the connector's ``route.by.field: type``), or one topic for every
    type when ``single_topic`` is set (routing by ``aggregatetype``).
    """

    prefix: str = "kapacitor-alerts-connector"
    single_topic: str | None = None
    binlog_file: str = "binlog.000003"
    server_id: int = 1
    _positions: itertools.count[int] = field(default_factory=lambda: itertools.count(1547, 311))
    _row_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(42))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def topic_of(self, event_type: str) -> str:
        return self.single_topic or f"{self.prefix}.{event_type}"

    def record(
        self,
        event_type: str,
        devices: list[str],
        *,
        time: datetime | None = None,
        eventtype: str | None = None,
        key: str | None = None,
    ) -> OutboxRecord:
        """The record of one outbox row naming ``devices``."""
        when = (time or datetime.now(UTC)).astimezone(UTC)
        with self._lock:
            position, row_id = next(self._positions), next(self._row_ids)
        millis = int(when.timestamp() * 1000)
        source = {
            "version": "2.7.3.Final",
            "connector": "mysql",
            "name": self.prefix,
            "ts_ms": millis,
            "snapshot": "false",
            "db": "deviceconfig",
            "table": "outbox",
            "server_id": self.server_id,
            "file": self.binlog_file,
            "pos": position,
            "row": 0,
        }
        payload = {"devicescode": devices, "eventtype": eventtype or event_type.split("-", 1)[-1]}
        value = {
            "id": f"name:{self.prefix};file:{self.binlog_file};pos:{position}",
            "source": f"/debezium/mysql/{self.prefix}",
            "specversion": "1.0",
            "type": event_type,
            "time": rfc3339(when, "milliseconds"),
            "datacontenttype": "application/json",
            "iodebeziumop": "c",
            "iodebeziumversion": source["version"],
            "iodebeziumconnector": "mysql",
            "iodebeziumname": self.prefix,
            "iodebeziumtsms": str(millis),
            "iodebeziumsnapshot": "false",
            "iodebeziumdb": source["db"],
            "iodebeziumtable": "outbox",
            "iodebeziumserverid": str(self.server_id),
            "iodebeziumfile": self.binlog_file,
            "iodebeziumpos": str(position),
            "iodebeziumrow": 0,
            "data": payload,
        }
        aggregate = key or str(uuid.uuid4())
        headers: list[tuple[str, str | bytes | None]] = [
            ("source", _enveloped({"type": "struct", "optional": False}, source)),
            ("op", _enveloped({"type": "string", "optional": False}, "c")),
            ("transaction", _enveloped({"type": "struct", "optional": True}, None)),
            # The outbox row's BIGINT id: why the converter's id comes from id:generate.
            ("id", _enveloped({"type": "int64", "optional": False}, row_id)),
            ("type", _enveloped(_STRING, event_type)),
        ]
        return OutboxRecord(
            self.topic_of(event_type),
            aggregate.encode(),
            json.dumps(value, separators=(",", ":")).encode(),
            headers,
        )


def _enveloped(schema: dict[str, Any], payload: Any) -> bytes:
    """A header as Kafka Connect's JsonConverter writes it with schemas enabled."""
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()
