"""Records Debezium 2.7.3 wrote from the users' outbox table, through the whole loop.

Each file of ../shared/debezium-records is produced as it is (topic, key, headers,
value) to the embedded broker; the KafkaSource stand-in of the layout whose
manifests read that topic delivers it to the functions under gunicorn.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from deadman_local.broker import read_topic
from deadman_local.demo import Demo
from deadman_local.stack import TOPIC_LAYOUTS, LocalStack
from tests.support.paths import FUNCTIONS_SOURCE, SINKS_DIR, SOURCES_DIR
from tests.support.shared import shared_path

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

ROUTED = ("record.json", "record.stringkey.json", "record.as-given-routing.json")
SCHEMA_ENVELOPE = "record.data-with-schema.json"
TASK = "dev-1_not_fed"


def shared_record(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(shared_path("debezium-records", name).read_text())
    return record


@pytest.fixture(scope="module")
def stack_for(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], LocalStack]]:
    """The stack of each topic layout, started on first use."""
    started: dict[str, LocalStack] = {}

    def get(layout: str) -> LocalStack:
        if layout not in started:
            stack = LocalStack(
                kapacitor="emulator",  # the tests edit its store
                topic_layout=layout,
                sources_dir=SOURCES_DIR,
                sinks_dir=SINKS_DIR,
                functions_source=FUNCTIONS_SOURCE,
                log_dir=tmp_path_factory.mktemp(f"stack-{layout}"),
                delivery_override={"retry": 2, "backoff_delay": 0.05},
            )
            stack.start()
            started[layout] = stack
        return started[layout]

    yield get
    for stack in started.values():
        stack.stop()


def layout_reading(topic: str, stack_for: Callable[[str], LocalStack]) -> LocalStack:
    for layout in sorted(TOPIC_LAYOUTS):
        stack = stack_for(layout)
        assert stack.state is not None
        if topic in stack.state.lifecycle_topics:
            return stack
    raise AssertionError(f"no topic layout reads {topic}")


def deliver(stack: LocalStack, record: dict[str, Any]) -> int:
    """Produce the record as Debezium wrote it; wait until every source reading its
    topic reached an outcome; return how many did."""
    assert stack.state is not None
    readers = sum(record["topic"] in source.topics for source in stack.stand_in.sources)
    before = stack.stand_in.counters
    producer = Producer({"bootstrap.servers": stack.state.bootstrap_servers})
    producer.produce(
        record["topic"],
        key=record["key"].encode(),
        value=record["value"].encode(),
        headers=[(name, value.encode()) for name, value in record["headers"].items()],
    )
    assert producer.flush(10) == 0
    stack.stand_in.wait_until(lambda now: now.outcomes - before.outcomes >= readers, timeout=60)
    return readers


@pytest.mark.parametrize("name", ROUTED)
def test_debezium_record_enables_its_device(
    name: str, stack_for: Callable[[str], LocalStack]
) -> None:
    record = shared_record(name)
    stack = layout_reading(record["topic"], stack_for)
    stack.emulator.store.tasks.pop(TASK, None)
    before = stack.stand_in.counters
    readers = deliver(stack, record)
    after = stack.stand_in.counters
    # Every source reading the topic answered 2xx: the others ignore the type.
    assert after.delivered - before.delivered == readers
    task = stack.emulator.task(TASK)
    assert task is not None
    assert (task.status, task.executing) == ("enabled", True)
    position = task.vars["deadman_event_position"].value
    assert position == "server_id=1 file=binlog.000003 pos=1547 row=0"


def test_debezium_record_with_schema_envelope_is_dead_lettered_naming_the_setting(
    stack_for: Callable[[str], LocalStack],
) -> None:
    record = shared_record(SCHEMA_ENVELOPE)
    stack = layout_reading(record["topic"], stack_for)
    assert stack.state is not None
    stack.emulator.store.tasks.pop(TASK, None)
    before = stack.stand_in.counters
    readers = deliver(stack, record)
    assert stack.stand_in.counters.dead_lettered - before.dead_lettered == readers
    letters = read_topic(
        stack.state.bootstrap_servers, stack.state.dead_letters_topic, expected=10_000, timeout=5
    )
    reasons = [
        json.loads(base64.b64decode(letter.headers["ce_knativeerrordata"]))
        for letter in letters
        if letter.headers.get("ce_knativeerrorcode") == b"400"
    ]
    assert any(
        "value.converter.json.schemas.enable=false" in reason["message"] for reason in reasons
    ), reasons
    assert stack.emulator.task(TASK) is None


@pytest.mark.parametrize("layout", sorted(TOPIC_LAYOUTS))
def test_demo_completes_in_every_topic_layout(
    layout: str, stack_for: Callable[[str], LocalStack]
) -> None:
    stack = stack_for(layout)
    assert stack.state is not None
    out = io.StringIO()
    assert Demo(stack.state, out=out).run() == 0, out.getvalue()
