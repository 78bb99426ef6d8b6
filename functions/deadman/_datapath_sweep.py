"""The sweep after a data-path outage: devices truly silent across it, reported again.

During an outage every deadman fires CRITICAL, marked ``datapath=degraded``. A
fed device sends its OK by itself once InfluxDB answers again; a device that was
really silent across the outage stays CRITICAL, and Kapacitor
(``.stateChangesOnly()``) never sends it again. So when the data path is restored
the callback lists the device alerts still CRITICAL that began during the outage
(at or after the last healthy verdict before it), asks InfluxDB once (in chunks)
which of those devices wrote points in the last period, and reports each of the
others as a plain, unmarked CRITICAL at the restoring tick's time: an id
deterministic from (alert id, tick, level), so a sweep run twice, or Kapacitor's
own CRITICAL at that tick, gives the same event.

Kapacitor is read through ``KapacitorAlerts`` only (alert topics, their events,
the tasks' vars): the one place to loop over several Kapacitors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ._alerts import KapacitorAlert
from ._influxdb import InfluxDBClient, quoted
from ._kapacitor import KapacitorClient
from ._ordering import parse_time
from ._task_ids import TaskIds

__all__ = [
    "CriticalAlert",
    "KapacitorAlerts",
    "Source",
    "epoch_ns",
    "fed_sources",
    "swept_alerts",
]

# Measurements per presence query: a few kilobytes of InfluxQL each.
_CHUNK = 200
# Go's time.Duration text, as Kapacitor writes an event state's duration.
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Source:
    """Where a device's deadman reads its points."""

    db: str
    rp: str
    measurement: str

    def influxql(self) -> str:
        return f"{quoted(self.db)}.{quoted(self.rp)}.{quoted(self.measurement)}"


@dataclass(frozen=True)
class CriticalAlert:
    """A device alert's current CRITICAL state, as its alert topic keeps it."""

    alert_id: str
    time: datetime
    duration_ns: int
    message: str


class KapacitorAlerts:
    """What the sweep reads from one Kapacitor."""

    def __init__(self, client: KapacitorClient, ids: TaskIds) -> None:
        self.client = client
        self.ids = ids

    def critical_device_topics(self) -> dict[str, str]:
        """Task id -> alert topic, for every device task with a CRITICAL alert."""
        found: dict[str, str] = {}
        for topic in self.client.alert_topics(min_level="CRITICAL"):
            # main:<task id>:<alert node>; a task id holds no ':'.
            parts = str(topic.get("id", "")).split(":")
            if len(parts) == 3 and self.ids.device_of(parts[1]) is not None:
                found[parts[1]] = str(topic["id"])
        return found

    def sources(self, task_ids: Iterable[str]) -> dict[str, Source]:
        """Task id -> what its deadman queries (its ``db``, ``rp``, ``measurement`` vars)."""
        wanted = set(task_ids)
        found: dict[str, Source] = {}
        if not wanted:
            return found
        for task in self.client.list_tasks(pattern="*" + self.ids.suffix, fields=("vars",)):
            variables = task.get("vars") or {}
            values = {name: (variables.get(name) or {}).get("value") for name in ("db", "rp")}
            measurement = (variables.get("measurement") or {}).get("value")
            if task.get("id") in wanted and measurement and values["db"] and values["rp"]:
                found[str(task["id"])] = Source(
                    str(values["db"]), str(values["rp"]), str(measurement)
                )
        return found

    def critical_alert(self, topic: str) -> CriticalAlert | None:
        """The topic's CRITICAL event, if it still has one."""
        for event in self.client.topic_events(topic, min_level="CRITICAL"):
            state = event.get("state") or {}
            if state.get("level") == "CRITICAL":
                return CriticalAlert(
                    alert_id=str(event["id"]),
                    time=parse_time(str(state["time"])),
                    duration_ns=go_duration_ns(str(state.get("duration") or "0s")),
                    message=str(state.get("message") or ""),
                )
        return None


def epoch_ns(time: datetime) -> int:
    """Nanoseconds since the epoch, exactly (InfluxDB's times; a float would round)."""
    return (time - _EPOCH) // timedelta(microseconds=1) * 1000


def go_duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration text such as ``1m30.5s`` or ``0s``."""
    parts = _GO_DURATION_PART.findall(text)
    return int(sum(float(number) * _GO_UNITS[unit] for number, unit in parts))


def fed_sources(influxdb: InfluxDBClient, sources: Iterable[Source], since_ns: int) -> set[Source]:
    """The sources with a point after ``since_ns``: one query per database, retention
    policy and chunk of measurements (``LIMIT 1`` applies per measurement)."""
    by_place: dict[tuple[str, str], list[Source]] = {}
    for source in sorted(set(sources), key=lambda s: (s.db, s.rp, s.measurement)):
        by_place.setdefault((source.db, source.rp), []).append(source)
    fed: set[Source] = set()
    for group in by_place.values():
        for start in range(0, len(group), _CHUNK):
            chunk = {source.measurement: source for source in group[start : start + _CHUNK]}
            names = ", ".join(source.influxql() for source in chunk.values())
            # Names quoted (task ids hold no quote), a number: nothing else goes in.
            statement = f"SELECT * FROM {names} WHERE time > {since_ns} LIMIT 1"  # noqa: S608
            for series in influxdb.query(statement):
                if series.values and series.name in chunk:
                    fed.add(chunk[series.name])
    return fed


def swept_alerts(
    kapacitor: KapacitorAlerts,
    influxdb: InfluxDBClient,
    *,
    tick: datetime,
    period_ns: int,
    outage_began: datetime | None,
) -> list[KapacitorAlert]:
    """The CRITICAL alerts to report again at ``tick``: devices CRITICAL since
    ``outage_began`` (or for any time, when unknown) with no point in the period
    before ``tick``."""
    topics = kapacitor.critical_device_topics()
    sources = kapacitor.sources(topics)
    tick_ns = epoch_ns(tick)
    fed = fed_sources(influxdb, sources.values(), tick_ns - period_ns)
    alerts: list[KapacitorAlert] = []
    for task_id in sorted(topics):
        if task_id in sources and sources[task_id] in fed:
            continue  # it sends its OK by itself
        critical = kapacitor.critical_alert(topics[task_id])
        if critical is None or (outage_began is not None and critical.time < outage_began):
            continue  # recovered meanwhile, or silent since before the outage
        began_ns = epoch_ns(critical.time) - critical.duration_ns
        alerts.append(
            KapacitorAlert(
                id=critical.alert_id,
                message=critical.message,
                time=tick.astimezone(UTC),
                duration=max(0, tick_ns - began_ns),
                level="CRITICAL",
                previousLevel="CRITICAL",
            )
        )
    return alerts
