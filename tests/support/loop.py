"""Driving a LocalStack (Tansu, the KafkaSource stand-in, the functions under
gunicorn, the Kapacitor emulator) with Debezium-shaped lifecycle records, and
checking what it did: task states, dead letters, stand-in accounting."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from deadman import EVENT_TIME_VAR, InvalidDeviceCodeError, check_device_code
from deadman.ops.dlq import DeadLetter, read_dead_letters
from deadman_local.kafka_source import CounterSnapshot
from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator
from deadman_local.stack import LocalStack, StackState
from tests.support.paths import FUNCTIONS_SOURCE, SINKS_DIR, SOURCES_DIR
from tests.support.tasks import SUFFIX

BASE = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
STATE_OF_ACTION = {
    "device-created": "enabled",
    "device-enabled": "enabled",
    "device-disabled": "disabled",
    "device-deleted": None,
}
# Linear backoff, short: retry n waits n * 0.05 s, 12 retries about 4 s in all.
DELIVERY = {"retry": 12, "backoff_delay": 0.05, "backoff_policy": "linear"}


@contextmanager
def running_stack(
    tmp_path_factory: pytest.TempPathFactory, name: str, **options: Any
) -> Iterator[LocalStack]:
    stack = LocalStack(
        # Faults on demand and the emulator's own state: the emulator.
        kapacitor="emulator",
        sources_dir=SOURCES_DIR,
        sinks_dir=SINKS_DIR,
        functions_source=FUNCTIONS_SOURCE,
        log_dir=tmp_path_factory.mktemp(name),
        delivery_override={**DELIVERY, **options.pop("delivery_override", {})},
        **options,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


def rfc3339(time: datetime) -> str:
    return time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One outbox row as Debezium writes it: type, devices, the event's own time."""

    type: str
    devices: tuple[str, ...]
    seconds: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def time(self) -> datetime:
        return at(self.seconds)

    def record(self) -> bytes:
        """The structured CloudEvent (no content-type header: the source wraps it)."""
        return json.dumps(
            {
                "specversion": "1.0",
                "id": self.id,
                "source": "/debezium/mysql/cfg",
                "type": self.type,
                "time": rfc3339(self.time),
                "datacontenttype": "application/json",
                "iodebeziumop": "c",
                "iodebeziumtable": "outbox",
                "data": {"devicescode": list(self.devices)},
            }
        ).encode()


def event(event_type: str, devices: Iterable[str], seconds: int) -> Event:
    return Event(f"device-{event_type}", tuple(devices), seconds)


def valid(device: str) -> bool:
    try:
        check_device_code(device, 128, SUFFIX)
    except InvalidDeviceCodeError:
        return False
    return True


def newest_wins(events: Sequence[Event]) -> dict[str, tuple[str | None, datetime | None]]:
    """(status, recorded event time) each device ends with when the newest event wins."""
    newest: dict[str, Event] = {}
    for item in events:
        for device in item.devices:
            if not valid(device):
                continue
            if device not in newest or item.time > newest[device].time:
                newest[device] = item
    expected: dict[str, tuple[str | None, datetime | None]] = {}
    for device, item in newest.items():
        status = STATE_OF_ACTION[item.type]
        expected[device] = (status, item.time if status is not None else None)
    return expected


class Loop:
    """One test's view of the module's stack: what it produced and where it went."""

    def __init__(self, stack: LocalStack, producer: Producer) -> None:
        self.stack = stack
        self.producer = producer
        self.before = self.counters
        self.produced: list[Event] = []

    @property
    def state(self) -> StackState:
        assert self.stack.state is not None
        return self.stack.state

    @property
    def emulator(self) -> KapacitorEmulator:
        emulator: KapacitorEmulator = self.stack.emulator
        return emulator

    @property
    def listener(self) -> RunningEmulator:
        listener: RunningEmulator = self.stack.emulator.listener
        return listener

    @property
    def counters(self) -> CounterSnapshot:
        counters: CounterSnapshot = self.stack.stand_in.counters
        return counters

    def delta(self) -> dict[str, int]:
        now, before = self.counters, self.before
        return {name: getattr(now, name) - getattr(before, name) for name in vars(now)}

    def topic(self, event_type: str) -> str:
        return next(t for t in self.state.lifecycle_topics if t.endswith("." + event_type))

    def publish(self, *events: Event, count: bool = True) -> None:
        for item in events:
            self.producer.produce(
                self.topic(item.type), key=item.devices[0].encode(), value=item.record()
            )
            if count:
                self.produced.append(item)
        assert self.producer.flush(10) == 0

    def wait(self, predicate: Any, timeout: float = 60.0) -> CounterSnapshot:
        before = self.before
        reached: CounterSnapshot = self.stack.stand_in.wait_until(
            lambda now: predicate(now, before), timeout=timeout
        )
        return reached

    def wait_retries(self, count: int, timeout: float = 30.0) -> None:
        """Wait for ``count`` more retries than when this was called."""
        mark = self.counters.retries
        self.wait(lambda now, _before: now.retries - mark >= count, timeout)

    def settle(self, records: int | None = None, timeout: float = 60.0) -> dict[str, int]:
        """Wait until every produced record has an outcome; return the counter deltas."""
        expected = len(self.produced) if records is None else records
        self.wait(lambda now, before: now.outcomes - before.outcomes >= expected, timeout)
        return self.delta()

    def check_accounting(self, records: int | None = None) -> dict[str, int]:
        expected = len(self.produced) if records is None else records
        delta = self.settle(expected)
        assert delta["delivered"] + delta["dead_lettered"] == expected, delta
        assert delta["dropped"] == 0, delta
        assert delta["dead_letter_failed"] == 0, delta
        return delta

    def dead_letters(self, events: Iterable[Event] | None = None) -> dict[str, DeadLetter]:
        """This test's dead letters, by inner event id."""
        ids = {item.id for item in (self.produced if events is None else events)}
        found: dict[str, DeadLetter] = {}
        for letter in read_dead_letters(
            self.state.bootstrap_servers, self.state.dead_letters_topic, timeout=20
        ):
            inner = json.loads(letter.data or b"{}")
            if isinstance(inner, dict) and inner.get("id") in ids:
                assert inner["id"] not in found, f"{inner['id']} dead-lettered twice"
                found[inner["id"]] = letter
        return found

    def task_states(self, devices: Iterable[str]) -> dict[str, tuple[str | None, datetime | None]]:
        tasks = self.emulator.tasks()
        states: dict[str, tuple[str | None, datetime | None]] = {}
        for device in devices:
            task = tasks.get(device + SUFFIX)
            if task is None:
                states[device] = (None, None)
                continue
            recorded = task.vars.get(EVENT_TIME_VAR)
            time = datetime.fromisoformat(str(recorded.value)) if recorded else None
            states[device] = (task.status, time)
        return states

    def not_running(self, devices: Iterable[str]) -> list[str]:
        """Devices whose task is enabled but does not execute."""
        tasks = self.emulator.tasks()
        return [
            device
            for device in devices
            if (task := tasks.get(device + SUFFIX)) is not None
            and task.status == "enabled"
            and not task.executing
        ]

    def check_outcome(self, rejected: Mapping[str, Sequence[str]] | None = None) -> None:
        """Final state follows the newest event; every event applied or dead-lettered
        with its reason; the counts add up."""
        rejected = rejected or {}
        delta = self.check_accounting()
        letters = self.dead_letters()
        assert set(letters) == set(rejected), {k: v.reason for k, v in letters.items()}
        assert delta["dead_lettered"] == len(rejected)
        for event_id, devices in rejected.items():
            letter = letters[event_id]
            assert letter.error_code == "422", letter.reason
            reason = json.loads(letter.error_data)
            assert reason["error"] == "devices_rejected"
            assert sorted(d["device"] for d in reason["devices"]) == sorted(devices)
        expected = newest_wins(self.produced)
        assert expected, "the scenario names no valid device"
        assert self.task_states(expected) == expected
        assert self.not_running(expected) == []
        invalid = {d for item in self.produced for d in item.devices if not valid(d)}
        assert set(self.emulator.tasks()).isdisjoint(d + SUFFIX for d in invalid)


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still false after {timeout} s")
        time.sleep(0.02)


def log_text(stack: LocalStack, target: str) -> str:
    assert stack.log_dir is not None
    path: Path = stack.log_dir / f"{target}.log"
    return path.read_text(errors="replace")
