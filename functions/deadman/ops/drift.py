"""What the audit finds and reports: the tasks as listed, each device's drift
from its newest event, what a repair did, and the report with its exit code."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .._ordering import EventStamp, rfc3339
from .desired import DesiredState, NewestEvent

__all__ = [
    "ABSENT",
    "DISABLED_OR_ABSENT",
    "PLACEMENT_KINDS",
    "ActualTask",
    "AuditReport",
    "Drift",
    "DriftKind",
    "Fix",
    "FixResult",
]

ABSENT = "absent"
DISABLED_OR_ABSENT = "disabled or absent"


class DriftKind(enum.StrEnum):
    MISSING = "missing"  # desired a task, none there
    ORPHAN = "orphan"  # a task, but no event or the newest deletes it
    STATUS = "status_mismatch"  # enabled/disabled/not executing against the event
    # Kapacitor shards (KAPACITOR_URLS): a device's task on a shard that is not its
    # own (only there), or on its own and others too.
    MISPLACED = "misplaced"
    DUPLICATE = "duplicate"


# Drifts of where a task is, not of what it is.
PLACEMENT_KINDS = frozenset({DriftKind.MISPLACED, DriftKind.DUPLICATE})


class FixResult(enum.StrEnum):
    FIXED = "fixed"
    LEFT_ALONE = "left_alone"  # the task records a newer event than the topics
    KEPT = "kept"  # an orphan without events, and no --delete-orphans
    FAILED = "failed"


@dataclass(frozen=True)
class ActualTask:
    id: str
    device: str
    status: str
    executing: bool
    recorded: EventStamp | None
    # The key of the Kapacitor shard it was listed on.
    shard: str = ""

    @property
    def state(self) -> str:
        if self.status == "enabled" and not self.executing:
            return "enabled, not executing"
        return self.status


@dataclass(frozen=True)
class Fix:
    result: FixResult
    detail: str


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    device: str
    task_id: str
    desired: str
    actual: str
    event: NewestEvent | None
    recorded: EventStamp | None = None
    fix: Fix | None = None
    # With several shards: the key of the device's shard; for a placement drift
    # also where its task was found and the copy a move takes (``source``).
    shard: str = ""
    found_on: tuple[str, ...] = ()
    source: str = ""

    @property
    def newer_than_topic(self) -> bool:
        """The task records a newer event than the topics hold: the rules leave it
        (a task on the wrong shard moves all the same)."""
        if self.kind in PLACEMENT_KINDS:
            return False
        recorded, event = self.recorded, self.event
        return event is not None and recorded is not None and recorded.newer_than(event.stamp)

    @property
    def remaining(self) -> bool:
        """Still drift after this run (left-alone tasks follow a newer event)."""
        if self.newer_than_topic:
            return False
        return self.fix is None or self.fix.result in (FixResult.KEPT, FixResult.FAILED)

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind.value,
            "device": self.device,
            "task_id": self.task_id,
            "desired": self.desired,
            "actual": self.actual,
            "event": self.event.as_json() if self.event else None,
            "recorded_event_time": _iso(self.recorded),
            "newer_than_topic": self.newer_than_topic,
            "fix": {"result": self.fix.result, "detail": self.fix.detail} if self.fix else None,
        }
        if self.recorded is not None and self.recorded.position is not None:
            found["recorded_event_position"] = str(self.recorded.position)
        if self.shard:
            found["shard"] = self.shard
        if self.found_on:
            found["found_on"] = list(self.found_on)
        return found


@dataclass
class AuditReport:
    state: DesiredState
    tasks: int
    drifts: list[Drift]
    untracked: list[ActualTask]
    fix: bool
    delete_orphans: bool
    # (shard key, tasks listed there) per shard, in the configured order, then the
    # draining shards (being removed: every task there is misplaced).
    shards: tuple[tuple[str, int], ...] = ()
    draining: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 no drift (or all fixed), 1 drift remains, 2 a repair failed."""
        if any(d.fix is not None and d.fix.result is FixResult.FAILED for d in self.drifts):
            return 2
        return 1 if any(drift.remaining for drift in self.drifts) else 0

    def counts(self) -> dict[str, int]:
        results = [d.fix.result for d in self.drifts if d.fix is not None]
        return {
            "drift": len(self.drifts),
            "missing": sum(d.kind is DriftKind.MISSING for d in self.drifts),
            "orphan": sum(d.kind is DriftKind.ORPHAN for d in self.drifts),
            "status_mismatch": sum(d.kind is DriftKind.STATUS for d in self.drifts),
            "newer_than_topic": sum(d.newer_than_topic for d in self.drifts),
            "fixed": results.count(FixResult.FIXED),
            "kept": results.count(FixResult.KEPT),
            "failed": results.count(FixResult.FAILED),
            "remaining": sum(d.remaining for d in self.drifts),
            "untracked": len(self.untracked),
        }

    def as_json(self) -> dict[str, Any]:
        state = self.state
        return {
            "topics": list(state.topics),
            "records": state.records,
            "events": state.events,
            "ignored_events": state.ignored,
            "devices": len(state.newest),
            "history_complete": state.history_complete,
            "truncated_partitions": state.truncated,
            "unparseable": state.unparseable,
            "invalid_devices": state.invalid_devices,
            "problems": [problem.as_json() for problem in state.problems],
            "tasks": self.tasks,
            "fix": self.fix,
            "delete_orphans": self.delete_orphans,
            "drift": [drift.as_json() for drift in self.drifts],
            "untracked": [
                {"device": task.device, "task_id": task.id, "actual": task.state}
                for task in self.untracked
            ],
            "summary": self.counts(),
            "placement": self.placement(),
            "exit_code": self.exit_code,
        }

    def moved(self) -> list[tuple[str, str, str]]:
        """(device, from shard, to shard) of every task a repair moved."""
        return [
            (drift.device, drift.source, drift.shard)
            for drift in self.drifts
            if drift.kind is DriftKind.MISPLACED
            and drift.fix is not None
            and drift.fix.result is FixResult.FIXED
        ]

    def placement(self) -> dict[str, Any]:
        """Where the tasks are: per shard, and the drifts and moves of placement."""
        return {
            "shards": [{"shard": key, "tasks": tasks} for key, tasks in self.shards],
            "draining": list(self.draining),
            "misplaced": sum(d.kind is DriftKind.MISPLACED for d in self.drifts),
            "duplicate": sum(d.kind is DriftKind.DUPLICATE for d in self.drifts),
            "moved": [
                {"device": device, "from": source, "to": shard}
                for device, source, shard in self.moved()
            ],
        }


def _iso(stamp: EventStamp | None) -> str | None:
    return None if stamp is None else rfc3339(stamp.time)
