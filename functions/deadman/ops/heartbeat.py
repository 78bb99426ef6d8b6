"""The heartbeat: a canary that pulses through the very path device alerts take.

``install_heartbeat`` keeps one Kapacitor task, ``HEARTBEAT_TASK_ID``, made from
the bundled ``deadman_heartbeat.tick``: a deadman on a measurement that never
receives data and never stops alerting, so Kapacitor sends it a CRITICAL every
``HEARTBEAT_PERIOD`` through the same handler as device alerts (the
``[[httppost]]`` endpoint, or the Kafka event handler). The callback turns each
into a ``deadman-heartbeat`` CloudEvent on the events topic.

``check_heartbeat`` reads the events topic from twice the maximum age back (by
Kafka's time index, not the whole topic) and says whether the newest heartbeat,
by its event time, is fresh. A wrong ``[[httppost]]`` URL, a token mismatch, a
dead callback, a broken sink or a stopped Kapacitor all make it stale.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .._config import HeartbeatCheckSettings, InstallerSettings, influxql_duration_ns
from .._kapacitor import KapacitorClient
from .._ordering import parse_time, rfc3339
from ..binding import read_record
from .template import InstallResult, bundled_template, render_template
from .topics import RawRecord, read_records

__all__ = [
    "HEARTBEAT_SCRIPT",
    "HeartbeatState",
    "HeartbeatStatus",
    "check_heartbeat",
    "heartbeat_body",
    "install_heartbeat",
]

HEARTBEAT_SCRIPT = "deadman_heartbeat"
REMOVED = "removed"


def heartbeat_body(settings: InstallerSettings) -> dict[str, Any]:
    """The task as the installer wants it (script rendered for the delivery)."""
    assert settings.kapacitor_db is not None
    task_id = settings.heartbeat_task_id
    return {
        "id": task_id,
        "type": "batch",
        "dbrps": [{"db": settings.kapacitor_db, "rp": settings.kapacitor_rp}],
        "script": render_template(bundled_template(HEARTBEAT_SCRIPT), settings),
        "vars": {
            "db": {"type": "string", "value": settings.kapacitor_db},
            "rp": {"type": "string", "value": settings.kapacitor_rp},
            "id": {"type": "string", "value": task_id},
            "measurement": {"type": "string", "value": task_id},
            # Kapacitor stores durations as nanoseconds and returns them so.
            "period": {
                "type": "duration",
                "value": influxql_duration_ns(settings.heartbeat_period),
            },
        },
        "status": "enabled",
    }


def install_heartbeat(
    client: KapacitorClient, settings: InstallerSettings, *, dry_run: bool = False
) -> str:
    """Create, update or (with ``HEARTBEAT_ENABLED=false``) remove the heartbeat task.

    An existing task is left alone when it already is what the settings ask for;
    otherwise it is replaced by PATCH and, since PATCH does not reload a running
    task, disabled and enabled again to run the new definition.
    """
    task_id = settings.heartbeat_task_id
    existing = client.get_task(task_id)
    if not settings.heartbeat_enabled:
        if existing is not None and not dry_run:
            client.delete_task(task_id)
        return REMOVED if existing is not None else InstallResult.UNCHANGED.value
    wanted = heartbeat_body(settings)
    if existing is None:
        if not dry_run:
            client.create_task(wanted)
        return InstallResult.CREATED.value
    same_vars = {n: (v.get("type"), v.get("value")) for n, v in existing.vars.items()} == {
        n: (v["type"], v["value"]) for n, v in wanted["vars"].items()
    }
    same = existing.script.strip() == wanted["script"].strip() and same_vars
    if same and existing.status == "enabled" and existing.executing:
        return InstallResult.UNCHANGED.value
    if not dry_run:
        client.update_task(
            task_id, {k: wanted[k] for k in ("dbrps", "script", "vars")} | {"status": "disabled"}
        )
        client.update_task(task_id, {"status": "enabled"})
    return InstallResult.UPDATED.value


class HeartbeatState(enum.StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    ABSENT = "absent"


@dataclass(frozen=True)
class HeartbeatStatus:
    state: HeartbeatState
    topic: str
    max_age: timedelta
    newest: datetime | None = None
    age: timedelta | None = None
    seen: int = 0

    @property
    def exit_code(self) -> int:
        return 0 if self.state is HeartbeatState.FRESH else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "topic": self.topic,
            "max_age_seconds": self.max_age.total_seconds(),
            "newest": rfc3339(self.newest) if self.newest else None,
            "age_seconds": round(self.age.total_seconds(), 3) if self.age else None,
            "heartbeats_read": self.seen,
            "exit_code": self.exit_code,
        }

    def describe(self) -> str:
        limit = f"max age {self.max_age.total_seconds():g} s"
        if self.newest is None or self.age is None:
            window = (self.max_age * 2).total_seconds()
            return f"no heartbeat on {self.topic} in the last {window:g} s: absent ({limit})"
        return (
            f"newest heartbeat {self.age.total_seconds():.1f} s ago"
            f" ({self.newest.isoformat().replace('+00:00', 'Z')}) on {self.topic}:"
            f" {self.state.value} ({limit})"
        )


def check_heartbeat(
    settings: HeartbeatCheckSettings,
    bootstrap_servers: str,
    max_age: timedelta,
    *,
    topic: str | None = None,
    timeout: float = 30.0,
    now: datetime | None = None,
) -> HeartbeatStatus:
    """The newest heartbeat on the events topic, by event time, against ``max_age``."""
    topic = topic or settings.alerts_topic
    now = now or datetime.now(UTC)
    times: list[datetime] = []

    def keep(record: RawRecord) -> None:
        event = read_record(record.headers, record.value)
        attributes = event.attributes
        if attributes.get("type") != settings.alert_type_heartbeat:
            return
        if attributes.get("subject") != settings.heartbeat_task_id:
            return
        try:
            times.append(parse_time(attributes.get("time", "")))
        except ValueError:
            return

    since = now - 2 * max_age
    read_records(
        bootstrap_servers,
        [topic],
        keep,
        timeout=timeout,
        config=settings.kafka_consumer_config,
        since_ms=int(since.timestamp() * 1000),
    )
    if not times:
        return HeartbeatStatus(HeartbeatState.ABSENT, topic, max_age)
    newest = max(times)
    age = max(now - newest, timedelta(0))
    state = HeartbeatState.FRESH if age <= max_age else HeartbeatState.STALE
    return HeartbeatStatus(state, topic, max_age, newest, age, len(times))
