"""The whole loop through real parts: Tansu, the KafkaSource stand-in, the functions
under gunicorn, and the Kapacitor API emulator, wired by the local stack."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.kafka import KafkaMessage, from_binary
from confluent_kafka import Producer

from deadman_local.broker import ConsumedRecord, read_topic
from deadman_local.kafka_source import CounterSnapshot
from deadman_local.stack import LocalStack, StackState
from tests.support.paths import FUNCTIONS_SOURCE, SINKS_DIR, SOURCES_DIR
from tests.support.tasks import SUFFIX

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

BASE = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The manifests' delivery spec, with backoffs short enough for a test run.
    local = LocalStack(
        # Faults on demand and the emulator's own state: the emulator.
        kapacitor="emulator",
        sources_dir=SOURCES_DIR,
        sinks_dir=SINKS_DIR,
        functions_source=FUNCTIONS_SOURCE,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        delivery_override={"retry": 4, "backoff_delay": 0.05},
    )
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def producer(stack: LocalStack) -> Iterator[Producer]:
    assert stack.state is not None
    producer = Producer({"bootstrap.servers": stack.state.bootstrap_servers})
    yield producer
    producer.flush(10)


def state_of(stack: LocalStack) -> StackState:
    assert stack.state is not None
    return stack.state


def outbox_record(event_type: str, devices: list[str], seconds: int) -> bytes:
    """Debezium's structured CloudEvent for an outbox row (no content-type header)."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/debezium/mysql/cfg",
            "type": event_type,
            "time": (BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "iodebeziumop": "c",
            "data": {"devicescode": devices},
        }
    ).encode()


def publish(
    stack: LocalStack, producer: Producer, event_type: str, value: bytes, key: str = "k"
) -> None:
    topic = next(t for t in state_of(stack).lifecycle_topics if t.endswith(event_type))
    producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def outcomes(stack: LocalStack) -> CounterSnapshot:
    counters: CounterSnapshot = stack.stand_in.counters
    return counters


def wait_outcomes(stack: LocalStack, before: CounterSnapshot, count: int) -> CounterSnapshot:
    reached: CounterSnapshot = stack.stand_in.wait_until(
        lambda now: now.outcomes - before.outcomes >= count, timeout=60
    )
    return reached


def statuses(stack: LocalStack, devices: list[str]) -> dict[str, str | None]:
    tasks = stack.emulator.tasks()
    return {d: (tasks[d + SUFFIX].status if d + SUFFIX in tasks else None) for d in devices}


def dead_letters(stack: LocalStack, expected: int) -> list[Any]:
    records = read_topic(
        state_of(stack).bootstrap_servers,
        state_of(stack).dead_letters_topic,
        expected=expected,
        timeout=30,
    )
    return [decode(record) for record in records]


def decode(record: ConsumedRecord) -> Any:
    return from_binary(KafkaMessage(record.headers, record.key, record.value or b""))


def devices(n: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"e2e-{run}-{i}" for i in range(n)]


def test_loop_lifecycle_records_drive_task_states(stack: LocalStack, producer: Producer) -> None:
    names = devices(3)
    before = outcomes(stack)
    publish(stack, producer, "device-created", outbox_record("device-created", names, 1))
    wait_outcomes(stack, before, 1)
    assert statuses(stack, names) == dict.fromkeys(names, "enabled")

    before = outcomes(stack)
    publish(stack, producer, "device-disabled", outbox_record("device-disabled", names[:2], 2))
    publish(stack, producer, "device-deleted", outbox_record("device-deleted", names[2:], 3))
    wait_outcomes(stack, before, 2)
    assert statuses(stack, names) == {names[0]: "disabled", names[1]: "disabled", names[2]: None}

    # A late replay of the first enable changes nothing for the disabled devices.
    before = outcomes(stack)
    publish(stack, producer, "device-enabled", outbox_record("device-enabled", names[:2], 1))
    wait_outcomes(stack, before, 1)
    assert statuses(stack, names[:2]) == dict.fromkeys(names[:2], "disabled")


def test_loop_alert_reaches_the_alerts_topic(stack: LocalStack, producer: Producer) -> None:
    (name,) = devices(1)
    before = outcomes(stack)
    publish(stack, producer, "device-enabled", outbox_record("device-enabled", [name], 1))
    wait_outcomes(stack, before, 1)
    result = stack.emulator.fire_deadman(name + SUFFIX, "CRITICAL")
    assert result.status == 200, result
    records = read_topic(
        state_of(stack).bootstrap_servers, state_of(stack).alerts_topic, expected=10_000, timeout=8
    )
    events = [decode(r) for r in records if r.key == name.encode()]
    assert [e["type"] for e in events] == ["historicization-stopped"]
    assert events[0]["subject"] == name


def test_loop_poison_record_lands_in_dead_letters_with_reason(
    stack: LocalStack, producer: Producer
) -> None:
    before = outcomes(stack)
    already = len(dead_letters(stack, expected=10_000)) if before.dead_lettered else 0
    poison = outbox_record("device-enabled", ['bad"device'], 1)
    publish(stack, producer, "device-enabled", poison, key="poison")
    after = wait_outcomes(stack, before, 1)
    assert after.dead_lettered - before.dead_lettered == 1
    letters = dead_letters(stack, expected=already + 1)
    letter = letters[-1]
    assert letter["knativeerrorcode"] == "422"
    assert letter["knativeerrordest"].startswith(state_of(stack).functions["enable_alert"])
    reason = json.loads(base64.b64decode(letter["knativeerrordata"]))
    assert reason["devices"][0]["device"] == 'bad"device'
    assert statuses(stack, ['bad"device']) == {'bad"device': None}


def test_loop_kapacitor_failing_for_a_while_is_retried(
    stack: LocalStack, producer: Producer
) -> None:
    (name,) = devices(1)
    stack.emulator.fail_next(times=2, status=503, method="GET")
    before = outcomes(stack)
    publish(stack, producer, "device-enabled", outbox_record("device-enabled", [name], 1))
    after = wait_outcomes(stack, before, 1)
    assert after.delivered - before.delivered == 1
    assert after.retries - before.retries >= 2
    assert statuses(stack, [name]) == {name: "enabled"}


def test_loop_accounting_every_record_applied_or_dead_lettered(
    stack: LocalStack, producer: Producer, tmp_path: Path
) -> None:
    good = devices(20)
    bad = [f"bad/{i}" for i in range(5)]
    before = outcomes(stack)
    for second, device in enumerate(good + bad):
        publish(
            stack,
            producer,
            "device-enabled",
            outbox_record("device-enabled", [device], second),
            key=device,
        )
    after = wait_outcomes(stack, before, len(good) + len(bad))
    delivered = after.delivered - before.delivered
    dead = after.dead_lettered - before.dead_lettered
    assert (delivered, dead) == (len(good), len(bad))
    assert delivered + dead == len(good) + len(bad)
    assert after.dropped == before.dropped
    assert statuses(stack, good) == dict.fromkeys(good, "enabled")
