"""JSON shapes of tasks and templates, in Go's field order.

Two fields are left empty: ``dot`` (the pipeline drawn as a DOT graph) and
``stats`` (per-node counters). The emulator runs no pipeline, and the product
reads neither; the real Kapacitor in the tests shows them. Scripts are returned
as stored: Kapacitor reformats them under ``script-format=formatted`` (its
default), and the product asks for ``raw``.
"""

from __future__ import annotations

import posixpath

from ._gofmt import JSONValue, rfc3339nano
from ._model import Task, Template, vars_json
from ._script import read_script

__all__ = ["task_json", "template_json"]


def _link(kind: str, item_id: str) -> dict[str, JSONValue]:
    # Go builds it with path.Join, which cleans "..", "." and double slashes.
    return {"rel": "self", "href": posixpath.normpath(f"/kapacitor/v1/{kind}/{item_id}")}


def task_json(task: Task) -> dict[str, JSONValue]:
    # Kapacitor checks the stored definition again on every read (a template
    # PATCH may have broken a disabled task's vars) and shows why it fails.
    error = task.error or read_script(task.script).problem(task.vars) or ""
    return {
        "link": _link("tasks", task.id),
        "id": task.id,
        "template-id": task.template_id,
        "type": task.type,
        "dbrps": [dbrp.to_json() for dbrp in task.dbrps],
        "script": task.script,
        "vars": vars_json(task.vars),
        "dot": "",
        "status": task.status,
        "executing": task.executing,
        "error": error,
        "stats": {},
        "created": rfc3339nano(task.created),
        "modified": rfc3339nano(task.modified),
        "last-enabled": rfc3339nano(task.last_enabled),
    }


def template_json(template: Template) -> dict[str, JSONValue]:
    return {
        "link": _link("templates", template.id),
        "id": template.id,
        "type": template.type,
        "script": template.script,
        "vars": vars_json(read_script(template.script).listed_vars()),
        "dot": "",
        "error": "",
        "created": rfc3339nano(template.created),
        "modified": rfc3339nano(template.modified),
    }
