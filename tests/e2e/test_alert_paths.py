"""Both alert paths through the whole local stack, and the failure only the Kafka
path survives: the callback down while alerts fire.

The demo runs on a real Kapacitor and InfluxDB (a real deadman fires when a
device's points stop, and recovers when they resume) and on the emulator. The
other tests fire alerts at chosen moments, which only the emulator can do.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cloudevents.kafka import KafkaMessage, from_binary
from confluent_kafka import Producer

from deadman.ops.topics import RawRecord, read_records
from deadman_local.debezium import OutboxWriter
from deadman_local.demo import Demo
from deadman_local.stack import CALLBACK_SOURCE, LocalStack
from tests.support.backends import REAL, real_binaries
from tests.support.paths import FUNCTIONS_SOURCE, SINKS_DIR, SOURCES_DIR

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

DELIVERIES = ("httppost", "kafka")
T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


StackFor = Callable[..., LocalStack]


@pytest.fixture(scope="module")
def stack_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFor]:
    """The stack of each alert delivery and Kapacitor (``emulator`` unless told),
    started on first use (with the local run's own task period: a TASK_EXTRA_VARS
    of the caller's shell is left out)."""
    started: dict[tuple[str, str], LocalStack] = {}
    environment = pytest.MonkeyPatch()
    environment.delenv("TASK_EXTRA_VARS", raising=False)

    def get(delivery: str, kapacitor: str = "emulator") -> LocalStack:
        if (delivery, kapacitor) not in started:
            if kapacitor == "real":
                real_binaries()  # skips, or fails under REQUIRE_REAL_KAPACITOR=1
            stack = LocalStack(
                kapacitor=kapacitor,
                alert_delivery=delivery,
                sources_dir=SOURCES_DIR,
                sinks_dir=SINKS_DIR,
                functions_source=FUNCTIONS_SOURCE,
                log_dir=tmp_path_factory.mktemp(f"stack-{delivery}-{kapacitor}"),
                # The manifests' retries, with backoffs short enough for a test run.
                delivery_override={"backoff_delay": 0.05},
                # A real deadman fires within two periods of the silence.
                task_period="5s",
            )
            stack.start()
            started[delivery, kapacitor] = stack
        return started[delivery, kapacitor]

    yield get
    for stack in started.values():
        stack.stop()
    environment.undo()


def enabled_devices(stack: LocalStack, count: int) -> list[str]:
    """New devices, enabled through the lifecycle topics, their tasks running."""
    assert stack.state is not None
    devices = [f"path-{uuid.uuid4().hex[:6]}-{n}" for n in range(count)]
    record = OutboxWriter().record("device-enabled", devices)
    # Counted on the sources reading that topic: heartbeats come through another.
    readers = [s.name for s in stack.stand_in.sources if record.topic in s.topics]

    def delivered() -> int:
        return sum(stack.stand_in.counters_for(name).delivered for name in readers)

    before = delivered()
    producer = Producer({"bootstrap.servers": stack.state.bootstrap_servers})
    producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers)
    assert producer.flush(10) == 0
    stack.stand_in.wait_until(lambda _: delivered() - before >= len(readers), 60)
    assert all(stack.emulator.task(f"{d}_not_fed").executing for d in devices)
    return devices


def events_of(stack: LocalStack, devices: list[str]) -> list[dict[str, Any]]:
    """The alert events about ``devices`` on the events topic, read to its end.

    Called once the callback acknowledged them: it answers 2xx only after Kafka did.
    """
    assert stack.state is not None
    keys = {device.encode() for device in devices}
    found: list[dict[str, Any]] = []

    def keep(record: RawRecord) -> None:
        if record.key in keys:
            headers = {name: value or b"" for name, value in record.headers}
            event = from_binary(KafkaMessage(headers, record.key, record.value or b""))
            found.append({**event.get_attributes(), "data": event.get_data()})

    read_records(stack.state.bootstrap_servers, [stack.state.alerts_topic], keep, timeout=30)
    return found


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_alert_path_critical_then_ok_reach_the_events_topic(
    delivery: str, stack_for: StackFor
) -> None:
    stack = stack_for(delivery)
    [device] = enabled_devices(stack, 1)
    for level, emitted in (("CRITICAL", 0.0), ("OK", 3.0)):
        fired = stack.emulator.fire_deadman(f"{device}_not_fed", level, T0, emitted)
        assert fired.ok, fired
    if delivery == "kafka":
        # Kapacitor's part ends on Kafka; the KafkaSource then delivers to the
        # callback (heartbeats go the same way: count this device's events).
        stack.stand_in.wait_until(lambda _: len(events_of(stack, [device])) >= 2, 60)
    events = events_of(stack, [device])
    assert [(e["type"], e["subject"]) for e in events] == [
        ("historicization-stopped", device),
        ("historicization-restarted", device),
    ]


@pytest.mark.parametrize("kapacitor", ["emulator", REAL])
@pytest.mark.parametrize("delivery", DELIVERIES)
def test_demo_completes_with_every_alert_delivery(
    delivery: str, kapacitor: str, stack_for: StackFor
) -> None:
    """On the real server: the deadman fires when the demo stops writing a device's
    points and recovers when it writes again, through Kapacitor's POST or its Kafka
    handler, into historicization-stopped and -restarted on the events topic."""
    stack = stack_for(delivery, "real" if kapacitor == REAL else "emulator")
    assert stack.state is not None
    assert stack.state.kapacitor_kind == ("real" if kapacitor == REAL else "emulator")
    out = io.StringIO()
    assert Demo(stack.state, out=out).run() == 0, out.getvalue()
    assert "historicization-restarted" in out.getvalue()


def test_kafka_path_callback_down_while_alerts_fire_loses_nothing(
    stack_for: StackFor,
) -> None:
    stack = stack_for("kafka")
    devices = enabled_devices(stack, 5)
    callback = stack.functions["alert_callback"]
    before = stack.stand_in.counters_for(CALLBACK_SOURCE)
    callback.stop()
    try:
        for number, device in enumerate(devices):
            when = T0 + timedelta(minutes=number)
            fired = stack.emulator.fire_deadman(f"{device}_not_fed", "CRITICAL", when)
            assert fired.ok, fired  # Kafka has it: Kapacitor's part is done
        # The source tried, the callback was not there: the records wait.
        stack.stand_in.wait_until(
            lambda _: stack.stand_in.counters_for(CALLBACK_SOURCE).retries > before.retries, 30
        )
    finally:
        callback.start()
    # Heartbeats take the same source: wait for these devices' events themselves.
    stack.stand_in.wait_until(lambda _: len(events_of(stack, devices)) >= len(devices), 120)
    after = stack.stand_in.counters_for(CALLBACK_SOURCE)
    assert after.dead_lettered == before.dead_lettered
    events = events_of(stack, devices)
    # Exactly once per (device, level, time), and each device's own.
    seen = [(e["subject"], e["data"]["level"], e["time"]) for e in events]
    assert sorted(seen) == sorted(
        (device, "CRITICAL", (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for n, device in enumerate(devices)
    )


def test_httppost_path_callback_down_loses_the_alert(
    stack_for: StackFor,
) -> None:
    """What the Kafka path is for: Kapacitor POSTs once, and never again."""
    stack = stack_for("httppost")
    [device] = enabled_devices(stack, 1)
    callback = stack.functions["alert_callback"]
    callback.stop()
    try:
        fired = stack.emulator.fire_deadman(f"{device}_not_fed", "CRITICAL", T0)
    finally:
        callback.start()
    assert not fired.ok
    assert "failed to POST alert data" in (fired.error or "")


def test_local_stack_tasks_check_every_task_period(
    stack_for: StackFor,
) -> None:
    stack = stack_for("httppost")
    [device] = enabled_devices(stack, 1)
    task = stack.emulator.task(f"{device}_not_fed")
    # The template says 1m, as the original pipeline's; the local run shortens it per task.
    assert "var period = 1m\n" in task.script
    period = task.vars["period"]
    assert (period.type, period.value) == ("duration", 5_000_000_000)
