"""The heartbeat end to end: the installer's task in the Kapacitor emulator (its
measurement never receives data, so it fires every period), the callback under
gunicorn behind the [[httppost]] endpoint, the events topic, and the watcher.
Each fault of the alert path makes `deadmanctl heartbeat check` fail."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from deadman import HeartbeatCheckSettings
from deadman.ops.cli import main
from deadman.ops.heartbeat import HeartbeatState, HeartbeatStatus, check_heartbeat
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_emulator import HttpPostEndpoint, KapacitorEmulator, serve
from tests.support.paths import FUNCTIONS_SOURCE

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

HEARTBEAT = "deadman_heartbeat"
TOKEN = "heartbeat-test-token"


@dataclass
class Loop:
    broker: EmbeddedBroker
    emulator: KapacitorEmulator
    callback: FunctionProcess
    topic: str
    period: float

    def check(self, max_age: float) -> HeartbeatStatus:
        settings = HeartbeatCheckSettings(alerts_topic=self.topic)
        return check_heartbeat(
            settings, self.broker.bootstrap_servers, timedelta(seconds=max_age), timeout=20
        )

    def wait_for(self, wanted: HeartbeatState, max_age: float, within: float) -> float:
        """Seconds until the check says ``wanted``; fails after ``within``."""
        started = time.monotonic()
        while (status := self.check(max_age)).state is not wanted:
            assert time.monotonic() - started < within, status.describe()
            time.sleep(0.5)
        return time.monotonic() - started


@pytest.fixture
def make_loop(
    kafka_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Loop]]:
    """The alert path with a heartbeat of the given period, installed as `make
    template` does."""
    closers: list[Callable[[], object]] = []

    def make(period: str) -> Loop:
        topic = f"events-{uuid.uuid4().hex[:8]}"
        create_topics(kafka_broker.bootstrap_servers, [topic])
        callback = FunctionProcess(
            "alert_callback",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                "ALERTS_TOPIC": topic,
                "ALERT_CALLBACK_TOKEN": TOKEN,
            },
            log_path=tmp_path / "callback.log",
            source=FUNCTIONS_SOURCE,
        ).start()
        closers.append(callback.stop)
        endpoint = HttpPostEndpoint("benthos", callback.url, {"Authorization": f"Bearer {TOKEN}"})
        emulator = KapacitorEmulator(endpoints=[endpoint], silent_measurements=[HEARTBEAT])
        running = serve(emulator)
        closers.append(running.close)
        for name, value in {
            "KAPACITOR_URL": running.url,
            "KAPACITOR_DB": "iot",
            "HEARTBEAT_PERIOD": period,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
            "ALERTS_TOPIC": topic,
        }.items():
            monkeypatch.setenv(name, value)
        assert main(["install-template"]) == 0
        seconds = timedelta(seconds=int(period.rstrip("s"))).total_seconds()
        return Loop(kafka_broker, emulator, callback, topic, seconds)

    yield make
    for close in reversed(closers):
        close()


def test_heartbeat_check_passes_then_fails_20s_after_the_callback_stops(
    make_loop: Callable[[str], Loop], capsys: pytest.CaptureFixture[str]
) -> None:
    loop = make_loop("5s")
    # A heartbeat every period: two in a row, one period apart.
    loop.wait_for(HeartbeatState.FRESH, max_age=15, within=15)
    assert main(["heartbeat", "check", "--max-age", "15s", "--topic", loop.topic]) == 0
    assert "fresh" in capsys.readouterr().out
    first = loop.check(15)
    second_seen = time.monotonic()
    while (latest := loop.check(15)).newest == first.newest:
        assert time.monotonic() - second_seen < 3 * loop.period
        time.sleep(0.5)
    assert latest.newest is not None
    assert first.newest is not None
    assert latest.newest - first.newest == timedelta(seconds=loop.period)
    loop.callback.stop()
    # The last heartbeat is at most one period old: stale after max age + one period,
    # with a second for the check itself.
    loop.wait_for(HeartbeatState.STALE, max_age=15, within=21)
    assert main(["heartbeat", "check", "--max-age", "15s", "--topic", loop.topic]) == 1
    assert "stale" in capsys.readouterr().out


@pytest.mark.parametrize("fault", ["wrong_token", "sink_down"])
def test_heartbeat_check_fails_when_the_path_breaks(
    make_loop: Callable[[str], Loop], fault: str
) -> None:
    loop = make_loop("2s")
    loop.wait_for(HeartbeatState.FRESH, max_age=6, within=10)
    if fault == "wrong_token":
        loop.emulator.set_endpoint("benthos", loop.callback.url, {"Authorization": "Bearer wrong"})
    else:
        loop.callback.stop()
        loop.callback.env = {**loop.callback.env, "K_SINK": "http://127.0.0.1:9/"}
        loop.callback.env.pop("KAFKA_BOOTSTRAP_SERVERS")
        loop.callback.start()
    loop.wait_for(HeartbeatState.STALE, max_age=6, within=12)


def test_heartbeat_check_absent_and_unreadable(kafka_broker: EmbeddedBroker) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap_servers, [topic])
    settings = HeartbeatCheckSettings(alerts_topic=topic)
    status = check_heartbeat(settings, kafka_broker.bootstrap_servers, timedelta(seconds=30))
    assert (status.state, status.exit_code) == (HeartbeatState.ABSENT, 1)
    code = main(
        [
            "heartbeat",
            "check",
            "--bootstrap-servers",
            "127.0.0.1:9",
            "--timeout",
            "3",
            "--topic",
            topic,
        ]
    )
    assert code == 2
