"""``deadmanctl dlq``: list the dead letters a KafkaSource produced, and replay them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from deadman.ops.cli import main
from deadman.ops.dlq import DeadLetter, parse_offsets, select
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.kafka_source import KafkaSourceStandIn
from tests.support.kafka_source import (
    debezium_record,
    kafka_sink,
    kafka_source,
    outbox_event,
    produce,
    unique,
    write_manifests,
)
from tests.support.receiver import Answer, Received, ScriptedReceiver, serve_scripted

pytestmark = pytest.mark.kafka

REJECTION = json.dumps({"error": "invalid device code", "devices": ["bad dev"]})


@dataclass
class Letters:
    broker: EmbeddedBroker
    receiver: ScriptedReceiver
    stand_in: KafkaSourceStandIn
    topic: str
    dlq: str
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]
    accept_all: threading.Event

    def cli(self, *args: str) -> list[str]:
        return ["dlq", *args, "--bootstrap-servers", self.broker.bootstrap_servers]


def function_answers(accept_all: threading.Event) -> Callable[[Received], Answer]:
    """422 for e-bad, 503 for e-down, 400 for the direct event; 200 once accept_all is set."""

    def answer(request: Received) -> Answer:
        if accept_all.is_set():
            return 200
        if request.ce("kafkaheaderid") == "e-bad":
            return 422, REJECTION.encode()
        if request.ce("kafkaheaderid") == "e-down":
            return 503, b"kapacitor unavailable"
        if request.ce("id") == "e-direct":
            return 400, b"malformed event"
        return 200

    return answer


@pytest.fixture(scope="module")
def letters(
    kafka_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Letters]:
    topic, dlq = unique("t-dlq-source"), unique("dead-letters")
    create_topics(kafka_broker.bootstrap_servers, [topic, dlq])
    sources_dir, sinks_dir = write_manifests(
        tmp_path_factory.mktemp("dlq-manifests"),
        [kafka_source("dlq-source", topic, path="/fn", retry=1)],
        [kafka_sink("dead-letters", dlq)],
    )
    direct = outbox_event("e-direct")
    records = [
        debezium_record("e-bad", key="dev-bad"),
        debezium_record("e-down", key="dev-down"),
        (
            b"dev-direct",
            json.dumps(direct).encode(),
            [("content-type", b"application/cloudevents+json")],
        ),
    ]
    accept_all = threading.Event()
    with serve_scripted() as receiver:
        receiver.script("/fn", [], default=function_answers(accept_all))
        stand_in = KafkaSourceStandIn(
            kafka_broker.bootstrap_servers,
            {"fn": receiver.url},
            sources_dir=sources_dir,
            sinks_dir=sinks_dir,
        )
        with stand_in:
            produce(kafka_broker.bootstrap_servers, topic, records)
            stand_in.wait_until(lambda c: c.dead_lettered >= 3, timeout=20)
            yield Letters(kafka_broker, receiver, stand_in, topic, dlq, records, accept_all)


def test_dlq_list_shows_each_dead_letter_and_its_reason(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(letters.cli("list", "--topic", letters.dlq)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"3 dead letter(s) on {letters.dlq}"
    bad, down, direct = lines[:3]
    assert bad.startswith("0:0 type=dev.knative.kafka.event id=partition:0/offset:0 code=422")
    assert "invalid device code" in bad
    assert f"dest={letters.receiver.url}/fn" in bad
    assert "code=503" in down
    assert "kapacitor unavailable" in down
    assert "id=e-direct code=400" in direct
    assert "malformed event" in direct


def test_dlq_list_json_decodes_the_error_extensions(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(letters.cli("list", "--topic", letters.dlq, "--json", "--error-code", "422")) == 0
    [letter] = json.loads(capsys.readouterr().out)
    assert letter["offset"] == 0
    assert letter["key"] == "dev-bad"
    assert letter["error_code"] == "422"
    assert letter["error_dest"] == f"{letters.receiver.url}/fn"
    assert letter["error_data"] == REJECTION
    assert letter["attributes"]["kafkaheaderid"] == "e-bad"
    assert json.loads(letter["data"])["id"] == "e-bad"


def test_dlq_replay_dry_run_sends_nothing(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{letters.receiver.url}/dry"
    assert (
        main(letters.cli("replay", "--topic", letters.dlq, "--all", "--dry-run", "--to-url", url))
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in out[:3]] == ["0:0", "0:1", "0:2"]
    assert out[-1] == f"3 dead letter(s) would be replayed to {url}"
    assert letters.receiver.requests("/dry") == []


def test_dlq_replay_requires_a_selection(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(letters.cli("replay", "--topic", letters.dlq, "--to-url", "http://127.0.0.1:1/"))
    assert code == 2  # one error style for every command: deadmanctl: <message>, exit 2
    assert "deadmanctl: choose letters with --offsets, --all or --error-code" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("command", [["list"], ["replay", "--all", "--to-topic", "t"]])
def test_dlq_commands_use_the_kafka_consumer_config(
    letters: Letters,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """The settings reach librdkafka: a bogus security.protocol fails at once, named."""
    monkeypatch.setenv("KAFKA_CONSUMER_CONFIG", '{"security.protocol": "bogus"}')
    started = time.monotonic()
    assert main(letters.cli(*command, "--topic", letters.dlq)) == 2
    assert time.monotonic() - started < 5
    assert "security.protocol" in capsys.readouterr().err


def test_dlq_replay_to_url_restores_the_event_as_received(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{letters.receiver.url}/replayed"
    assert (
        main(letters.cli("replay", "--topic", letters.dlq, "--error-code", "503", "--to-url", url))
        == 0
    )
    assert "1 of 1 replayed" in capsys.readouterr().out
    [request] = letters.receiver.wait_for("/replayed", 1)
    key, value, _ = letters.records[1]
    assert request.body == value
    assert request.ce("type") == "dev.knative.kafka.event"
    assert request.ce("id") == "partition:0/offset:1"
    assert request.ce("key") == key.decode()  # type: ignore[union-attr]
    assert request.ce("kafkaheaderid") == "e-down"
    assert request.ce("knativekafkaoffset") == "1"
    assert not [name for name in request.headers if name.startswith("ce-knativeerror")]


def test_dlq_replay_to_topic_reproduces_the_original_records(
    letters: Letters, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = len(letters.receiver.requests("/fn"))
    letters.accept_all.set()  # the function accepts them this time
    assert (
        main(
            letters.cli(
                "replay", "--topic", letters.dlq, "--offsets", "0:0,2", "--to-topic", letters.topic
            )
        )
        == 0
    )
    assert "2 of 2 replayed" in capsys.readouterr().out
    wrapped, direct = letters.receiver.wait_for("/fn", seen + 2)[seen:]
    assert [wrapped.status, direct.status] == [200, 200]
    letters.stand_in.wait_until(lambda c: c.delivered >= 2 and c.dead_lettered == 3)
    # The Debezium record again: wrapped anew at its new offset, same key, value, headers.
    key, value, _ = letters.records[0]
    assert wrapped.ce("id") == "partition:0/offset:3"
    assert wrapped.body == value
    assert wrapped.ce("key") == key.decode()  # type: ignore[union-attr]
    assert wrapped.ce("kafkaheaderid") == "e-bad"
    assert wrapped.ce("kafkaheaderdebeziumtablename") == "outbox"
    assert "content-type" not in wrapped.headers
    # The direct CloudEvent again, itself, without the dead-letter extensions.
    assert direct.ce("id") == "e-direct"
    assert direct.ce("type") == "device-enabled"
    assert direct.ce("knativekafkaoffset") == "4"
    assert direct.ce("knativeerrorcode") is None
    assert json.loads(direct.body) == outbox_event("e-direct")["data"]


def test_select_by_offsets_and_error_code() -> None:
    def letter(partition: int, offset: int, code: str) -> DeadLetter:
        return DeadLetter("dlq", partition, offset, None, {"knativeerrorcode": code}, b"", "binary")

    pool = [letter(0, 1, "400"), letter(1, 1, "503"), letter(1, 2, "400")]
    assert parse_offsets("1, 0:7") == [(None, 1), (0, 7)]
    assert select(pool, offsets=parse_offsets("1")) == pool[:2]
    assert select(pool, offsets=parse_offsets("1:1,1:2"), error_code="400") == [pool[2]]
    assert select(pool, all_letters=True, error_code="503") == [pool[1]]
    with pytest.raises(ValueError, match="choose"):
        select(pool)
    with pytest.raises(ValueError, match="partition:offset"):
        parse_offsets("x:1")
