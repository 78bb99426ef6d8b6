"""``make demo``: drive the running local stack through the whole loop.

Writes Debezium-shaped outbox records (structured CloudEvent JSON, no content-type
header, so the KafkaSource stand-in wraps them as a real KafkaSource would) to the
topics of the stack's layout (one per type, or the single topic) and waits for the
Kapacitor tasks to follow. Then one device goes silent and comes back:

* on a real Kapacitor, the demo writes points for its devices to InfluxDB every
  second, stops writing one device's, and the real deadman fires within two task
  periods; it writes again, and the deadman recovers;
* on the emulator, which processes no data, it asks the emulator to fire CRITICAL,
  then OK.

Either way the demo reads ``historicization-stopped``, then
``historicization-restarted``, back from the alerts topic, deletes a device, waits
for a heartbeat and runs ``heartbeat check``. Exits 0 only when every step
completed, otherwise 1 naming the failing step.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .broker import message_headers
from .debezium import OutboxWriter
from .stack import STATE_FILE, StackState

__all__ = ["Demo", "DemoFailed", "main"]

SUFFIX = "_not_fed"


class DemoFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass
class Demo:
    state: StackState
    out: Any = sys.stderr
    timeout: float = 60.0

    def __post_init__(self) -> None:
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": self.state.bootstrap_servers})
        self.kapacitor = httpx.Client(base_url=self.state.kapacitor_url, timeout=10)
        topics = self.state.lifecycle_topics
        self.outbox = OutboxWriter(single_topic=topics[0] if len(topics) == 1 else None)
        run = uuid.uuid4().hex[:6]
        self.devices = [f"demo-{run}-{n}" for n in (1, 2, 3)]
        self.steps: list[tuple[str, Callable[[], str]]] = [
            ("create three devices", self.create_devices),
            ("disable one of them", self.disable_one),
            ("enable it again", self.enable_again),
            ("a device goes silent: the deadman fires", self.go_silent),
            ("read historicization-stopped from Kafka", self.read_stopped),
            ("the device sends again: the deadman recovers", self.send_again),
            ("read historicization-restarted from Kafka", self.read_restarted),
            ("delete a device", self.delete_one),
            ("the heartbeat arrives: deadmanctl heartbeat check", self.heartbeat),
        ]
        self.feeder = (
            PointFeeder(self.state.influxdb_url, self.state.kapacitor_db, self.devices)
            if self.data_driven
            else None
        )

    @property
    def data_driven(self) -> bool:
        """Whether real deadmen watch real data (else the emulator fires on request)."""
        return not self.state.emulated_kapacitor

    @property
    def alert_timeout(self) -> float:
        """How long a real deadman may take: two task periods, and some slack."""
        from deadman import influxql_duration_ns

        period = influxql_duration_ns(self.state.task_period or "1m") / 1e9
        return max(self.timeout, 2 * period + 30)

    def run(self) -> int:
        """Every step in order; 0 when all completed. The demo is used up after it."""
        try:
            return self._run()
        finally:
            if self.feeder is not None:
                self.feeder.stop()
            self.kapacitor.close()
            # A producer left alive keeps reconnecting (and logging) once the stack stops.
            self.producer.flush(5)
            del self.producer

    def _run(self) -> int:
        total = len(self.steps)
        for number, (title, step) in enumerate(self.steps, start=1):
            self._say(f"[{number}/{total}] {title} …")
            started = time.monotonic()
            try:
                detail = step()
            except DemoFailed as failure:
                self._say(f"[{number}/{total}] FAILED {title}: {failure.reason}")
                return 1
            self._say(
                f"[{number}/{total}] done  {title} ({time.monotonic() - started:.1f} s)"
                + (f"\n      {detail}" if detail else "")
            )
        self._say("The whole loop completed.")
        return 0

    # Steps

    def create_devices(self) -> str:
        if self.feeder is not None:
            if not self.state.influxdb_url:
                raise DemoFailed(
                    "create three devices",
                    "no InfluxDB to write the devices' points to: set INFLUXDB_URL",
                )
            self.feeder.start()
        self._publish("device-created", self.devices)
        self._wait_tasks({device: "enabled" for device in self.devices}, "create three devices")
        return ", ".join(f"{d}{SUFFIX}: enabled" for d in self.devices)

    def disable_one(self) -> str:
        self._publish("device-disabled", self.devices[2:])
        self._wait_tasks({self.devices[2]: "disabled"}, "disable one of them")
        return f"{self.devices[2]}{SUFFIX}: disabled"

    def enable_again(self) -> str:
        self._publish("device-enabled", self.devices[2:])
        self._wait_tasks({self.devices[2]: "enabled"}, "enable it again")
        return f"{self.devices[2]}{SUFFIX}: enabled"

    def go_silent(self) -> str:
        return self._feed(False)

    def read_stopped(self) -> str:
        return self._summary(self._find_alert(self.devices[0], "historicization-stopped"))

    def send_again(self) -> str:
        return self._feed(True)

    def read_restarted(self) -> str:
        return self._summary(self._find_alert(self.devices[0], "historicization-restarted"))

    def _feed(self, on: bool) -> str:
        """Points for the first device stop (or resume); the emulator is asked to fire."""
        device = self.devices[0]
        if self.feeder is None:
            return self._fire(device, "OK" if on else "CRITICAL")
        self.feeder.feed(device, on)
        return f"points for {device} {'again' if on else 'stop'}; task period {self._period()}"

    def _fire(self, device: str, level: str) -> str:
        """Ask the emulator, which processes no data, to fire the device's deadman."""
        reply = self.kapacitor.post(
            "/emulator/alerts/fire", json={"task": device + SUFFIX, "level": level}
        )
        body = reply.json()
        if reply.status_code != 200 or not body.get("ok"):
            raise DemoFailed(f"fire the deadman ({level})", f"{reply.status_code} {body}")
        if body.get("topic"):
            return f"Kapacitor emulator wrote the {level} alert to Kafka ({body['topic']})"
        return (
            f"Kapacitor emulator POSTed the {level} alert; the callback answered {body['status']}"
        )

    def _period(self) -> str:
        return self.state.task_period or "1m (the template's)"

    @staticmethod
    def _summary(event: dict[str, Any]) -> str:
        summary = {key: event[key] for key in ("type", "subject", "id", "time")}
        return json.dumps({**summary, "data": event["data"]})

    def delete_one(self) -> str:
        self._publish("device-deleted", self.devices[1:2])
        self._wait_tasks({self.devices[1]: None}, "delete a device")
        return f"{self.devices[1]}{SUFFIX}: deleted"

    def heartbeat(self) -> str:
        from datetime import timedelta

        from deadman import HeartbeatCheckSettings
        from deadman.ops.heartbeat import HeartbeatState, check_heartbeat

        settings = HeartbeatCheckSettings(
            kafka_bootstrap_servers=self.state.bootstrap_servers,
            alerts_topic=self.state.alerts_topic,
            heartbeat_task_id=self.state.heartbeat_task_id,
            heartbeat_period=self.state.heartbeat_period,
        )
        max_age = timedelta(seconds=3 * settings.heartbeat_period_seconds)
        deadline = time.monotonic() + self.timeout
        while True:
            status = check_heartbeat(
                settings, self.state.bootstrap_servers, max_age, timeout=self.timeout
            )
            self._progress(f"      {status.describe()}")
            if status.state is HeartbeatState.FRESH:
                return f"deadmanctl heartbeat check: {status.describe()} (exit 0)"
            if time.monotonic() > deadline:
                raise DemoFailed("heartbeat", status.describe())
            time.sleep(0.5)

    # Helpers

    def _publish(self, event_type: str, devices: list[str]) -> None:
        record = self.outbox.record(event_type, devices)
        if record.topic not in self.state.lifecycle_topics:
            raise DemoFailed(event_type, f"the stack reads no topic {record.topic}")
        self.producer.produce(
            record.topic, key=record.key, value=record.value, headers=record.headers
        )
        if self.producer.flush(10) != 0:
            raise DemoFailed(event_type, f"Kafka did not take the record on {record.topic}")

    def _wait_tasks(self, wanted: dict[str, str | None], step: str) -> None:
        deadline = time.monotonic() + self.timeout
        seen: dict[str, str | None] = {}
        while time.monotonic() < deadline:
            seen = {device: self._task_status(device) for device in wanted}
            self._progress(f"      tasks: {seen}")
            if seen == wanted:
                return
            time.sleep(0.2)
        raise DemoFailed(step, f"tasks did not reach {wanted} in {self.timeout:.0f} s: {seen}")

    def _task_status(self, device: str) -> str | None:
        reply = self.kapacitor.get(f"/kapacitor/v1/tasks/{device}{SUFFIX}")
        return None if reply.status_code == 404 else str(reply.json().get("status"))

    def _find_alert(self, device: str, event_type: str) -> dict[str, Any]:
        from cloudevents.kafka import KafkaMessage, from_binary
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.state.bootstrap_servers,
                "group.id": f"demo-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
            }
        )
        consumer.subscribe([self.state.alerts_topic])
        deadline = time.monotonic() + (self.alert_timeout if self.data_driven else self.timeout)
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                headers = message_headers(message.headers())
                event = from_binary(KafkaMessage(headers, message.key(), message.value() or b""))
                if event["subject"] == device and event["type"] == event_type:
                    return {**event.get_attributes(), "data": event.get_data()}
        finally:
            consumer.close()
        raise DemoFailed("read the alert", f"no {event_type} for {device} in time")

    def _say(self, text: str) -> None:
        if getattr(self.out, "isatty", lambda: False)():
            print("\r" + " " * 120 + "\r", end="", file=self.out)
        print(text, file=self.out, flush=True)

    def _progress(self, text: str) -> None:
        if getattr(self.out, "isatty", lambda: False)():
            print("\r" + text[:120].ljust(120), end="", file=self.out, flush=True)


class PointFeeder:
    """Writes one point a second for each device not silenced, as devices report.

    Points carry the tag the template's query selects on (``ty='F'``).
    """

    def __init__(self, influxdb_url: str, db: str, devices: list[str]) -> None:
        self.url, self.db = influxdb_url, db
        self.fed = set(devices)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="point-feeder", daemon=True)
        self.failure = ""

    def start(self) -> None:
        self._thread.start()

    def feed(self, device: str, on: bool) -> None:
        with self._lock:
            (self.fed.add if on else self.fed.discard)(device)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                with self._lock:
                    lines = "\n".join(f"{d},ty=F value=1" for d in sorted(self.fed))
                try:
                    if lines:
                        reply = client.post(
                            f"{self.url}/write", params={"db": self.db}, content=lines
                        )
                        reply.raise_for_status()
                    self.failure = ""
                except httpx.HTTPError as error:
                    self.failure = str(error)  # InfluxDB may be restarting: keep trying
                self._stop.wait(1.0)


def main() -> int:
    if not STATE_FILE.exists():
        print("no local stack is running: start it with `make run` first", file=sys.stderr)
        return 1
    return Demo(StackState.load()).run()
