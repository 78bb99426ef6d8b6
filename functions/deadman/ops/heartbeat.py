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

With several Kapacitor shards each has its own heartbeat task, whose ``shard``
var (its shard's key) comes back as the alert's details and, from the callback,
as the event's ``kapacitorshard`` extension; ``check_shard_heartbeats`` then
judges the newest heartbeat of each configured shard, so one silent shard shows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .._config import HeartbeatCheckSettings, InstallerSettings, influxql_duration_ns
from .._kapacitor import KapacitorClient
from .._ordering import parse_time, rfc3339
from .._shards import SHARD_EXTENSION
from ..binding import read_record
from ._keep_task import keep_task
from .template import InstallResult, bundled_template, render_template
from .topics import RawRecord, read_records

__all__ = [
    "HEARTBEAT_SCRIPT",
    "HeartbeatState",
    "HeartbeatStatus",
    "ShardHeartbeats",
    "check_heartbeat",
    "check_shard_heartbeats",
    "heartbeat_body",
    "install_heartbeat",
]

HEARTBEAT_SCRIPT = "deadman_heartbeat"
REMOVED = "removed"


def heartbeat_body(settings: InstallerSettings, shard: str = "") -> dict[str, Any]:
    """The task as the installer wants it on the shard ``shard`` (script rendered for
    the delivery)."""
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
            # Sent back as the alert's details: which Kapacitor the heartbeat is from.
            "shard": {"type": "string", "value": shard},
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
    if settings.heartbeat_enabled:
        return keep_task(client, heartbeat_body(settings, client.shard.key), dry_run=dry_run)
    existing = client.get_task(task_id)
    if existing is not None and not dry_run:
        client.delete_task(task_id)
    return REMOVED if existing is not None else InstallResult.UNCHANGED.value


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
    # The Kapacitor shard this is about; "" for the newest heartbeat of any.
    shard: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.state is HeartbeatState.FRESH else 1

    def as_json(self) -> dict[str, Any]:
        shard = {"shard": self.shard} if self.shard else {}
        return shard | {
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
        shard = f"shard {self.shard}: " if self.shard else ""
        if self.newest is None or self.age is None:
            window = (self.max_age * 2).total_seconds()
            return f"{shard}no heartbeat on {self.topic} in the last {window:g} s: absent ({limit})"
        return (
            f"{shard}newest heartbeat {self.age.total_seconds():.1f} s ago"
            f" ({self.newest.isoformat().replace('+00:00', 'Z')}) on {self.topic}:"
            f" {self.state.value} ({limit})"
        )


@dataclass(frozen=True)
class ShardHeartbeats:
    """The newest heartbeat of each configured shard."""

    statuses: tuple[HeartbeatStatus, ...]

    @property
    def state(self) -> HeartbeatState:
        """The worst: absent before stale before fresh."""
        states = {status.state for status in self.statuses}
        for state in (HeartbeatState.ABSENT, HeartbeatState.STALE):
            if state in states:
                return state
        return HeartbeatState.FRESH

    @property
    def exit_code(self) -> int:
        return max(status.exit_code for status in self.statuses)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "shards": [status.as_json() for status in self.statuses],
            "exit_code": self.exit_code,
        }

    def describe(self) -> str:
        return "\n".join(status.describe() for status in self.statuses)


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
    by_shard = _read_heartbeats(settings, bootstrap_servers, topic, now - 2 * max_age, timeout)
    times = [time for shard_times in by_shard.values() for time in shard_times]
    return _judge(times, topic, max_age, now)


def check_shard_heartbeats(
    settings: HeartbeatCheckSettings,
    bootstrap_servers: str,
    max_age: timedelta,
    *,
    topic: str | None = None,
    timeout: float = 30.0,
    now: datetime | None = None,
) -> ShardHeartbeats:
    """The newest heartbeat of each shard of the settings, each against ``max_age``;
    heartbeats of shards no longer configured are not looked at."""
    topic = topic or settings.alerts_topic
    now = now or datetime.now(UTC)
    by_shard = _read_heartbeats(settings, bootstrap_servers, topic, now - 2 * max_age, timeout)
    return ShardHeartbeats(
        tuple(
            _judge(by_shard.get(shard.key, []), topic, max_age, now, shard.key)
            for shard in settings.shards
        )
    )


def _read_heartbeats(
    settings: HeartbeatCheckSettings,
    bootstrap_servers: str,
    topic: str,
    since: datetime,
    timeout: float,
) -> dict[str, list[datetime]]:
    """The event times of the heartbeats on ``topic`` since ``since``, by the shard
    they name ("" for none)."""
    found: dict[str, list[datetime]] = {}

    def keep(record: RawRecord) -> None:
        event = read_record(record.headers, record.value)
        attributes = event.attributes
        if attributes.get("type") != settings.alert_type_heartbeat:
            return
        if attributes.get("subject") != settings.heartbeat_task_id:
            return
        try:
            time = parse_time(attributes.get("time", ""))
        except ValueError:
            return
        found.setdefault(str(attributes.get(SHARD_EXTENSION) or ""), []).append(time)

    read_records(
        bootstrap_servers,
        [topic],
        keep,
        timeout=timeout,
        config=settings.kafka_consumer_config,
        since_ms=int(since.timestamp() * 1000),
    )
    return found


def _judge(
    times: list[datetime], topic: str, max_age: timedelta, now: datetime, shard: str = ""
) -> HeartbeatStatus:
    if not times:
        return HeartbeatStatus(HeartbeatState.ABSENT, topic, max_age, shard=shard)
    newest = max(times)
    age = max(now - newest, timedelta(0))
    state = HeartbeatState.FRESH if age <= max_age else HeartbeatState.STALE
    return HeartbeatStatus(state, topic, max_age, newest, age, len(times), shard)
