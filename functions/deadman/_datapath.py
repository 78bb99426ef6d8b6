"""What ``INFLUXDB_URL`` adds to the alert callback: the data path's health.

When InfluxDB stalls, every deadman fires CRITICAL within one period. The
data-path task (``ops/datapath.py``) posts a verdict at every tick of the devices'
period, INFO or CRITICAL, through the same handler as device alerts, and records
it in InfluxDB. The callback then:

* turns the verdict's transitions into ``deadman-datapath-degraded`` (CRITICAL
  after anything else) and ``deadman-datapath-restored`` (anything after
  CRITICAL) events; the other ticks are counted, not published;
* marks a device's CRITICAL alert at tick T with the extension
  ``datapath=degraded`` when the data path was unhealthy at T: InfluxDB does not
  answer a ``/ping`` now, or the verdict at T is CRITICAL, or still absent after a
  short wait (the verdict may come after the device's alert), or the verdict at
  the next tick, when it already exists (an alert handled late), is CRITICAL.
  Probes and verdict reads are single-flight and kept briefly: a storm of
  thousands of alerts costs a handful of requests. OK alerts are never marked;
* on restored, sweeps (``_datapath_sweep``): devices still CRITICAL since the
  outage and silent in the last period are reported again, unmarked.

Where the verdicts are and the period come from the data-path task's vars on
Kapacitor: the installed task is the one place they are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Self

from cloudevents.http import CloudEvent

from ._alerts import AlertMapper, KapacitorAlert
from ._config import AlertSettings, KapacitorSettings, load_settings
from ._datapath_sweep import KapacitorAlerts, epoch_ns, swept_alerts
from ._exceptions import InfluxDBUnavailableError, KapacitorError, KapacitorUnavailableError
from ._influxdb import InfluxDBClient, quoted
from ._kapacitor import KapacitorClient, Task
from ._logging import get_logger
from ._ordering import rfc3339
from ._shard_clients import KapacitorShards
from ._singleflight import SingleFlight
from ._task_ids import DATAPATH_TASK_ID

__all__ = ["DATAPATH_EXTENSION", "DEGRADED", "DataPath", "VerdictTask"]

# The CloudEvent extension attribute on device alerts sent while the path is down.
DATAPATH_EXTENSION = "datapath"
DEGRADED = "degraded"
_PROBE_KEEP_SECONDS = 1.5
# How long a device alert waits for its tick's verdict (written within
# milliseconds of the tick, by the data-path task's own goroutine).
_VERDICT_WAIT_SECONDS = 5.0
_VERDICT_POLL_SECONDS = 0.2
_TASK_KEEP_SECONDS = 60.0
# A tick's verdict, once read, does not change.
_VERDICT_KEEP_SECONDS = 300.0
_TASK_RETRY_SECONDS = 5.0

_log = get_logger("datapath")


@dataclass(frozen=True)
class VerdictTask:
    """The data-path task as installed: its period and where it records verdicts."""

    period_ns: int
    db: str
    rp: str
    measurement: str

    @classmethod
    def from_task(cls, task: Task) -> VerdictTask | None:
        values = {name: task.var_value(name) for name in ("period", "db", "rp", "measurement")}
        if not isinstance(values["period"], int) or not all(values.values()):
            return None
        period, db, rp, measurement = values.values()
        return cls(int(period), str(db), str(rp), str(measurement))

    def select(self, what: str, where: str) -> str:
        """A query of the verdicts (the caller's ``what`` and ``where`` are its own)."""
        place = f"{quoted(self.db)}.{quoted(self.rp)}.{quoted(self.measurement)}"
        return f"SELECT {what} FROM {place} WHERE {where}"  # noqa: S608 - names quoted


class DataPath:
    """The callback's part of the data-path check; thread-safe, one per process."""

    def __init__(
        self,
        settings: AlertSettings,
        mapper: AlertMapper,
        kapacitor: KapacitorShards,
        influxdb: InfluxDBClient,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.mapper = mapper
        self.kapacitor = kapacitor
        self.influxdb = influxdb
        self._clock = clock
        self._sleep = sleep
        self._probes: SingleFlight[str, bool] = SingleFlight(max_keys=1)
        self._tasks: SingleFlight[str, VerdictTask | None] = SingleFlight(max_keys=1)
        self._verdicts: SingleFlight[int, list[str]] = SingleFlight(max_keys=64)

    @classmethod
    def from_settings(cls, settings: AlertSettings, mapper: AlertMapper) -> DataPath:
        # The sweep reads every shard (KAPACITOR_URL or KAPACITOR_URLS): a device
        # silent across the outage may be on any of them.
        kapacitor = KapacitorShards.from_settings(load_settings(KapacitorSettings))
        return cls(settings, mapper, kapacitor, InfluxDBClient.from_settings(settings))

    def close(self) -> None:
        self.kapacitor.close()
        self.influxdb.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def is_verdict(alert: KapacitorAlert) -> bool:
        return alert.id == DATAPATH_TASK_ID

    # Verdicts

    def transition_event(self, alert: KapacitorAlert) -> CloudEvent | None:
        """``degraded`` or ``restored`` for a verdict that changes the path's state;
        None for the ticks in between."""
        if alert.level == "CRITICAL" and alert.previousLevel != "CRITICAL":
            event_type = self.settings.alert_type_datapath_degraded
        elif alert.level != "CRITICAL" and alert.previousLevel == "CRITICAL":
            event_type = self.settings.alert_type_datapath_restored
        else:
            return None
        data = {
            "taskId": alert.id,
            "level": alert.level,
            "previousLevel": alert.previousLevel,
            "message": alert.message,
            "time": rfc3339(alert.time),
        }
        return self.mapper.event(alert, event_type, alert.id, data)

    def is_restored(self, event: CloudEvent) -> bool:
        return bool(event["type"] == self.settings.alert_type_datapath_restored)

    def swept_events(self, restored: KapacitorAlert) -> list[CloudEvent]:
        """Devices CRITICAL since the outage began and silent in the last period, as
        unmarked CRITICAL events at the restoring tick (see ``_datapath_sweep``)."""
        task = self._task()
        if task is None:
            raise KapacitorUnavailableError(
                f"no usable data-path task {DATAPATH_TASK_ID} on {self._verdict_shard().url}:"
                " the devices silent across the outage cannot be swept",
                method="GET",
                path=f"/tasks/{DATAPATH_TASK_ID}",
            )
        tick_ns = epoch_ns(restored.time)
        healthy = self.influxdb.query(
            task.select('last("returned")', f"\"level\" = 'INFO' AND time < {tick_ns}")
        )
        rows = [row for series in healthy for row in series.rows()]
        began = _from_ns(int(rows[0]["time"])) if rows else None
        alerts = [
            alert
            for client in self.kapacitor
            for alert in swept_alerts(
                KapacitorAlerts(client, self.mapper.ids),
                self.influxdb,
                tick=restored.time,
                period_ns=task.period_ns,
                outage_began=began,
            )
        ]
        events = [self.mapper.to_event(alert) for alert in alerts]
        return [event for event in events if event is not None]

    # Device alerts

    def mark(self, alert: KapacitorAlert, event: CloudEvent) -> bool:
        """Mark a device's CRITICAL alert sent while the data path was unhealthy."""
        if alert.level != "CRITICAL" or self.mapper.ids.device_of(alert.id) is None:
            return False
        if not self.unhealthy_at(alert.time):
            return False
        event[DATAPATH_EXTENSION] = DEGRADED
        return True

    def unhealthy_at(self, tick: datetime) -> bool:
        if not self._answers_now():
            return True
        task = self._task()
        if task is None:
            return False  # no verdicts to read: the probe alone decides (logged)
        tick_ns = epoch_ns(tick)
        try:
            levels = self._verdicts.get(tick_ns, lambda: self._read_verdicts(task, tick_ns))
        except InfluxDBUnavailableError:
            return True
        # The verdict of the tick T falls in (T itself, at the devices' period), and
        # the next one when it exists already: an alert handled late learns that an
        # outage begun just before T was still on at the next tick.
        return not levels or levels[0] != "INFO" or levels[1:2] == ["CRITICAL"]

    def _answers_now(self) -> bool:
        def probe() -> tuple[bool, float]:
            try:
                self.influxdb.ping()
            except InfluxDBUnavailableError as error:
                _log.warning(
                    "InfluxDB does not answer: device alerts are marked datapath=degraded",
                    extra={"fields": {"influxdb_url": self.influxdb.url, "error": error.message}},
                )
                return False, _PROBE_KEEP_SECONDS
            return True, _PROBE_KEEP_SECONDS

        return self._probes.get("ping", probe)

    def _read_verdicts(self, task: VerdictTask, tick_ns: int) -> tuple[list[str], float]:
        """The levels of the verdicts from the tick on (two periods), in time order,
        waiting (up to a bound from the tick) for the first; none yet is asked again
        by a later alert."""
        give_up = min(
            _from_ns(tick_ns) + timedelta(seconds=_VERDICT_WAIT_SECONDS),
            self._clock() + timedelta(seconds=_VERDICT_WAIT_SECONDS),
        )
        until = tick_ns + 2 * task.period_ns
        statement = task.select('"returned", "level"', f"time >= {tick_ns} AND time < {until}")
        while True:
            rows = [row for series in self.influxdb.query(statement) for row in series.rows()]
            times = sorted(
                (int(row["time"]), str(row["level"])) for row in rows if row.get("level")
            )
            if times:
                return [level for _, level in times], _VERDICT_KEEP_SECONDS
            if self._clock() >= give_up:
                return [], _VERDICT_POLL_SECONDS
            self._sleep(_VERDICT_POLL_SECONDS)

    def _task(self) -> VerdictTask | None:
        def read() -> tuple[VerdictTask | None, float]:
            try:
                task = self._verdict_shard().get_task(DATAPATH_TASK_ID)
            except KapacitorError as error:
                _log.error(
                    "the data-path task could not be read: device alerts are marked by the"
                    " InfluxDB probe alone",
                    extra={"fields": {"error": error.message}},
                )
                return None, _TASK_RETRY_SECONDS
            found = None if task is None else VerdictTask.from_task(task)
            if found is None:
                _log.error(
                    f"no usable data-path task {DATAPATH_TASK_ID} on {self._verdict_shard().url}"
                    " (deadmanctl install-template with INFLUXDB_URL installs it): device"
                    " alerts are marked by the InfluxDB probe alone",
                )
                return None, _TASK_RETRY_SECONDS
            return found, _TASK_KEEP_SECONDS

        return self._tasks.get("task", read)

    def _verdict_shard(self) -> KapacitorClient:
        # Every shard's installer puts the same data-path task (same vars) on it: the
        # first configured shard's says where the verdicts are written.
        return next(iter(self.kapacitor))


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
