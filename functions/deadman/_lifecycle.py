"""The lifecycle rules: what each event does to a device's Kapacitor task.

| action   | task present                  | task missing                 |
|----------|-------------------------------|------------------------------|
| created  | ensure it exists (create status) | create it                 |
| enabled  | status enabled                | create it enabled (fallback) |
| disabled | status disabled               | nothing to do                |
| deleted  | delete it                     | nothing to do                |

Order safety: every write records the inner event's stamp (its ``time`` and,
from Debezium, its binlog position; see ``_ordering``) and its id in task vars
that the script does not declare; Kapacitor stores them. An event older than the
recorded one is acknowledged and changes nothing, so retries, dead-letter
replays and several sources may deliver late and out of order.

A task is stopped or started only when its state needs it: a status change, a
change of a var the script uses (PATCH does not reload a running task), or an
enabled task that is not running. Recording a newer stamp is a PATCH of vars
alone, which a running task ignores: stopping tasks while others start is what
wedges Kapacitor (kapacitor#1829), so no stop is ever spent on bookkeeping.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import (
    DeadmanError,
    KapacitorUnavailableError,
    TaskAlreadyExistsError,
    TaskMissingError,
)
from ._kapacitor import KapacitorClient, Task
from ._lifecycle_types import Action
from ._ordering import EVENT_ID_VAR, EventStamp
from ._shard_clients import KapacitorShards
from ._task_ids import TaskIds

__all__ = ["BOOKKEEPING_PREFIX", "DeviceOutcome", "Result", "TaskRules"]

# Vars under this prefix record what was applied; no script uses them.
BOOKKEEPING_PREFIX = "deadman_"


class Result(enum.StrEnum):
    """How one device's action ended."""

    APPLIED = "applied"
    ALREADY_IN_STATE = "already_in_state"
    STALE = "stale"
    FAILED = "failed"


@dataclass(frozen=True)
class DeviceOutcome:
    device: str
    task_id: str
    action: Action
    result: Result
    detail: str = ""
    error: DeadmanError | None = None


@dataclass(frozen=True)
class TaskRules:
    """Applies one action to one device's task, on the Kapacitor shard that holds it."""

    kapacitor: KapacitorShards
    template_id: str
    db: str
    rp: str
    ids: TaskIds
    create_status: str
    extra_vars: Mapping[str, Mapping[str, Any]]

    def apply(self, device: str, action: Action, stamp: EventStamp, event_id: str) -> DeviceOutcome:
        """Apply ``action``; permanent and transient errors come back as FAILED."""
        task_id = self.ids.task_id(device)
        try:
            self.ids.check(device)
            step = _STEPS[action]
            client = self.kapacitor.client_for(device)
            result, detail = step(self, client, task_id, device, action, stamp, event_id)
        except DeadmanError as error:
            return DeviceOutcome(device, task_id, action, Result.FAILED, error.message, error)
        return DeviceOutcome(device, task_id, action, result, detail)

    # One function per action; each returns (result, detail).

    def _ensure_status(
        self,
        client: KapacitorClient,
        task_id: str,
        device: str,
        action: Action,
        stamp: EventStamp,
        event_id: str,
    ) -> tuple[Result, str]:
        wanted = "enabled" if action is Action.ENABLE else self.create_status
        task = client.get_task(task_id)
        if task is None:
            try:
                client.create_task(self._create_body(task_id, device, wanted, stamp, event_id))
                return Result.APPLIED, f"created {wanted}"
            except TaskAlreadyExistsError:
                # A concurrent delivery created it between our GET and POST.
                task = client.get_task(task_id)
                if task is None:
                    raise
        return self._converge(client, task, device, wanted, stamp, event_id)

    def _disable(
        self,
        client: KapacitorClient,
        task_id: str,
        device: str,
        action: Action,
        stamp: EventStamp,
        event_id: str,
    ) -> tuple[Result, str]:
        task = client.get_task(task_id)
        if task is None:
            return Result.ALREADY_IN_STATE, "no task"
        try:
            return self._converge(client, task, device, "disabled", stamp, event_id)
        except TaskMissingError:
            return Result.ALREADY_IN_STATE, "no task"

    def _delete(
        self,
        client: KapacitorClient,
        task_id: str,
        device: str,
        action: Action,
        stamp: EventStamp,
        event_id: str,
    ) -> tuple[Result, str]:
        task = client.get_task(task_id)
        if task is None:
            return Result.ALREADY_IN_STATE, "no task"
        stale = _stale(task, stamp)
        if stale:
            return Result.STALE, stale
        client.delete_task(task_id)
        return Result.APPLIED, "deleted"

    # Helpers

    def _converge(
        self,
        client: KapacitorClient,
        task: Task,
        device: str,
        wanted: str,
        stamp: EventStamp,
        event_id: str,
    ) -> tuple[Result, str]:
        stale = _stale(task, stamp)
        if stale:
            return Result.STALE, stale
        recorded = EventStamp.recorded(task.vars)
        desired_vars = self._vars(task.id, device, stamp, event_id)
        definition_changed = _definition(task.vars) != _definition(desired_vars)
        if wanted == "enabled" and task.status == "enabled" and not task.executing:
            # Stored enabled but not running (a start that failed, e.g. a create that
            # answered 500): start it again, and fail loudly if it still does not run.
            client.update_task(task.id, {"status": "disabled", "vars": desired_vars})
            restarted = client.update_task(task.id, {"status": "enabled"})
            if not restarted.executing:
                raise KapacitorUnavailableError(
                    f"task {task.id} is enabled but does not run: {restarted.error}"
                )
            return Result.APPLIED, "enabled; restarted a task that was not running"
        if task.status == wanted and not definition_changed:
            if recorded is not None and not stamp.newer_than(recorded):
                return Result.ALREADY_IN_STATE, wanted
            # Same state, newer event: record its stamp, or a late older event of
            # the opposite kind would still look newer than the task. A PATCH of
            # vars alone: a running task is not reloaded, nor need it be.
            client.update_task(task.id, {"vars": desired_vars})
            return Result.ALREADY_IN_STATE, f"{wanted}; recorded event time"
        if task.status != wanted:
            # A status change to enabled starts the task with the vars sent along.
            client.update_task(task.id, {"status": wanted, "vars": desired_vars})
            return Result.APPLIED, wanted
        client.update_task(task.id, {"vars": desired_vars})
        if wanted == "enabled":
            # PATCH never reloads a running task: cycle it so the new vars apply.
            client.update_task(task.id, {"status": "disabled"})
            client.update_task(task.id, {"status": "enabled"})
        return Result.APPLIED, f"{wanted}; vars updated"

    def _create_body(
        self, task_id: str, device: str, status: str, stamp: EventStamp, event_id: str
    ) -> dict[str, Any]:
        return {
            "id": task_id,
            "template-id": self.template_id,
            "dbrps": [{"db": self.db, "rp": self.rp}],
            "vars": self._vars(task_id, device, stamp, event_id),
            "status": status,
        }

    def _vars(
        self, task_id: str, device: str, stamp: EventStamp, event_id: str
    ) -> dict[str, dict[str, Any]]:
        # PATCH replaces the whole var map, so every write sends all of them.
        variables: dict[str, dict[str, Any]] = {
            "name": {"type": "string", "value": task_id},
            "measurement": {"type": "string", "value": device},
            "db": {"type": "string", "value": self.db},
            "rp": {"type": "string", "value": self.rp},
        }
        variables.update({name: dict(var) for name, var in self.extra_vars.items()})
        variables.update(stamp.task_vars())
        variables[EVENT_ID_VAR] = {"type": "string", "value": event_id}
        return variables


_Step = Callable[
    [TaskRules, KapacitorClient, str, str, Action, EventStamp, str], tuple[Result, str]
]
_STEPS: dict[Action, _Step] = {
    Action.CREATE: TaskRules._ensure_status,
    Action.ENABLE: TaskRules._ensure_status,
    Action.DISABLE: TaskRules._disable,
    Action.DELETE: TaskRules._delete,
}


def _definition(variables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The vars that shape what the task does (bookkeeping vars left out)."""
    return {
        name: (var.get("type"), var.get("value"))
        for name, var in variables.items()
        if not name.startswith(BOOKKEEPING_PREFIX)
    }


def _stale(task: Task, stamp: EventStamp) -> str:
    """Why the event is older than what the task records; "" when it is not."""
    recorded = EventStamp.recorded(task.vars)
    if recorded is None or not recorded.newer_than(stamp):
        return ""
    return f"task records a newer event ({recorded.describe()})"
