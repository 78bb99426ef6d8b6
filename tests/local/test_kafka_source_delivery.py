"""The KafkaSource stand-in against a real broker and a scripted HTTP receiver.

One stand-in runs every source of this module (one consumer group join instead of
one per test); each test owns a source, its topic and its receiver path.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deadman.ops.dlq import DeadLetter, read_dead_letters
from deadman_local.broker import EmbeddedBroker, create_topics, free_port
from deadman_local.kafka_source import KafkaSourceStandIn
from tests.support.kafka_source import (
    DeliveryOptions,
    debezium_record,
    kafka_sink,
    kafka_source,
    outbox_event,
    produce,
    unique,
    write_manifests,
)
from tests.support.receiver import Received, ScriptedReceiver, serve_scripted

pytestmark = pytest.mark.kafka


@dataclass
class Stage:
    broker: EmbeddedBroker
    receiver: ScriptedReceiver
    stand_in: KafkaSourceStandIn
    topics: dict[str, str]
    dlq_topic: str

    def produce(
        self, source: str, *records: tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
    ) -> None:
        produce(self.broker.bootstrap_servers, self.topics[source], list(records))

    def wait_counts(self, source: str, **expected: int) -> None:
        self.stand_in.wait_until(
            lambda _: all(
                getattr(self.stand_in.counters_for(source), name) >= count
                for name, count in expected.items()
            ),
            timeout=20,
        )

    def dead_letters(self, source: str) -> list[DeadLetter]:
        path = f"/{source}"
        letters = read_dead_letters(self.broker.bootstrap_servers, self.dlq_topic, timeout=10)
        return [letter for letter in letters if (letter.error_dest or "").endswith(path)]


SOURCES: dict[str, DeliveryOptions] = {
    "wrapped": {},
    "direct": {},
    "retry": {"retry": 3},
    "notfound": {"retry": 3},
    "reject": {"retry": 3},
    "exhaust": {"retry": 2, "backoff_policy": "exponential", "backoff_delay": "PT0.02S"},
    "ordered": {"retry": 3},
    "held": {"retry": 2, "backoff_delay": "PT0.02S"},
    "unordered": {"ordering": "unordered"},
    "slow": {"retry": 1, "timeout": "PT0.3S"},
}


@pytest.fixture(scope="module")
def stage(
    kafka_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    topics = {name: unique(f"t-{name}") for name in [*SOURCES, "refused"]}
    dlq_topic = unique("dead-letters")
    create_topics(kafka_broker.bootstrap_servers, [*topics.values(), dlq_topic])
    closed_port = free_port()
    documents = [
        kafka_source(name, topics[name], path=f"/{name}", **options)
        for name, options in SOURCES.items()
    ]
    documents.append(
        kafka_source(
            "refused",
            topics["refused"],
            retry=2,
            sink_uri=f"http://127.0.0.1:{closed_port}/refused",
        )
    )
    sources_dir, sinks_dir = write_manifests(
        tmp_path_factory.mktemp("manifests"), documents, [kafka_sink("dead-letters", dlq_topic)]
    )
    with serve_scripted() as receiver:
        stand_in = KafkaSourceStandIn(
            kafka_broker.bootstrap_servers,
            {"fn": receiver.url},
            sources_dir=sources_dir,
            sinks_dir=sinks_dir,
        )
        with stand_in:
            yield Stage(kafka_broker, receiver, stand_in, topics, dlq_topic)


def test_kafka_source_wraps_a_record_that_is_not_a_cloudevent(stage: Stage) -> None:
    key, value, headers = debezium_record("e-wrapped")
    stage.produce("wrapped", (key, value, headers))
    [request] = stage.receiver.wait_for("/wrapped", 1)
    assert request.body == value
    assert request.ce("specversion") == "1.0"
    assert request.ce("type") == "dev.knative.kafka.event"
    assert request.ce("id") == "partition:0/offset:0"
    assert request.ce("subject") == "partition:0#0"
    assert request.ce("source") == (
        f"/apis/v1/namespaces/deadman/kafkasources/wrapped#{stage.topics['wrapped']}"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z", request.ce("time") or "")
    assert request.ce("knativekafkapartition") == "0"
    assert request.ce("knativekafkaoffset") == "0"
    assert request.ce("key") == request.ce("partitionkey") == "dev-1"
    assert request.ce("kafkaheaderid") == "e-wrapped"
    assert request.ce("kafkaheaderdebeziumtablename") == "outbox"
    assert "content-type" not in request.headers
    assert request.headers["prefer"] == "reply"
    stage.wait_counts("wrapped", delivered=1, committed=1)


def test_kafka_source_delivers_binary_and_structured_cloudevents_as_themselves(
    stage: Stage,
) -> None:
    inner = outbox_event("e-direct")
    binary_headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-binary"),
        ("ce_source", b"/debezium"),
        ("ce_type", b"device-disabled"),
        ("ce_iodebeziumop", b"u"),
        ("content-type", b"application/json"),
    ]
    stage.produce(
        "direct",
        (b"dev-2", json.dumps(inner["data"]).encode(), binary_headers),
        (b"dev-3", json.dumps(inner).encode(), [("content-type", b"application/cloudevents+json")]),
    )
    binary, structured = stage.receiver.wait_for("/direct", 2)
    assert binary.ce("id") == "e-binary"
    assert binary.ce("type") == "device-disabled"
    assert binary.ce("iodebeziumop") == "u"
    assert binary.headers["content-type"] == "application/json"
    assert json.loads(binary.body) == inner["data"]
    assert structured.ce("id") == "e-direct"
    assert structured.ce("type") == "device-enabled"
    assert structured.ce("time") == inner["time"]
    assert structured.headers["content-type"] == "application/json"
    assert json.loads(structured.body) == inner["data"]
    for request in (binary, structured):
        assert request.ce("knativekafkapartition") == "0"
        assert request.ce("key") is None  # only wrappers carry the record key
    assert [r.ce("knativekafkaoffset") for r in (binary, structured)] == ["0", "1"]


def test_kafka_source_retries_503_then_delivers(stage: Stage) -> None:
    stage.receiver.script("/retry", [503, 503, 200])
    stage.produce("retry", debezium_record("e-retry"))
    requests = stage.receiver.wait_for("/retry", 3)
    assert [r.status for r in requests] == [503, 503, 200]
    assert len({r.ce("id") for r in requests}) == 1
    stage.wait_counts("retry", delivered=1, committed=1)
    counts = stage.stand_in.counters_for("retry")
    assert (counts.attempts, counts.retries, counts.dead_lettered) == (3, 2, 0)


def test_kafka_source_retries_404_like_5xx(stage: Stage) -> None:
    stage.receiver.script("/notfound", [404, 404, 200])
    stage.produce("notfound", debezium_record("e-404"))
    assert [r.status for r in stage.receiver.wait_for("/notfound", 3)] == [404, 404, 200]
    stage.wait_counts("notfound", delivered=1)


def test_kafka_source_sends_a_400_straight_to_the_dead_letter_topic(stage: Stage) -> None:
    body = json.dumps({"error": "invalid device code", "devices": ["bad dev"]}).encode()
    stage.receiver.script("/reject", [(400, body)])
    key, value, _ = debezium_record("e-400")
    stage.produce("reject", (key, value, []))
    stage.wait_counts("reject", dead_lettered=1, committed=1)
    assert len(stage.receiver.requests("/reject")) == 1  # never retried
    [letter] = stage.dead_letters("reject")
    assert letter.encoding == "binary"
    assert letter.key == b"dev-1"
    assert letter.error_code == "400"
    assert letter.error_dest == f"{stage.receiver.url}/reject"
    assert letter.error_data == body.decode()
    assert base64.b64decode(letter.attributes["knativeerrordata"]) == body
    assert letter.attributes["type"] == "dev.knative.kafka.event"
    assert letter.attributes["id"] == "partition:0/offset:0"
    assert letter.data == value


def test_kafka_source_dead_letters_when_retries_run_out(stage: Stage) -> None:
    stage.receiver.script("/exhaust", [], default=(503, b'{"error": "kapacitor down"}'))
    stage.produce("exhaust", debezium_record("e-exhaust"))
    stage.wait_counts("exhaust", dead_lettered=1, committed=1)
    assert len(stage.receiver.requests("/exhaust")) == 3  # retry: 2
    [letter] = stage.dead_letters("exhaust")
    assert letter.error_code == "503"
    assert letter.error_data == '{"error": "kapacitor down"}'


def test_kafka_source_dead_letters_after_connection_refused(stage: Stage) -> None:
    stage.produce("refused", debezium_record("e-refused"))
    stage.wait_counts("refused", dead_lettered=1, committed=1)
    counts = stage.stand_in.counters_for("refused")
    assert counts.attempts == 3
    [letter] = stage.dead_letters("refused")
    assert (letter.error_dest or "").endswith("/refused")
    # No response: the data plane adds only the destination.
    assert letter.error_code is None
    assert "knativeerrordata" not in letter.attributes


def test_kafka_source_ordered_waits_for_the_previous_outcome(stage: Stage) -> None:
    stage.receiver.script("/ordered", [503, 503, 200, 200])
    stage.produce("ordered", debezium_record("e-first"), debezium_record("e-second"))
    requests = stage.receiver.wait_for("/ordered", 4)
    assert [r.ce("knativekafkaoffset") for r in requests] == ["0", "0", "0", "1"]
    first_outcome, second = requests[2], requests[3]
    assert second.arrived >= first_outcome.answered
    stage.wait_counts("ordered", delivered=2, committed=2)


def test_kafka_source_ordered_failing_event_holds_its_partition_then_dead_letters(
    stage: Stage,
) -> None:
    """The ordered layout's rule: the next event waits through every retry of the
    failing one, which then goes to the dead-letter topic; the next proceeds."""
    stage.receiver.script("/held", [503, 503, 503, 200])
    stage.produce("held", debezium_record("e-held"), debezium_record("e-next"))
    requests = stage.receiver.wait_for("/held", 4)
    assert [r.ce("knativekafkaoffset") for r in requests] == ["0", "0", "0", "1"]
    assert requests[3].arrived >= requests[2].answered
    stage.wait_counts("held", delivered=1, dead_lettered=1, committed=2)
    [letter] = stage.dead_letters("held")
    assert (letter.error_code, letter.attributes["id"]) == ("503", "partition:0/offset:0")


def test_kafka_source_unordered_delivers_concurrently(stage: Stage) -> None:
    second_arrived = threading.Event()

    def hold_until_second(_request: Received) -> int:
        # Answer the first only once the second is in: ordered delivery would deadlock.
        return 200 if second_arrived.wait(10) else 500

    def second(_request: Received) -> int:
        second_arrived.set()
        return 200

    stage.receiver.script("/unordered", [hold_until_second, second])
    stage.produce("unordered", debezium_record("e-u1"), debezium_record("e-u2"))
    first, last = sorted(stage.receiver.wait_for("/unordered", 2), key=lambda r: r.answered)
    assert {first.status, last.status} == {200}
    assert max(first.arrived, last.arrived) < min(first.answered, last.answered)
    stage.wait_counts("unordered", delivered=2, committed=2)


def test_kafka_source_retries_after_a_per_attempt_timeout(stage: Stage) -> None:
    release = threading.Event()

    def too_slow(_request: Received) -> int:
        release.wait(2)  # longer than the PT0.3S timeout of this source
        return 200

    stage.receiver.script("/slow", [too_slow, 200])
    try:
        stage.produce("slow", debezium_record("e-slow"))
        stage.wait_counts("slow", delivered=1)
    finally:
        release.set()
    counts = stage.stand_in.counters_for("slow")
    assert (counts.attempts, counts.delivered, counts.dead_lettered) == (2, 1, 0)
