"""InfluxDB and Kapacitor as the callback's data-path check sees them, as httpx
transports (``httpx.MockTransport``), and a sink that keeps what it is sent.

The fakes answer the few requests the check makes, from plain state a test sets:
verdicts by tick, the measurements with recent points, the alert topics."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from cloudevents.http import CloudEvent

from deadman import (
    DATAPATH_TASK_ID,
    AlertCallback,
    AlertMapper,
    AlertSettings,
    DataPath,
    InfluxDBClient,
    KapacitorClient,
    KapacitorSettings,
    KapacitorShards,
)

API = "/kapacitor/v1"
INFLUXDB_URL = "http://influxdb.test:8086"
KAPACITOR_URL = "http://kapacitor.test:9092"
PERIOD_NS = 4_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns(time: datetime) -> int:
    return int((time - _EPOCH).total_seconds()) * 1_000_000_000


def series(name: str, columns: list[str], values: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "columns": columns, "values": values}


@dataclass
class FakeInfluxDB:
    """Verdicts by tick (ns), the measurements with points in the asked window, and
    whether it answers at all (a paused InfluxDB times out)."""

    answering: bool = True
    verdicts: dict[int, str] = field(default_factory=dict)
    fed: set[str] = field(default_factory=set)
    # Verdicts that appear only once the n-th verdict query was made.
    late_verdicts: dict[int, tuple[int, str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    statements: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if not self.answering:
                self.calls["timeout"] += 1
                raise httpx.ReadTimeout("InfluxDB is paused", request=request)
            if request.url.path == "/ping":
                self.calls["ping"] += 1
                return httpx.Response(204)
            statement = parse_qs(request.content.decode())["q"][0]
            self.statements.append(statement)
            return httpx.Response(200, json={"results": [self._answer(statement)]})

    def _answer(self, statement: str) -> dict[str, Any]:
        if 'last("returned")' in statement:
            self.calls["last_healthy"] += 1
            before = int(re.search(r"time < (\d+)", statement).group(1))  # type: ignore[union-attr]
            healthy = [t for t, level in self.verdicts.items() if level == "INFO" and t < before]
            if not healthy:
                return {"statement_id": 0}
            return {
                "statement_id": 0,
                "series": [series("v", ["time", "last"], [[max(healthy), 6]])],
            }
        if '"returned", "level"' in statement:
            self.calls["verdicts"] += 1
            for tick, (after, level) in list(self.late_verdicts.items()):
                if self.calls["verdicts"] > after:
                    self.verdicts[tick] = level
            low = int(re.search(r"time >= (\d+)", statement).group(1))  # type: ignore[union-attr]
            high = int(re.search(r"time < (\d+)", statement).group(1))  # type: ignore[union-attr]
            rows = [[t, 6, level] for t, level in sorted(self.verdicts.items()) if low <= t < high]
            found = (
                [series("deadman_datapath", ["time", "returned", "level"], rows)] if rows else []
            )
            return {"statement_id": 0, "series": found}
        self.calls["presence"] += 1
        names = re.findall(r'"[^"]+"\."[^"]+"\."([^"]+)"', statement)
        found = [series(name, ["time", "value"], [[1, 1]]) for name in names if name in self.fed]
        return {"statement_id": 0, "series": found}


@dataclass
class Topic:
    """One device alert's topic: its task, level and the CRITICAL's time."""

    task_id: str
    level: str
    time: datetime

    @property
    def id(self) -> str:
        return f"main:{self.task_id}:alert5"


@dataclass
class FakeKapacitor:
    """The data-path task (None: not installed), device tasks and their alert topics."""

    datapath_vars: dict[str, Any] | None = field(
        default_factory=lambda: {
            "period": {"type": "duration", "value": PERIOD_NS},
            "db": {"type": "string", "value": "iot"},
            "rp": {"type": "string", "value": "autogen"},
            "measurement": {"type": "string", "value": "deadman_datapath"},
        }
    )
    topics: list[Topic] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path).removeprefix(API)
        query = dict(request.url.params)
        self.calls[path.split("/")[1]] += 1
        if path == f"/tasks/{DATAPATH_TASK_ID}":
            if self.datapath_vars is None:
                return httpx.Response(404, json={"error": "no task exists"})
            body = {"id": DATAPATH_TASK_ID, "status": "enabled", "vars": self.datapath_vars}
            return httpx.Response(200, json=body)
        if path == "/tasks":
            tasks = [{"id": t.task_id, "vars": self._vars(t.task_id)} for t in self.topics]
            return httpx.Response(200, json={"tasks": tasks})
        if path == "/alerts/topics":
            wanted = query.get("min-level", "OK")
            listed = [t for t in self.topics if t.level == wanted or wanted == "OK"]
            return httpx.Response(
                200, json={"topics": [{"id": t.id, "level": t.level} for t in listed]}
            )
        topic = next(t for t in self.topics if path == f"/alerts/topics/{t.id}/events")
        state = {"level": topic.level, "time": topic.time.isoformat(), "duration": "0s"}
        events = [{"id": topic.task_id, "state": {**state, "message": "silent"}}]
        return httpx.Response(200, json={"events": events if topic.level == "CRITICAL" else []})

    @staticmethod
    def _vars(task_id: str) -> dict[str, Any]:
        device = task_id.removesuffix("_not_fed")
        return {
            "db": {"type": "string", "value": "iot"},
            "rp": {"type": "string", "value": "autogen"},
            "measurement": {"type": "string", "value": device},
        }


@dataclass
class RecordingSink:
    kind: str = "recording"
    sent: list[CloudEvent] = field(default_factory=list)
    fail: Callable[[CloudEvent], bool] = lambda _event: False

    def send(self, event: CloudEvent) -> None:
        if self.fail(event):
            from deadman import SinkUnavailableError

            raise SinkUnavailableError("the test's sink refused it", event_id=event["id"])
        self.sent.append(event)

    def close(self) -> None:
        pass


@dataclass
class Clock:
    """A wall clock that moves only when slept on."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def alert_settings(**more: Any) -> AlertSettings:
    given = {"kafka_bootstrap_servers": "127.0.0.1:1", "influxdb_url": INFLUXDB_URL, **more}
    return AlertSettings(**given)


def datapath(
    influxdb: FakeInfluxDB,
    kapacitor: FakeKapacitor,
    clock: Clock,
    settings: AlertSettings | None = None,
    more_shards: Sequence[FakeKapacitor] = (),
) -> DataPath:
    """The data path over ``kapacitor`` (the first shard) and ``more_shards``."""
    settings = settings or alert_settings()
    urls = [KAPACITOR_URL, *(f"http://kapacitor-{n}.test:9092" for n, _ in enumerate(more_shards))]
    clients = [
        KapacitorClient(KapacitorSettings(kapacitor_url=url), transport=httpx.MockTransport(fake))
        for url, fake in zip(urls, [kapacitor, *more_shards], strict=True)
    ]
    return DataPath(
        settings,
        AlertMapper.from_settings(settings),
        KapacitorShards(clients),
        InfluxDBClient(INFLUXDB_URL, timeout=1.0, transport=httpx.MockTransport(influxdb)),
        clock=clock,
        sleep=clock.sleep,
    )


def callback(path: DataPath, sink: RecordingSink) -> AlertCallback:
    return AlertCallback(path.settings, sink=sink, datapath=path)
