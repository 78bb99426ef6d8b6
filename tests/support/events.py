"""Lifecycle CloudEvents as Debezium writes them, and as HTTP requests reach a function."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_EVENT_ID = "8f5e1c0a-0000-4000-8000-000000000001"


def inner_event(
    event_type: str = "device-enabled",
    devices: list[str] | None = None,
    *,
    time: str = "2026-11-21T17:45:01.123Z",
    event_id: str = DEFAULT_EVENT_ID,
    eventtype: str | None = None,
    binlog: tuple[str, int, int] | None = None,
    server_id: str = "1",
) -> dict[str, Any]:
    """The structured CloudEvent Debezium writes for an outbox row.

    ``binlog`` (file, position, row) adds the extensions Debezium's MySQL source
    gives (on server ``server_id``), typed as Debezium writes them: int64 as
    strings, int32 as numbers.
    """
    data: dict[str, Any] = {"devicescode": devices if devices is not None else ["dev-1"]}
    if eventtype is not None:
        data["eventtype"] = eventtype
    position: dict[str, Any] = {}
    if binlog is not None:
        position = {
            "iodebeziumserverid": server_id,
            "iodebeziumfile": binlog[0],
            "iodebeziumpos": str(binlog[1]),
            "iodebeziumrow": binlog[2],
        }
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/debezium/mysql/cfg",
        "type": event_type,
        "time": time,
        "datacontenttype": "application/json",
        "iodebeziumop": "c",
        "iodebeziumtable": "outbox",
        **position,
        "data": data,
    }


@dataclass(frozen=True)
class HttpDelivery:
    """A CloudEvent as an HTTP request: what a KafkaSource POSTs to a function."""

    headers: dict[str, str]
    body: bytes


def wrapped_delivery(inner: dict[str, Any], partition: int = 0, offset: int = 7) -> HttpDelivery:
    """The record had no content-type header: KafkaSource wraps it, binary mode."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": f"partition:{partition}/offset:{offset}",
        "ce-source": "/apis/v1/namespaces/iot/kafkasources/enable-alert"
        "#kapacitor-alerts-connector.device-enabled",
        "ce-type": "dev.knative.kafka.event",
        "ce-subject": f"partition:{partition}#{offset}",
        "ce-time": "2026-11-21T17:45:02.000Z",
        "ce-knativekafkapartition": str(partition),
        "ce-knativekafkaoffset": str(offset),
        "ce-key": "dev-1",
        "ce-partitionkey": "dev-1",
    }
    return HttpDelivery(headers, json.dumps(inner).encode())


def direct_binary(inner: dict[str, Any]) -> HttpDelivery:
    """The event itself in binary mode: attributes as ``ce-`` headers, data as body."""
    headers = {
        f"ce-{name}": str(value)
        for name, value in inner.items()
        if name not in ("data", "datacontenttype")
    }
    headers["Content-Type"] = inner.get("datacontenttype", "application/json")
    return HttpDelivery(headers, json.dumps(inner["data"]).encode())


def direct_structured(inner: dict[str, Any]) -> HttpDelivery:
    """The event itself in structured mode: the whole CloudEvent as the JSON body."""
    return HttpDelivery(
        {"Content-Type": "application/cloudevents+json"}, json.dumps(inner).encode()
    )


def wrapped_structured(inner: dict[str, Any]) -> HttpDelivery:
    """The same wrapper as ``wrapped_delivery``, sent in structured mode."""
    binary = wrapped_delivery(inner)
    wrapper: dict[str, Any] = {
        name[3:]: value for name, value in binary.headers.items() if name.startswith("ce-")
    }
    wrapper["datacontenttype"] = "application/json"
    wrapper["data"] = inner
    return HttpDelivery(
        {"Content-Type": "application/cloudevents+json"}, json.dumps(wrapper).encode()
    )


Deliver = Callable[[dict[str, Any]], HttpDelivery]

# Each way a lifecycle event reaches a function: wrapped or direct, binary or structured.
DELIVERIES: dict[str, Deliver] = {
    "wrapped-binary": wrapped_delivery,
    "wrapped-structured": wrapped_structured,
    "direct-binary": direct_binary,
    "direct-structured": direct_structured,
}
