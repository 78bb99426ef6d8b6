"""Task create/update/delete with the checks in the order ``task_store`` runs them
(contract §1.5 and §1.7; ``services/task_store/service.go`` of Kapacitor 1.7)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace

from ._errors import ApiError, TickError
from ._gojson import go_quote
from ._model import DISABLED, ENABLED, Task, Var
from ._request import TaskRequest
from ._store import Runtime, Store
from ._tickeval import dbrps_of, evaluate_task, task_type_of
from ._tickparse import Program, parse_program
from ._vars import VarConversionError, convert_vars, valid_id

__all__ = [
    "create_task",
    "delete_task",
    "program_of",
    "start_task",
    "stop_task",
    "update_task",
    "validation_error",
]


def program_of(script: str) -> Program:
    """Parse a script, answering 400 ``invalid TICKscript: ...`` when it fails."""
    try:
        return parse_program(script)
    except TickError as exc:
        raise ApiError(400, f"invalid TICKscript: {exc}") from None


def validation_error(script: str, variables: Mapping[str, Var]) -> str | None:
    """What ``newKapacitorTask`` would say about a task definition, if anything."""
    try:
        evaluate_task(parse_program(script), variables)
    except TickError as exc:
        return str(exc)
    return None


def _convert(request: TaskRequest) -> dict[str, Var]:
    try:
        return convert_vars(request.vars)
    except VarConversionError as exc:
        raise ApiError(400, str(exc)) from None


def _validate(program: Program, variables: Mapping[str, Var]) -> None:
    if task_type_of(program) == "invalid":
        raise ApiError(400, "invalid task type: invalid")
    try:
        evaluate_task(program, variables)
    except TickError as exc:
        raise ApiError(400, f"invalid TICKscript: {exc}") from None


def start_task(store: Store, task: Task, runtime: Runtime) -> Task:
    """Start a stored task. A start failure keeps it stored as enabled, not
    executing, with ``error`` set, and answers 500 with the raw error (row 13)."""
    problem = validation_error(task.script, task.vars) or runtime.start_error(task)
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


def create_task(store: Store, request: TaskRequest, runtime: Runtime) -> Task:
    with store.lock:
        task_id = request.id or str(uuid.uuid4())
        if not valid_id(task_id):
            raise ApiError(
                400,
                "task ID must contain only letters, numbers, '-', '.' and "
                f"'_'. {go_quote(task_id)}",
            )
        if task_id in store.tasks:
            raise ApiError(400, f"task {task_id} already exists")
        template_id = request.template_id
        if template_id:
            template = store.templates.get(template_id)
            if template is None:
                raise ApiError(400, f"unknown template {template_id}: err: no template exists")
            script = template.script
        elif not request.script:
            raise ApiError(400, "must provide TICKscript")
        else:
            script = request.script
        status = request.status or DISABLED
        variables = _convert(request)
        program = program_of(script)
        _validate(program, variables)
        script_dbrps = dbrps_of(program)
        if not script_dbrps and not request.dbrps:
            raise ApiError(400, "must specify dbrp")
        if script_dbrps and request.dbrps:
            raise ApiError(400, "cannot specify dbrp in both implicitly and explicitly")
        now = store.now()
        task = Task(
            id=task_id,
            template_id=template_id,
            type=task_type_of(program),
            dbrps=tuple(script_dbrps) or request.dbrps,
            script=script,
            vars=variables,
            status=status,
            executing=False,
            error="",
            created=now,
            modified=now,
            last_enabled=now if status == ENABLED else None,
        )
        store.tasks[task_id] = task
        if status == ENABLED:
            task = start_task(store, task, runtime)
        return task


def _definition(store: Store, original: Task, request: TaskRequest) -> tuple[str, str]:
    """The (template id, script) a PATCH ends up with, or an ApiError. The type
    always follows the script, so a body ``type`` has no lasting effect."""
    if request.template_id or original.template_id:
        template_id = request.template_id or original.template_id
        template = store.templates.get(template_id)
        if template is None:
            # Kapacitor names the template id from the body, "" when there was none.
            raise ApiError(400, f"unknown template {request.template_id}: err: no template exists")
        return template_id, template.script
    old_program = program_of(original.script)
    script = original.script
    if request.script:
        script = request.script
        new_program = program_of(script)
        if dbrps_of(old_program) and not dbrps_of(new_program) and not request.dbrps:
            raise ApiError(400, "must specify dbrp")
    return "", script


def update_task(store: Store, task_id: str, request: TaskRequest, runtime: Runtime) -> Task:
    with store.lock:
        original = store.tasks.get(task_id)
        if original is None:
            raise ApiError(404, "task does not exist, cannot update")
        template_id, script = _definition(store, original, request)
        program = program_of(script)
        dbrps = original.dbrps
        script_dbrps = tuple(dbrps_of(program))
        if script_dbrps and request.dbrps:
            raise ApiError(400, "cannot specify dbrp in implicitly and explicitly")
        dbrps = script_dbrps or request.dbrps or dbrps
        status = request.status or original.status
        changed = status != original.status
        # A non-empty vars map replaces the stored one wholesale (no merge).
        variables = _convert(request) if request.vars else original.vars
        _validate(program, variables)
        now = store.now()
        updated = replace(
            original,
            id=request.id or original.id,
            template_id=template_id,
            type=task_type_of(program),
            dbrps=dbrps,
            script=script,
            vars=variables,
            status=status,
            modified=now,
            last_enabled=now if changed and status == ENABLED else original.last_enabled,
        )
        if updated.id != original.id:
            # The new id is not checked against the id regex, as in Kapacitor.
            if updated.id in store.tasks:
                raise ApiError(
                    500, "failed to create new task during ID change: object already exists"
                )
            del store.tasks[original.id]
            runtime.forget(original.id)
            store.tasks[updated.id] = updated
            if original.status == ENABLED and status == ENABLED:
                updated = start_task(store, updated, runtime)
        else:
            store.tasks[updated.id] = updated
        if changed:
            # Only a status change starts or stops; otherwise nothing is reloaded.
            if status == ENABLED:
                updated = start_task(store, updated, runtime)
            else:
                updated = stop_task(store, updated)
        return updated


def delete_task(store: Store, task_id: str, runtime: Runtime) -> None:
    """Delete a task; a missing task is not an error (Kapacitor answers 204)."""
    with store.lock:
        if store.tasks.pop(task_id, None) is not None:
            runtime.forget(task_id)
