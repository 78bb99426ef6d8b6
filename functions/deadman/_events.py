"""Reading device lifecycle CloudEvents as a KafkaSource delivers them.

Two deliveries reach a function:

* wrapped: the Kafka record was not a CloudEvent to Knative (Debezium writes the
  structured JSON with no ``content-type`` header), so the KafkaSource sends a
  ``dev.knative.kafka.event`` whose data is the record value, the inner event;
* direct: the record was a CloudEvent (``content-type:
  application/cloudevents+json`` or ``ce_*`` headers) and arrives as itself.

Either way the inner event carries the lifecycle: a ``device-*`` type, or the
legacy form of the original pipeline (any type with ``data.eventtype``), and a
``data.devicescode`` list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._exceptions import MalformedEventError, TooManyDevicesError
from ._lifecycle_types import Action, EventTypes
from ._ordering import BinlogPosition, EventStamp, parse_time
from .binding import KAFKA_WRAPPER_TYPE

__all__ = [
    "Delivery",
    "LifecycleEvent",
    "parse_lifecycle_event",
]


@dataclass(frozen=True)
class Delivery:
    """Where the event came from, for logs: the HTTP CloudEvent and its Kafka record."""

    ce_id: str
    wrapped: bool
    partition: str | None = None
    offset: str | None = None
    key: str | None = None

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"ce_id": self.ce_id, "wrapped": self.wrapped}
        if self.partition is not None:
            fields["kafka_partition"] = self.partition
        if self.offset is not None:
            fields["kafka_offset"] = self.offset
        return fields


@dataclass(frozen=True)
class LifecycleEvent:
    """The inner (Debezium) event, reduced to what the lifecycle rules need.

    ``id`` is for logs only: Debezium's ``id:generate`` ids are shared by the rows
    of one multi-row INSERT, so nothing relies on them being unique.
    """

    id: str
    type: str
    source: str
    time: datetime
    action: Action | None
    devices: tuple[str, ...]
    delivery: Delivery
    position: BinlogPosition | None = None
    # The CloudEvents Distributed Tracing extension of the inner event, if any.
    traceparent: str | None = None

    @property
    def stamp(self) -> EventStamp:
        return EventStamp(self.time, self.position)

    def log_fields(self) -> dict[str, Any]:
        fields = {
            **self.delivery.log_fields(),
            "event_id": self.id,
            "event_type": self.type,
            "event_time": self.time.isoformat(),
        }
        if self.position is not None:
            fields["binlog_position"] = str(self.position)
        return fields


def parse_lifecycle_event(
    attributes: Mapping[str, Any], data: Any, types: EventTypes, max_devices: int
) -> LifecycleEvent:
    """Read the inner lifecycle event from a delivered CloudEvent.

    ``attributes`` and ``data`` are those of the HTTP CloudEvent as
    functions-framework decoded it. Device codes are returned as given, not
    validated: the rules reject bad ones per device so the others still apply.
    """
    delivery = Delivery(ce_id=str(attributes.get("id", "")), wrapped=False)
    inner_attributes, inner_data = attributes, data
    if attributes.get("type") == KAFKA_WRAPPER_TYPE:
        delivery = Delivery(
            ce_id=delivery.ce_id,
            wrapped=True,
            partition=_optional_str(attributes.get("knativekafkapartition")),
            offset=_optional_str(attributes.get("knativekafkaoffset")),
            key=_optional_str(attributes.get("partitionkey", attributes.get("key"))),
        )
        inner_attributes = _decode_wrapped(data)
        inner_data = inner_attributes.get("data")
        if inner_data is None and "data_base64" in inner_attributes:
            raise MalformedEventError("the wrapped event carries binary data_base64, not JSON")

    event_type = inner_attributes.get("type")
    event_id = inner_attributes.get("id")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEventError("the event has no type")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEventError("the event has no id")
    payload = _decode_json(inner_data, "data")
    if not isinstance(payload, dict):
        raise MalformedEventError("the event data is not a JSON object")
    if set(payload) == {"schema", "payload"}:
        raise MalformedEventError(
            "the event data is Kafka Connect's {schema, payload} envelope: set"
            " value.converter.json.schemas.enable=false on the Debezium connector"
        )

    action = types.action_of(event_type) or _legacy_action(payload)
    time_text = inner_attributes.get("time")
    if not isinstance(time_text, str):
        # Without the event's own time a late delivery could undo a newer event.
        raise MalformedEventError("the event has no time; it cannot be ordered")
    try:
        time = parse_time(time_text)
    except ValueError as error:
        raise MalformedEventError(f"the event time is not RFC 3339: {error}") from None

    devices: tuple[str, ...] = ()
    if action is not None:
        devices = _device_codes(payload, max_devices)
    return LifecycleEvent(
        id=event_id,
        type=event_type,
        source=str(inner_attributes.get("source", "")),
        time=time,
        action=action,
        devices=devices,
        delivery=delivery,
        position=BinlogPosition.from_extensions(inner_attributes),
        traceparent=_optional_str(inner_attributes.get("traceparent")),
    )


def _legacy_action(payload: Mapping[str, Any]) -> Action | None:
    eventtype = payload.get("eventtype")
    if isinstance(eventtype, str):
        try:
            return Action(eventtype.lower())
        except ValueError:
            return None
    return None


def _device_codes(payload: Mapping[str, Any], max_devices: int) -> tuple[str, ...]:
    codes = payload.get("devicescode")
    if isinstance(codes, str):
        codes = [codes]
    if not isinstance(codes, list) or not codes:
        raise MalformedEventError("data.devicescode must be a non-empty list of device codes")
    if len(codes) > max_devices:
        raise TooManyDevicesError(len(codes), max_devices)
    if not all(isinstance(code, str) for code in codes):
        raise MalformedEventError("data.devicescode must hold only strings")
    # A device named twice in one event is applied once.
    return tuple(dict.fromkeys(codes))


def _decode_wrapped(data: Any) -> dict[str, Any]:
    inner = _decode_json(data, "wrapped record value")
    if not isinstance(inner, dict) or "specversion" not in inner:
        raise MalformedEventError(
            "the Kafka record is not a structured CloudEvent (no specversion)"
        )
    return inner


def _decode_json(value: Any, what: str) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEventError(f"the {what} is not UTF-8") from None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise MalformedEventError(f"the {what} is not JSON: {error.msg}") from None
    if value is None:
        raise MalformedEventError(f"the {what} is empty")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
