"""Task create/update/delete with the checks in the order Kapacitor's task store
runs them (``services/task_store/service.go``), as far as the product meets them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace

from deadman import task_id_problem

from ._gofmt import go_quote
from ._http import ApiError
from ._model import DISABLED, ENABLED, Task, Var
from ._request import TaskRequest
from ._script import Script, read_script
from ._store import Store

__all__ = ["create_task", "delete_task", "start_task", "stop_task", "update_task", "valid_id"]


def valid_id(text: str) -> bool:
    """Kapacitor's task id rule, the product's (``deadman.task_id_problem``); Kapacitor
    itself takes ids of dots only, which the product refuses for its own reasons."""
    return bool(text) and not task_id_problem(text, part=True)


def _validate(script: Script, variables: Mapping[str, Var]) -> None:
    if script.type == "invalid":
        raise ApiError(400, "invalid task type: invalid")
    problem = script.problem(variables)
    if problem is not None:
        raise ApiError(400, f"invalid TICKscript: {problem}")


def start_task(store: Store, task: Task, fail: str | None = None) -> Task:
    """Start a stored task. A start failure (``fail`` forces one) keeps it stored
    as enabled, not executing, with ``error`` set, and answers 500 with the raw
    error: Kapacitor's "500 but stored"."""
    problem = fail or read_script(task.script).problem(task.vars)
    if problem is not None:
        failed = replace(task, executing=False, error=problem, running_script=None, running_vars={})
        store.tasks[task.id] = failed
        raise ApiError(500, problem)
    # The running definition is frozen here: later PATCHes do not reach it.
    started = replace(
        task, executing=True, error="", running_script=task.script, running_vars=dict(task.vars)
    )
    store.tasks[task.id] = started
    return started


def stop_task(store: Store, task: Task) -> Task:
    stopped = replace(task, executing=False, running_script=None, running_vars={})
    store.tasks[task.id] = stopped
    return stopped


def create_task(store: Store, request: TaskRequest, fail_start: str | None = None) -> Task:
    with store.lock:
        task_id = request.id or str(uuid.uuid4())
        if not valid_id(task_id):
            raise ApiError(
                400,
                "task ID must contain only letters, numbers, '-', '.' and '_'. "
                + go_quote(task_id),
            )
        if task_id in store.tasks:
            raise ApiError(400, f"task {task_id} already exists")
        template_id = request.template_id
        if template_id:
            template = store.templates.get(template_id)
            if template is None:
                raise ApiError(400, f"unknown template {template_id}: err: no template exists")
            source = template.script
        elif not request.script:
            raise ApiError(400, "must provide TICKscript")
        else:
            source = request.script
        script = read_script(source)
        _validate(script, request.vars)
        if not request.dbrps:
            raise ApiError(400, "must specify dbrp")
        status, now = request.status or DISABLED, store.now()
        task = Task(
            id=task_id,
            template_id=template_id,
            type=script.type,
            dbrps=request.dbrps,
            script=source,
            vars=request.vars,
            status=status,
            executing=False,
            error="",
            created=now,
            modified=now,
            last_enabled=now if status == ENABLED else None,
        )
        store.tasks[task_id] = task
        return start_task(store, task, fail_start) if status == ENABLED else task


def update_task(store: Store, task_id: str, request: TaskRequest) -> Task:
    with store.lock:
        original = store.tasks.get(task_id)
        if original is None:
            raise ApiError(404, "task does not exist, cannot update")
        if request.id and request.id != task_id:
            # Kapacitor renames the task; the product never asks for it.
            raise ApiError(400, "the emulator does not rename tasks")
        template_id = request.template_id or original.template_id
        source = request.script or original.script
        if template_id:
            template = store.templates.get(template_id)
            if template is None:
                # Kapacitor names the template id from the body, "" when there was none.
                raise ApiError(
                    400, f"unknown template {request.template_id}: err: no template exists"
                )
            source = template.script
        script = read_script(source)
        # A non-empty vars map replaces the stored one wholesale (no merge).
        variables = request.vars or original.vars
        _validate(script, variables)
        status, now = request.status or original.status, store.now()
        changed = status != original.status
        updated = replace(
            original,
            template_id=template_id,
            type=script.type,
            dbrps=request.dbrps or original.dbrps,
            script=source,
            vars=variables,
            status=status,
            modified=now,
            last_enabled=now if changed and status == ENABLED else original.last_enabled,
        )
        store.tasks[task_id] = updated
        if not changed:
            return updated  # only a status change starts or stops: nothing is reloaded
        return start_task(store, updated) if status == ENABLED else stop_task(store, updated)


def delete_task(store: Store, task_id: str) -> None:
    """Delete a task; a missing task is not an error (Kapacitor answers 204)."""
    with store.lock:
        if store.tasks.pop(task_id, None) is not None:
            store.forget(task_id)
