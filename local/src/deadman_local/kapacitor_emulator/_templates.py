"""Template create/update/delete (contract §2), including the re-rendering of
associated tasks that a template PATCH performs."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ._errors import ApiError
from ._gojson import go_quote
from ._model import ENABLED, Task, Template
from ._request import TemplateRequest
from ._store import Runtime, Store
from ._tasks import program_of, start_task, stop_task
from ._tickeval import dbrps_of, task_type_of
from ._vars import valid_id

__all__ = ["create_template", "delete_template", "update_template"]


def create_template(store: Store, request: TemplateRequest) -> Template:
    with store.lock:
        template_id = request.id or str(uuid.uuid4())
        if not valid_id(template_id):
            raise ApiError(
                400,
                "template ID must contain only letters, numbers, '-', '.' "
                f"and '_'. {go_quote(template_id)}",
            )
        if template_id in store.templates:
            raise ApiError(400, f"template {template_id} already exists")
        # An empty script parses to an empty program, hence "invalid task type".
        program = program_of(request.script)
        task_type = task_type_of(program)
        if task_type == "invalid":
            raise ApiError(400, "invalid task type: invalid")
        now = store.now()
        template = Template(
            id=template_id,
            type=task_type,
            script=request.script,
            error="",
            created=now,
            modified=now,
        )
        store.templates[template_id] = template
        return template


def _rerender(store: Store, task: Task, template: Template, dbrps_change: bool) -> Task:
    program = program_of(template.script)
    dbrps = tuple(dbrps_of(program)) if dbrps_change else task.dbrps
    updated = replace(
        task, template_id=template.id, script=template.script, type=template.type, dbrps=dbrps
    )
    store.tasks[task.id] = updated
    return updated


def update_template(
    store: Store, template_id: str, request: TemplateRequest, runtime: Runtime
) -> Template:
    """PATCH a template, then copy its script into every task made from it.

    Enabled tasks are restarted with their own vars. On the first failure every task
    touched so far is put back as it was and the call answers 500, but the template
    keeps its new script: Kapacitor saved it before touching the tasks.
    """
    with store.lock:
        original = store.templates.get(template_id)
        if original is None:
            raise ApiError(404, "template does not exist, cannot update")
        script = request.script or original.script
        program = program_of(script)
        task_type = task_type_of(program)
        if task_type == "invalid":
            raise ApiError(400, "invalid TICKscript: invalid task type: invalid")
        updated = replace(
            original,
            id=request.id or original.id,
            script=script,
            type=task_type,
            modified=store.now(),
        )
        if updated.id != original.id:
            if updated.id in store.templates:
                raise ApiError(
                    500, "failed to create new template for ID change: object already exists"
                )
            del store.templates[original.id]
        store.templates[updated.id] = updated
        dbrps_change = bool(dbrps_of(program_of(original.script)) or dbrps_of(program))
        associated = sorted(t.id for t in store.tasks.values() if t.template_id == original.id)
        touched: list[Task] = []
        for task_id in associated:
            before = store.tasks[task_id]
            touched.append(before)
            task = _rerender(store, before, updated, dbrps_change)
            if task.status != ENABLED:
                continue  # disabled tasks take the new script without validation
            try:
                start_task(store, stop_task(store, task), runtime)
            except ApiError as exc:
                for previous in touched:
                    store.tasks[previous.id] = previous
                raise ApiError(
                    500, f"error reloading associated task {task_id}: {exc.message}"
                ) from None
        return updated


def delete_template(store: Store, template_id: str) -> None:
    """Delete a template; its tasks stay (orphaned) and a missing one is no error."""
    with store.lock:
        store.templates.pop(template_id, None)
