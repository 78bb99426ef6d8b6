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

    @property
    def newer_than_topic(self) -> bool:
        """The task records a newer event than the topics hold: the rules leave it."""
        recorded, event = self.recorded, self.event
        return event is not None and recorded is not None and recorded.newer_than(event.stamp)

    @property
    def remaining(self) -> bool:
        """Still drift after this run (left-alone tasks follow a newer event)."""
        if self.newer_than_topic:
            return False
        return self.fix is None or self.fix.result in (FixResult.KEPT, FixResult.FAILED)

    def as_json(self) -> dict[str, Any]:
        found = {
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
        return found


@dataclass
class AuditReport:
    state: DesiredState
    tasks: int
    drifts: list[Drift]
    untracked: list[ActualTask]
    fix: bool
    delete_orphans: bool

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
            "exit_code": self.exit_code,
        }


def _iso(stamp: EventStamp | None) -> str | None:
    return None if stamp is None else rfc3339(stamp.time)
