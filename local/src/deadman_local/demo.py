"""``make demo``: drive the running local stack through the whole loop.

Writes Debezium-shaped outbox records (structured CloudEvent JSON, no content-type
header, so the KafkaSource stand-in wraps them as a real KafkaSource would) to the
topics of the stack's layout (one per type, or the single topic), waits
for the Kapacitor tasks to follow, fires a deadman alert for one device, reads
the ``historicization-stopped`` event back from the alerts topic, deletes a device,
then waits for a heartbeat and runs ``heartbeat check``. Exits 0 only
when every step completed, otherwise 1 naming the failing step.
"""

from __future__ import annotations

import json
import sys
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
            ("a device goes silent: deadman fires", self.fire_alert),
            ("read historicization-stopped from Kafka", self.read_alert),
            ("delete a device", self.delete_one),
            ("the heartbeat arrives: deadmanctl heartbeat check", self.heartbeat),
        ]
        self._alert_id = ""

    def run(self) -> int:
        """Every step in order; 0 when all completed. The demo is used up after it."""
        try:
            return self._run()
        finally:
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

    def fire_alert(self) -> str:
        task = self.devices[0] + SUFFIX
        if self.state.emulated_kapacitor:
            reply = self.kapacitor.post(
                "/emulator/alerts/fire", json={"task": task, "level": "CRITICAL"}
            )
            body = reply.json()
            if reply.status_code != 200 or not body.get("ok"):
                raise DemoFailed("fire the deadman", f"{reply.status_code} {body}")
            self._alert_id = str(body.get("alert_id") or task)
            if body.get("topic"):
                return f"Kapacitor emulator wrote the alert to Kafka ({body['topic']})"
            return f"Kapacitor emulator POSTed the alert; the callback answered {body['status']}"
        raise DemoFailed(
            "fire the deadman",
            "a real Kapacitor fires only when data stops; run the stack with its emulator",
        )

    def read_alert(self) -> str:
        device = self.devices[0]
        event = self._find_alert(device)
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

    def _find_alert(self, device: str) -> dict[str, Any]:
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
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                headers = message_headers(message.headers())
                event = from_binary(KafkaMessage(headers, message.key(), message.value() or b""))
                if event["subject"] == device and event["type"] == "historicization-stopped":
                    return {**event.get_attributes(), "data": event.get_data()}
        finally:
            consumer.close()
        raise DemoFailed("read the alert", f"no historicization-stopped for {device} in time")

    def _say(self, text: str) -> None:
        if getattr(self.out, "isatty", lambda: False)():
            print("\r" + " " * 120 + "\r", end="", file=self.out)
        print(text, file=self.out, flush=True)

    def _progress(self, text: str) -> None:
        if getattr(self.out, "isatty", lambda: False)():
            print("\r" + text[:120].ljust(120), end="", file=self.out, flush=True)


def main() -> int:
    if not STATE_FILE.exists():
        print("no local stack is running: start it with `make run` first", file=sys.stderr)
        return 1
    return Demo(StackState.load()).run()
