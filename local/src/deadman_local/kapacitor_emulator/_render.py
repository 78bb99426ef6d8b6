"""JSON shapes of tasks and templates, in Go's field order (contract §1.3, §2).

``formatted`` scripts are returned as stored: Kapacitor itself falls back to the raw
script whenever ``tick.Format`` fails, and the emulator does not reimplement it.
"""

from __future__ import annotations

import posixpath

from ._dot import build_graph, executing_dot, plain_dot, stats_json
from ._errors import ApiError, TickError
from ._gojson import JSONValue, go_quote, rfc3339nano
from ._model import Task, Template, vars_json
from ._tickeval import evaluate_task, template_vars
from ._tickparse import parse_program
from ._versions import api_version

__all__ = [
    "TASK_FIELDS",
    "TEMPLATE_FIELDS",
    "task_json",
    "task_list_item",
    "template_json",
    "template_list_item",
]

BASE = "/kapacitor/v1"
TASK_FIELDS = (
    "link",
    "id",
    "type",
    "dbrps",
    "script",
    "dot",
    "status",
    "executing",
    "error",
    "stats",
    "created",
    "modified",
    "last-enabled",
    "vars",
    "template-id",
)
_FIELDS_BEFORE_1_7 = tuple(name for name in TASK_FIELDS if name != "template-id")
TEMPLATE_DEFAULT_FIELDS = ("link", "id", "type", "script", "dot", "error", "created", "modified")
TEMPLATE_FIELDS = (*TEMPLATE_DEFAULT_FIELDS, "vars")


def _link(kind: str, item_id: str) -> dict[str, JSONValue]:
    # Go builds it with path.Join, which cleans "..", "." and double slashes.
    return {"rel": "self", "href": posixpath.normpath(f"{BASE}/{kind}/{item_id}")}


def _task_runtime(task: Task, dot_view: str) -> tuple[str, str, dict[str, JSONValue]]:
    """(error, dot, stats) as ``convertTask`` computes them."""
    try:
        program = parse_program(task.script)
        evaluate_task(program, task.vars)
    except TickError as exc:
        return str(exc), "", {}
    if not task.executing:
        return task.error, plain_dot(task.id, build_graph(program)), {}
    running = parse_program(task.running_script or task.script)
    graph = build_graph(running)
    dot = executing_dot(task.id, graph, task.type, labels=dot_view == "labels")
    return task.error, dot, stats_json(graph)


def task_json(
    task: Task, dot_view: str = "attributes", runtime: bool = True
) -> dict[str, JSONValue]:
    """The task object; ``runtime=False`` skips validation, DOT and stats (lists
    that did not ask for ``dot``, ``stats`` or ``error`` do not pay for them)."""
    error, dot, stats = _task_runtime(task, dot_view) if runtime else (task.error, "", {})
    return {
        "link": _link("tasks", task.id),
        "id": task.id,
        "template-id": task.template_id,
        "type": task.type,
        "dbrps": [dbrp.to_json() for dbrp in task.dbrps],
        "script": task.script,
        "vars": vars_json(task.vars),
        "dot": dot,
        "status": task.status,
        "executing": task.executing,
        "error": error,
        "stats": stats,
        "created": rfc3339nano(task.created),
        "modified": rfc3339nano(task.modified),
        "last-enabled": rfc3339nano(task.last_enabled),
    }


def task_list_item(
    task: Task, fields: tuple[str, ...] | None, dot_view: str, version: str
) -> dict[str, JSONValue]:
    """A list entry: a Go map (sorted keys), ``stats`` null unless executing and
    ``template-id`` left out when empty (and always before 1.7). An unknown field
    is a 400, and like in Kapacitor it is only noticed when a task is listed."""
    known = TASK_FIELDS if api_version(version).lists_template_id else _FIELDS_BEFORE_1_7
    names = fields or known
    full = task_json(task, dot_view, runtime=bool({"dot", "stats", "error"} & set(names)))
    item: dict[str, JSONValue] = {}
    for name in names:
        if name not in known:
            raise ApiError(400, f"unsupported field {go_quote(name)}")
        if name == "template-id" and not task.template_id:
            continue
        if name == "stats" and not task.executing:
            item[name] = None
        elif name == "dot" and full["dot"] == "" and not task.executing:
            item[name] = None  # the plain DOT needs a valid definition
        else:
            item[name] = full[name]
    return dict(sorted(item.items()))


def template_json(template: Template) -> dict[str, JSONValue]:
    error, dot, variables = template.error, "", {}
    try:
        program = parse_program(template.script)
        variables = vars_json(template_vars(program))
        dot = plain_dot(template.id, build_graph(program))
    except TickError as exc:
        error = str(exc)
    return {
        "link": _link("templates", template.id),
        "id": template.id,
        "type": template.type,
        "script": template.script,
        "vars": variables,
        "dot": dot,
        "error": error,
        "created": rfc3339nano(template.created),
        "modified": rfc3339nano(template.modified),
    }


def template_list_item(template: Template, fields: tuple[str, ...] | None) -> dict[str, JSONValue]:
    full = template_json(template)
    item: dict[str, JSONValue] = {}
    for name in fields or TEMPLATE_DEFAULT_FIELDS:
        if name not in TEMPLATE_FIELDS:
            raise ApiError(400, f"unsupported field {go_quote(name)}")
        item[name] = full[name]
    return dict(sorted(item.items()))
