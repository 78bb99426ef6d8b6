"""Template create/update/delete, including the re-rendering of associated tasks
that a template PATCH performs."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ._gofmt import go_quote
from ._http import ApiError
from ._model import ENABLED, Task, Template
from ._request import TemplateRequest
from ._script import read_script
from ._store import Store
from ._tasks import start_task, stop_task, valid_id

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
        # An empty script has no pipeline, hence "invalid task type".
        task_type = read_script(request.script).type
        if task_type == "invalid":
            raise ApiError(400, "invalid task type: invalid")
        now = store.now()
        template = Template(template_id, task_type, request.script, now, now)
        store.templates[template_id] = template
        return template


def update_template(store: Store, template_id: str, request: TemplateRequest) -> Template:
    """PATCH a template, then copy its script into every task made from it.

    Enabled tasks are restarted with their own vars. On the first failure every task
    touched so far is put back as it was and the call answers 500, but the template
    keeps its new script: Kapacitor saved it before touching the tasks.
    """
    with store.lock:
        original = store.templates.get(template_id)
        if original is None:
            raise ApiError(404, "template does not exist, cannot update")
        if request.id and request.id != template_id:
            raise ApiError(400, "the emulator does not rename templates")
        script = request.script or original.script
        task_type = read_script(script).type
        if task_type == "invalid":
            raise ApiError(400, "invalid TICKscript: invalid task type: invalid")
        updated = replace(original, script=script, type=task_type, modified=store.now())
        store.templates[template_id] = updated
        associated = sorted(t.id for t in store.tasks.values() if t.template_id == template_id)
        touched: list[Task] = []
        for task_id in associated:
            before = store.tasks[task_id]
            touched.append(before)
            task = replace(before, script=script, type=task_type)
            store.tasks[task_id] = task
            if task.status != ENABLED:
                continue  # disabled tasks take the new script without validation
            try:
                start_task(store, stop_task(store, task))
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
