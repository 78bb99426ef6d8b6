"""The alert callback under gunicorn while its Kafka broker goes away and comes back.

Kapacitor never retries an alert POST, so the callback must answer 503 within its
deadline while the broker is down (and claim nothing), and must publish again once
the broker is back. The embedded broker keeps records in memory: a restarted broker
has lost its topics (recreated here) and every producer's idempotence state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deadman import alert_event_id as event_id
from deadman import parse_alert
from deadman.ops.dlq import read_dead_letters
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_emulator import AlertResult, HttpPostEndpoint, KapacitorEmulator
from tests.support.emulator import create_task, served_emulator
from tests.support.paths import FUNCTIONS_SOURCE

pytestmark = pytest.mark.kafka

TOPIC = "alerts-outage"
TOKEN = "outage-callback-token-9f2c"
SINK_TIMEOUT = 2.0
# The delivery report may come a moment after message.timeout.ms (see _sinks.py).
SLACK = 1.5
DEVICES = 200


@dataclass
class Outage:
    broker: EmbeddedBroker
    callback: FunctionProcess
    emulator: KapacitorEmulator
    log: Path

    def fire(self, device: str) -> tuple[AlertResult, float]:
        create_task(self.emulator, device)
        started = time.monotonic()
        result = self.emulator.fire_deadman(device + "_not_fed", "CRITICAL")
        return result, time.monotonic() - started

    def published_ids(self) -> list[str]:
        """The CloudEvent ids on the alerts topic (read by partition, no group join)."""
        letters = read_dead_letters(self.broker.bootstrap_servers, TOPIC, timeout=15)
        return [letter.attributes["id"] for letter in letters]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    logs = tmp_path_factory.mktemp("outage")
    broker = EmbeddedBroker(log_path=logs / "tansu.log").start()
    create_topics(broker.bootstrap_servers, [TOPIC])
    callback = FunctionProcess(
        "alert_callback",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "ALERTS_TOPIC": TOPIC,
            "SINK_TIMEOUT_SECONDS": str(SINK_TIMEOUT),
            "ALERT_CALLBACK_TOKEN": TOKEN,
        },
        log_path=logs / "callback.log",
        source=FUNCTIONS_SOURCE,
    )
    try:
        callback.start()
        endpoint = HttpPostEndpoint("benthos", callback.url, {"Authorization": f"Bearer {TOKEN}"})
        with served_emulator(endpoints=[endpoint]) as running:
            yield Outage(broker, callback, running.emulator, logs / "callback.log")
    finally:
        callback.stop()
        broker.stop()


def ce_id(result: AlertResult) -> str:
    assert result.body is not None
    return event_id(parse_alert(json.dumps(result.body)))


def lost_alert_logs(log: Path) -> list[dict[str, object]]:
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "it would be lost" in line:
            entries.append(json.loads(line))
    return entries


def test_alert_callback_broker_restart_503_while_down_then_publishes(outage: Outage) -> None:
    before, _ = outage.fire("out-0")
    assert before.status == 200, before
    assert outage.published_ids() == [ce_id(before)]

    outage.broker.stop()
    down = []
    for device in ("out-1", "out-2"):
        result, elapsed = outage.fire(device)
        assert result.status == 503, result
        assert elapsed < SINK_TIMEOUT + SLACK, f"{device} answered after {elapsed:.2f} s"
        down.append(result)
    logged = {entry["alert_id"] for entry in lost_alert_logs(outage.log)}
    assert {r.alert_id for r in down} <= logged

    outage.broker.start()
    create_topics(outage.broker.bootstrap_servers, [TOPIC])
    # Until the producer has reconnected (librdkafka's reconnect backoff) and, the
    # restarted broker having forgotten its producer id, been replaced, alerts are
    # refused loudly; then every alert is published again.
    after: list[AlertResult] = []
    refused: list[AlertResult] = []
    deadline = time.monotonic() + 20
    for number in range(3, DEVICES):
        result, elapsed = outage.fire(f"out-{number}")
        assert elapsed < SINK_TIMEOUT + SLACK
        if result.status == 200:
            after.append(result)
            if len(after) == 4:
                break
            continue
        assert result.status == 503, result
        assert not after, "an alert failed after the callback had recovered"
        refused.append(result)
        if time.monotonic() > deadline:
            break
    assert len(after) == 4, f"the callback did not recover: {len(refused)} alerts refused"

    # Exactly what was answered 200 after the restart is on the (new) topic: no
    # alert answered 503 shows up late.
    published = outage.published_ids()
    assert sorted(published) == sorted(ce_id(r) for r in after)
    assert not {ce_id(r) for r in down + refused} & set(published)
    logged = {entry["alert_id"] for entry in lost_alert_logs(outage.log)}
    assert {r.alert_id for r in refused} <= logged
    assert TOKEN not in outage.log.read_text(errors="replace")
