"""Routing and handlers of the emulated Kapacitor API (``/kapacitor/v1``).

Routing mirrors Kapacitor's mux: ``/tasks`` (exact) lists and creates,
``/tasks/<id>`` gets, patches and deletes, where the id is everything after the
prefix; any other path or method is 404 ``Not Found`` (never 405).
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ._http import ApiError, empty_response, error_response, json_response
from ._listing import list_tasks, list_templates
from ._render import task_json, template_json
from ._request import InvalidJSON, decode_task, decode_template
from ._store import Store
from ._tasks import create_task, delete_task, update_task
from ._templates import create_template, delete_template, update_template

__all__ = ["BASE_PATH", "handle_api", "route_kind"]

BASE_PATH = "/kapacitor/v1"


def route_kind(path: str) -> str:
    """Coarse route name used by the call counters: ping, tasks, templates."""
    rest = path[len(BASE_PATH) :] if path.startswith(BASE_PATH) else ""
    for kind in ("ping", "tasks", "templates"):
        if rest == f"/{kind}" or rest.startswith(f"/{kind}/"):
            return kind
    return "unknown"


def _task(store: Store, version: str, request: Request, task_id: str) -> Response:
    if not task_id:
        raise ApiError(400, "must specify task id on path")
    if request.method == "GET":
        task = store.tasks.get(task_id)
        if task is None:
            raise ApiError(404, "no task exists")
        return json_response(200, task_json(task), version)
    if request.method == "PATCH":
        task = update_task(store, task_id, decode_task(request.get_data()))
        return json_response(200, task_json(task), version)
    delete_task(store, task_id)
    return empty_response(204, version)


def _template(store: Store, version: str, request: Request, template_id: str) -> Response:
    if not template_id:
        raise ApiError(400, "must specify template id on path")
    if request.method == "GET":
        template = store.templates.get(template_id)
        if template is None:
            raise ApiError(404, "no template exists")
        return json_response(200, template_json(template), version)
    if request.method == "PATCH":
        template = update_template(store, template_id, decode_template(request.get_data()))
        return json_response(200, template_json(template), version)
    delete_template(store, template_id)
    return empty_response(204, version)


def _collections(
    store: Store, version: str, request: Request, rest: str, fail_start: str | None
) -> Response | None:
    body = request.get_data() if request.method == "POST" else b""
    if (rest, request.method) == ("/tasks", "POST"):
        return json_response(
            200, task_json(create_task(store, decode_task(body), fail_start)), version
        )
    if (rest, request.method) == ("/templates", "POST"):
        template = create_template(store, decode_template(body))
        return json_response(200, template_json(template), version)
    with store.lock:
        tasks, templates = dict(store.tasks), dict(store.templates)
    if (rest, request.method) == ("/tasks", "GET"):
        return json_response(200, list_tasks(tasks, request.args, version), version)
    if (rest, request.method) == ("/templates", "GET"):
        return json_response(200, list_templates(templates, request.args), version)
    return None


def handle_api(
    store: Store, version: str, request: Request, path: str, fail_start: str | None = None
) -> Response:
    """Answer one Kapacitor API request (authentication already checked).
    ``fail_start`` makes a task the call starts fail to start, with that error."""
    rest, method = path[len(BASE_PATH) :], request.method
    try:
        if rest == "/ping" and method in ("GET", "HEAD"):
            return empty_response(204, version)
        if rest in ("/tasks", "/templates"):
            response = _collections(store, version, request, rest, fail_start)
            if response is not None:
                return response
        elif rest.startswith("/tasks/") and method in ("GET", "PATCH", "DELETE"):
            return _task(store, version, request, rest[len("/tasks/") :])
        elif rest.startswith("/templates/") and method in ("GET", "PATCH", "DELETE"):
            return _template(store, version, request, rest[len("/templates/") :])
    except InvalidJSON:
        return error_response(400, "invalid JSON", version)
    except ApiError as exc:
        return error_response(exc.status, exc.message, version)
    return error_response(404, "Not Found", version)
