"""A fleet on the real servers of a LocalStack: devices enabled through the outbox,
fed by a writer, their deadmen watched, and what the callback published read back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cloudevents.kafka import KafkaMessage, from_binary
from confluent_kafka import Producer

from deadman.ops.topics import RawRecord, read_records
from deadman_local.debezium import OutboxWriter
from deadman_local.demo import PointFeeder
from deadman_local.stack import LocalStack
from tests.support.backends import real_binaries
from tests.support.loop import wait_for
from tests.support.paths import FUNCTIONS_SOURCE, SINKS_DIR, SOURCES_DIR
from tests.support.tasks import SUFFIX

API = "/kapacitor/v1"
DEGRADED = "deadman-datapath-degraded"
RESTORED = "deadman-datapath-restored"
STOPPED = "historicization-stopped"
RESTARTED = "historicization-restarted"


@dataclass(frozen=True)
class Published:
    """One event of the events topic, as a consumer reads it."""

    type: str
    subject: str
    time: datetime
    id: str
    datapath: str | None
    data: Any

    @property
    def marked(self) -> bool:
        return self.datapath == "degraded"


def about(events: list[Published], devices: list[str], kind: str) -> list[Published]:
    """The events of ``kind`` about any of ``devices``."""
    return [event for event in events if event.subject in devices and event.type == kind]


def published(stack: LocalStack) -> list[Published]:
    """Every event on the stack's events topic, in no particular order."""
    assert stack.state is not None
    found: list[Published] = []

    def keep(record: RawRecord) -> None:
        headers = {name: value or b"" for name, value in record.headers}
        event = from_binary(KafkaMessage(headers, record.key, record.value or b""))
        found.append(
            Published(
                type=event["type"],
                subject=event["subject"],
                time=datetime.fromisoformat(event["time"]).astimezone(UTC),
                id=event["id"],
                datapath=event.get("datapath"),
                data=event.get_data(),
            )
        )

    read_records(stack.state.bootstrap_servers, [stack.state.alerts_topic], keep, timeout=30)
    return found


@dataclass
class Fleet:
    """Devices with tasks on the stack's real Kapacitor, fed every second."""

    stack: LocalStack
    devices: list[str]
    feeder: PointFeeder = field(init=False)

    def __post_init__(self) -> None:
        assert self.stack.state is not None
        assert self.stack.real is not None
        self.feeder = PointFeeder(self.stack.real.influxdb_url, self.stack.kapacitor_db, [])

    @property
    def kapacitor(self) -> str:
        return str(self.stack.real.kapacitor_url) + API

    def enable(self, *, fed: bool = True) -> None:
        """Feed every device (unless not ``fed``), enable them through the outbox and
        wait for their tasks."""
        assert self.stack.state is not None
        for device in self.devices if fed else ():
            self.feeder.feed(device, True)
        self.feeder.start()
        self._publish("device-enabled")

        def running() -> bool:
            return all(
                (task := self.task(device)) is not None and task["executing"]
                for device in self.devices
            )

        wait_for(running, 60, "every device's task running")

    def delete(self) -> None:
        """Stop feeding, delete the devices through the outbox and wait for it."""
        self.feeder.stop()
        self._publish("device-deleted")
        wait_for(lambda: all(self.task(d) is None for d in self.devices), 60, "tasks deleted")

    def silence(self, devices: list[str]) -> None:
        for device in devices:
            self.feeder.feed(device, False)

    def task(self, device: str) -> dict[str, Any] | None:
        response = httpx.get(f"{self.kapacitor}/tasks/{device}{SUFFIX}", timeout=10)
        return None if response.status_code == 404 else dict(response.json())

    def evaluations(self, device: str) -> int:
        """How many times the device's deadman has evaluated (its alert node's input)."""
        task = self.task(device)
        assert task is not None, device
        nodes = task.get("stats", {}).get("node-stats", {})
        return sum(
            int(stats.get("collected", 0))
            for name, stats in nodes.items()
            if name.startswith("alert")
        )

    def _publish(self, event_type: str) -> None:
        assert self.stack.state is not None
        record = OutboxWriter().record(event_type, self.devices)
        producer = Producer({"bootstrap.servers": self.stack.state.bootstrap_servers})
        producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers)
        assert producer.flush(10) == 0


@contextmanager
def fleet(stack: LocalStack, fed: int, silent: int) -> Iterator[tuple[Fleet, list[str], list[str]]]:
    """``fed`` and ``silent`` new devices (both fed to begin with), enabled; deleted after."""
    run = uuid.uuid4().hex[:6]
    fed_devices = [f"dp-{run}-fed-{n}" for n in range(fed)]
    silent_devices = [f"dp-{run}-silent-{n}" for n in range(silent)]
    devices = Fleet(stack, fed_devices + silent_devices)
    devices.enable()
    try:
        yield devices, fed_devices, silent_devices
    finally:
        devices.delete()


def now() -> datetime:
    return datetime.now(UTC)


def sleep_until(moment: float) -> None:
    """The scenario's own timing (an outage of a chosen length), not a synchronisation."""
    time.sleep(max(0.0, moment - time.monotonic()))


# A fixture's getter: the stack of an alert delivery.
StackFor = Callable[[str], LocalStack]


@contextmanager
def real_stacks(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    period: float,
    environment: dict[str, str] | None = None,
    **options: Any,
) -> Iterator[StackFor]:
    """A LocalStack on the real servers for each alert delivery asked for, started on
    first use and stopped at the end; deadmen at ``period`` seconds, ``environment``
    set for the installer and the functions (a caller's TASK_EXTRA_VARS left out)."""
    started: dict[str, LocalStack] = {}
    patched = pytest.MonkeyPatch()
    patched.delenv("TASK_EXTRA_VARS", raising=False)
    for variable, value in (environment or {}).items():
        patched.setenv(variable, value)

    def get(delivery: str) -> LocalStack:
        if delivery not in started:
            real_binaries()  # skips, or fails under REQUIRE_REAL_KAPACITOR=1
            stack = LocalStack(
                kapacitor="real",
                alert_delivery=delivery,
                sources_dir=SOURCES_DIR,
                sinks_dir=SINKS_DIR,
                functions_source=FUNCTIONS_SOURCE,
                log_dir=tmp_path_factory.mktemp(f"{name}-{delivery}"),
                delivery_override={"backoff_delay": 0.05},
                task_period=f"{period:g}s",
                **options,
            )
            stack.start()
            started[delivery] = stack
        return started[delivery]

    try:
        yield get
    finally:
        for stack in started.values():
            stack.stop()
        patched.undo()
