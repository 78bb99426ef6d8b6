"""Helpers of the data-path storm: the events topic watched as it fills, InfluxDB's
own request counters, and a counting proxy in front of InfluxDB for the callback."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from _common import LoopbackServer, QuietHandler, check

from deadman_local.broker import message_headers


@dataclass(frozen=True)
class Seen:
    """An event of the events topic and when the watcher read it (monotonic)."""

    arrived: float
    type: str
    subject: str
    time: datetime
    datapath: str | None

    @property
    def marked(self) -> bool:
        return self.datapath == "degraded"


class EventWatcher:
    """Reads the events topic from its start, in a thread, until stopped."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"bench-datapath-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
        self._consumer.subscribe([topic])
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)

    def __enter__(self) -> EventWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def wait(self, what: str, predicate: Any, timeout: float) -> list[Seen]:
        """The events once ``predicate(events)`` holds; a BenchError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.seen()
            if predicate(events):
                return events
            time.sleep(0.2)
        check(False, f"{what}: not within {timeout:.0f} s")
        return []

    def _run(self) -> None:
        from cloudevents.kafka import KafkaMessage, from_binary

        while not self._stop.is_set():
            message = self._consumer.poll(0.2)
            if message is None or message.error():
                continue
            headers = message_headers(message.headers())
            event = from_binary(KafkaMessage(headers, message.key(), message.value() or b""))
            seen = Seen(
                arrived=time.monotonic(),
                type=event["type"],
                subject=event["subject"],
                time=datetime.fromisoformat(event["time"]),
                datapath=event.get("datapath"),
            )
            with self._lock:
                self._seen.append(seen)


def influxdb_requests(url: str) -> dict[str, int]:
    """InfluxDB's own counters of HTTP requests (``/debug/vars``: ``httpd:<bind>``)."""
    found = httpx.get(f"{url}/debug/vars", timeout=30).json()
    [values] = [v["values"] for name, v in found.items() if name.startswith("httpd")]
    return {name: int(values.get(name, 0)) for name in ("queryReq", "pingReq", "writeReq")}


class CountingProxy(LoopbackServer):
    """Forwards every request to ``upstream`` and counts them by path; what the
    callback asks InfluxDB goes through it."""

    def __init__(self, upstream: str) -> None:
        owner = self
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        client = httpx.Client(base_url=upstream, timeout=120)

        class Handler(QuietHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    owner.counts[self.path.split("?")[0]] += 1
                try:
                    answer = client.request(
                        self.command, self.path, content=body, headers=dict(self.headers)
                    )
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                # The callback gives up on a paused InfluxDB: its side may be gone.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(answer.status_code)
                    if "Content-Type" in answer.headers:
                        self.send_header("Content-Type", answer.headers["Content-Type"])
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)

            do_GET = do_POST = _forward

        super().__init__(Handler)

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


class Writer:
    """Writes one point a second for every device still fed, in one request."""

    def __init__(self, influxdb_url: str, db: str, devices: list[str]) -> None:
        self.fed = set(devices)
        self._url, self._db = influxdb_url, db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def silence(self, devices: list[str]) -> None:
        self.fed -= set(devices)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                lines = "\n".join(f"{device},ty=F value=1" for device in sorted(self.fed))
                # InfluxDB paused: the devices' points are lost, as they would be.
                with contextlib.suppress(httpx.HTTPError):
                    client.post(f"{self._url}/write", params={"db": self._db}, content=lines)
                self._stop.wait(1.0)
