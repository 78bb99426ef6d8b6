"""Parsing lifecycle CloudEvents: wrapped and direct, device-* and legacy types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.http import from_http

from deadman import (
    Action,
    EventTypes,
    InvalidDeviceCodeError,
    MalformedEventError,
    TooManyDevicesError,
    check_device_code,
    parse_lifecycle_event,
)
from tests.support.events import HttpDelivery, inner_event, wrapped_delivery

TYPES = EventTypes()


def parse(delivery: HttpDelivery, max_devices: int = 100) -> Any:
    event = from_http(delivery.headers, delivery.body)
    return parse_lifecycle_event(event.get_attributes(), event.get_data(), TYPES, max_devices)


def test_parse_lifecycle_event_reads_every_delivery_form(deliver_as: Any) -> None:
    inner = inner_event("device-enabled", ["dev-1", "dev-2"])
    event = parse(deliver_as(inner))
    assert event.action is Action.ENABLE
    assert event.devices == ("dev-1", "dev-2")
    assert event.id == inner["id"]
    assert event.time == datetime(2026, 11, 21, 17, 45, 1, 123000, tzinfo=UTC)


def test_parse_lifecycle_event_wrapped_keeps_kafka_position() -> None:
    event = parse(wrapped_delivery(inner_event(), partition=3, offset=42))
    assert event.delivery.wrapped
    assert (event.delivery.partition, event.delivery.offset) == ("3", "42")
    assert event.delivery.ce_id == "partition:3/offset:42"
    assert event.delivery.log_fields()["kafka_offset"] == "42"


@pytest.mark.parametrize(
    ("event_type", "action"),
    [
        ("device-created", Action.CREATE),
        ("device-enabled", Action.ENABLE),
        ("device-disabled", Action.DISABLE),
        ("device-deleted", Action.DELETE),
    ],
)
def test_parse_lifecycle_event_maps_device_types(event_type: str, action: Action) -> None:
    assert parse(wrapped_delivery(inner_event(event_type))).action is action


@pytest.mark.parametrize("eventtype", ["created", "enabled", "disabled", "deleted", "ENABLED"])
def test_parse_lifecycle_event_legacy_eventtype(eventtype: str) -> None:
    inner = inner_event("outbox.event.device", eventtype=eventtype)
    assert parse(wrapped_delivery(inner)).action is Action(eventtype.lower())


def test_parse_lifecycle_event_unknown_type_has_no_action() -> None:
    event = parse(wrapped_delivery(inner_event("something-else")))
    assert event.action is None
    assert event.devices == ()


def test_parse_lifecycle_event_configured_type_names() -> None:
    types = EventTypes(enabled="DeviceEnabled")
    inner = inner_event("DeviceEnabled")
    event = parse_lifecycle_event(inner, inner["data"], types, 10)
    assert event.action is Action.ENABLE


def test_parse_lifecycle_event_deduplicates_devices() -> None:
    event = parse(wrapped_delivery(inner_event(devices=["a", "b", "a"])))
    assert event.devices == ("a", "b")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.pop("time"), "no time"),
        (lambda e: e.update(time="yesterday"), "not RFC 3339"),
        (lambda e: e.update(data={"devicescode": []}), "non-empty list"),
        (lambda e: e.update(data={"devicescode": [1, 2]}), "only strings"),
        (lambda e: e.update(data={"eventtype": "enabled"}), "non-empty list"),
        (lambda e: e.update(data=["dev-1"]), "not a JSON object"),
    ],
)
def test_parse_lifecycle_event_malformed(mutate: Any, reason: str) -> None:
    inner = inner_event()
    mutate(inner)
    with pytest.raises(MalformedEventError, match=reason):
        parse(wrapped_delivery(inner))


def test_parse_lifecycle_event_wrapped_value_not_cloudevent() -> None:
    delivery = wrapped_delivery(inner_event())
    raw = HttpDelivery(delivery.headers, json.dumps({"devicescode": ["x"]}).encode())
    with pytest.raises(MalformedEventError, match="not a structured CloudEvent"):
        parse(raw)


def test_parse_lifecycle_event_wrapped_value_not_json() -> None:
    delivery = wrapped_delivery(inner_event())
    with pytest.raises(MalformedEventError, match="not JSON"):
        parse(HttpDelivery(delivery.headers, b"{oops"))


def test_parse_lifecycle_event_too_many_devices() -> None:
    inner = inner_event(devices=[f"d{i}" for i in range(11)])
    with pytest.raises(TooManyDevicesError, match="11 devices; the limit is 10"):
        parse(wrapped_delivery(inner), max_devices=10)


@pytest.mark.parametrize("code", ["dev-1", "a.b_c-d", "température", "设备42", "X" * 128])
def test_check_device_code_accepts_task_id_characters(code: str) -> None:
    assert check_device_code(code, 128, "_not_fed") == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ('dev"1', "not allowed"),
        ("dev'1", "not allowed"),
        ("dev\\1", "not allowed"),
        ("dev/1", "not allowed"),
        ("dev 1", "not allowed"),
        ("dev:1", "not allowed"),
        ("dev\n1", "not allowed"),
        ("dev\x001", "not allowed"),
        ("dev٣", "not allowed"),  # a non-ASCII digit: Kapacitor's 0-9 is ASCII only
        ("X" * 129, "longer than 128"),
    ],
)
def test_check_device_code_rejects(code: str, reason: str) -> None:
    with pytest.raises(InvalidDeviceCodeError, match=reason):
        check_device_code(code, 128, "_not_fed")


def test_check_device_code_rejects_dot_segments_without_suffix() -> None:
    with pytest.raises(InvalidDeviceCodeError, match="only of dots"):
        check_device_code("..", 128, "")
    assert check_device_code("..", 128, "_not_fed") == ".."
