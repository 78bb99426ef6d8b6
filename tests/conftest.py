"""Shared fixtures: canonical lifecycle events (wrapped and direct), the broker."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deadman_local.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CAPTURES = SHARED / "kapacitor-captures"


def shared_path(*parts: str) -> Path:
    """A file under ../shared; fails under CI when missing, skips elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI needs ../shared beside the clone")
        pytest.skip(f"{path} is not available on this machine")
    return path


def captured_alerts() -> list[dict[str, Any]]:
    posts = json.loads(shared_path("kapacitor-captures", "deadman-alert-posts.json").read_text())
    return [post["body"] for post in posts]


def inner_event(
    event_type: str = "device-enabled",
    devices: list[str] | None = None,
    *,
    time: str = "2026-11-21T17:45:01.123Z",
    event_id: str = "8f5e1c0a-0000-4000-8000-000000000001",
    eventtype: str | None = None,
    binlog: tuple[str, int, int] | None = None,
) -> dict[str, Any]:
    """The structured CloudEvent Debezium writes for an outbox row.

    ``binlog`` (file, position, row) adds the extensions Debezium's MySQL source
    gives, typed as Debezium writes them: int64 as strings, int32 as numbers.
    """
    data: dict[str, Any] = {"devicescode": devices if devices is not None else ["dev-1"]}
    if eventtype is not None:
        data["eventtype"] = eventtype
    position: dict[str, Any] = {}
    if binlog is not None:
        position = {
            "iodebeziumserverid": "1",
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
    headers = {
        f"ce-{name}": str(value)
        for name, value in inner.items()
        if name not in ("data", "datacontenttype")
    }
    headers["Content-Type"] = inner.get("datacontenttype", "application/json")
    return HttpDelivery(headers, json.dumps(inner["data"]).encode())


def direct_structured(inner: dict[str, Any]) -> HttpDelivery:
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


DELIVERIES: dict[str, Callable[[dict[str, Any]], HttpDelivery]] = {
    "wrapped-binary": wrapped_delivery,
    "wrapped-structured": wrapped_structured,
    "direct-binary": direct_binary,
    "direct-structured": direct_structured,
}


@pytest.fixture(params=sorted(DELIVERIES))
def deliver_as(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], HttpDelivery]:
    """Each way a lifecycle event reaches a function: wrapped or direct, binary or structured."""
    return DELIVERIES[request.param]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-compatible broker (Tansu) on a free loopback port."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker


TEMPLATE_ID = "measurement_series_not_fed_template"
# The releases users run where their APIs differ: 1.5 (and 1.6) lack the
# template-id list field, 1.5 the `message` key of error bodies.
KAPACITOR_VERSIONS = ("1.5.7", "1.7.7")


@pytest.fixture(params=KAPACITOR_VERSIONS, ids=[f"kapacitor-{v}" for v in KAPACITOR_VERSIONS])
def kapacitor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The Kapacitor API emulator on a free port, with the project's template
    installed, answering as each Kapacitor release users run."""
    from deadman.ops.template import bundled_template
    from deadman_local.kapacitor_emulator import KapacitorEmulator, serve

    emulator = KapacitorEmulator(version=f"{request.param}-emulator")
    emulator.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    with serve(emulator) as running:
        running.emulator = emulator
        yield running
