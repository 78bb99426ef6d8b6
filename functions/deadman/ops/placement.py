"""The audit across Kapacitor shards: tasks on a shard that is not their device's.

After ``KAPACITOR_URLS`` changes (a shard added or removed), a device's task may
sit on a shard that is no longer its own; a task may also be on several shards.
``locate`` folds the tasks listed on every shard into one task per device, the one
the lifecycle rules are compared with: the copy on the device's own shard, else
the copy recording the newest event. ``placement_drifts`` reports the rest:

* ``misplaced``: the device's task is only on other shards;
* ``duplicate``: it is on its own shard and on others too.

``repair_placement`` moves a misplaced task without ever leaving its device
without one: it creates the task on the device's shard with the same definition
and status (template or script, dbrps, every var, the ``deadman_*`` bookkeeping
included), reads it back there (executing, when enabled), and only then deletes
it on the other shards. A duplicate loses its other copies once the copy on the
device's shard is confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import DeadmanError, TaskAlreadyExistsError
from .._kapacitor import KapacitorClient, Task
from .._shard_clients import KapacitorShards
from .desired import DesiredState
from .drift import ActualTask, Drift, DriftKind, Fix, FixResult

__all__ = ["locate", "placement_drifts", "repair_placement"]

# What a copy of a task keeps of each var (Kapacitor also answers a description).
_VAR_KEYS = ("type", "value")


def locate(
    listed: Mapping[str, Mapping[str, ActualTask]], shards: KapacitorShards
) -> tuple[dict[str, ActualTask], dict[str, tuple[str, ...]]]:
    """Per device, its one task (see the module's documentation), and where its
    tasks are for the devices whose tasks are not only on their own shard.
    ``listed``: each shard's tasks by device, draining shards included."""
    copies: dict[str, list[ActualTask]] = {}
    for tasks_listed in listed.values():
        for device, task in tasks_listed.items():
            copies.setdefault(device, []).append(task)
    actual: dict[str, ActualTask] = {}
    misplaced: dict[str, tuple[str, ...]] = {}
    for device, tasks in copies.items():
        home = shards.shard_of(device)
        actual[device] = _effective(tasks, home)
        if [task.shard for task in tasks] != [home]:
            misplaced[device] = tuple(task.shard for task in tasks)
    return actual, misplaced


def _effective(tasks: list[ActualTask], home: str) -> ActualTask:
    """The copy on ``home``, else the one recording the newest event (the first
    listed when none is newer)."""
    for task in tasks:
        if task.shard == home:
            return task
    newest = tasks[0]
    for task in tasks[1:]:
        if task.recorded is not None and (
            newest.recorded is None or task.recorded.newer_than(newest.recorded)
        ):
            newest = task
    return newest


def placement_drifts(
    state: DesiredState,
    actual: Mapping[str, ActualTask],
    misplaced: Mapping[str, tuple[str, ...]],
    shards: KapacitorShards,
) -> list[Drift]:
    """One drift per device whose tasks are not only on its own shard."""
    drifts = []
    for device in sorted(misplaced):
        task, found_on, home = actual[device], misplaced[device], shards.shard_of(device)
        kind = DriftKind.DUPLICATE if home in found_on else DriftKind.MISPLACED
        drifts.append(
            Drift(
                kind,
                device,
                task.id,
                f"on {home}",
                "on " + ", ".join(found_on),
                state.newest.get(device),
                task.recorded,
                shard=home,
                found_on=found_on,
                source=task.shard,
            )
        )
    return drifts


def repair_placement(drift: Drift, shards: KapacitorShards) -> Fix:
    """Move the task to the device's shard (or keep the copy already there), then
    delete the other copies; nothing is deleted unless the device's shard has it."""
    home = shards.client(drift.shard)
    try:
        if drift.kind is DriftKind.MISPLACED:
            source = shards.client(drift.source).get_task(drift.task_id)
            if source is None:
                return Fix(FixResult.FAILED, f"gone from {drift.source} meanwhile: audit again")
            made = f"moved from {drift.source} to {drift.shard} ({_copy(source, home)})"
        else:
            made = f"kept the copy on {drift.shard}"
            source = home.get_task(drift.task_id)
            if source is None:
                return Fix(FixResult.FAILED, f"gone from {drift.shard} meanwhile: audit again")
        unconfirmed = _unconfirmed(home, source)
        if unconfirmed:
            return Fix(FixResult.FAILED, f"{unconfirmed}; the other copies are kept")
        others = [key for key in drift.found_on if key != drift.shard]
        for key in others:
            shards.client(key).delete_task(drift.task_id)
    except DeadmanError as error:
        return Fix(FixResult.FAILED, error.message)
    return Fix(FixResult.FIXED, f"{made}; deleted it on {', '.join(others)}")


def _copy(task: Task, home: KapacitorClient) -> str:
    """Create ``task`` as it is on ``home``; what was done."""
    try:
        home.create_task(_definition(task))
    except TaskAlreadyExistsError:
        # Made there meanwhile (a lifecycle event already routed to this shard).
        return "it was there already"
    return f"created {task.status}"


def _unconfirmed(home: KapacitorClient, source: Task) -> str:
    """Why the task on ``home`` cannot stand for ``source``; "" when it can."""
    there = home.get_task(source.id)
    if there is None:
        return f"not found on {home.shard.key} after creating it"
    if there.status == "enabled" and not there.executing:
        return f"enabled on {home.shard.key} but not executing: {there.error}"
    return ""


def _definition(task: Task) -> dict[str, Any]:
    """A create body that makes ``task`` again: same template (or script), dbrps,
    vars and status."""
    body: dict[str, Any] = {
        "id": task.id,
        "dbrps": [dict(dbrp) for dbrp in task.dbrps],
        "vars": {
            name: {key: var[key] for key in _VAR_KEYS if key in var}
            for name, var in task.vars.items()
        },
        "status": task.status,
    }
    if task.template_id:
        body["template-id"] = task.template_id
    else:
        body |= {"type": task.type, "script": task.script}
    return body
