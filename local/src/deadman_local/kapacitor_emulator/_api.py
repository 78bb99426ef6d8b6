"""Routing and handlers of the emulated Kapacitor API (``/kapacitor/v1``).

Routing mirrors Kapacitor's mux: ``/tasks`` (exact) lists and creates,
``/tasks/<id>`` gets, patches and deletes, where the id is everything after the
prefix; any other path or method is 404 ``Not Found`` (never 405).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from ._errors import ApiError
from ._gojson import JSONValue, marshal
from ._http import empty_response, error_response, json_response, raw_response
from ._listing import ListQuery, page, parse_list_query, parse_view_params
from ._model import ENABLED
from ._render import task_json, task_list_item, template_json, template_list_item
from ._request import InvalidJSON, decode_task_request, decode_template_request
from ._store import Runtime, Store
from ._tasks import create_task, delete_task, update_task
from ._templates import create_template, delete_template, update_template

__all__ = ["BASE_PATH", "ApiContext", "handle_api", "route_kind"]

BASE_PATH = "/kapacitor/v1"


@dataclass(frozen=True)
class ApiContext:
    store: Store
    runtime: Runtime
    version: str
    server_info: Mapping[str, str]


def route_kind(path: str) -> str:
    """Coarse route name used by the call counters: ping, tasks, templates, debug."""
    rest = path[len(BASE_PATH) :] if path.startswith(BASE_PATH) else ""
    for kind in ("ping", "tasks", "templates", "debug"):
        if rest == f"/{kind}" or rest.startswith(f"/{kind}/"):
            return kind
    return "unknown"


def _ok(ctx: ApiContext, payload: JSONValue) -> Response:
    return json_response(200, payload, ctx.version)


def _list_query(request: Request, *, with_dot_view: bool) -> ListQuery:
    """The list parameters of tasks and templates (templates have no dot-view)."""
    args = request.args
    return parse_list_query(
        args.get("pattern"),
        args.getlist("fields"),
        args.get("offset"),
        args.get("limit"),
        args.get("script-format"),
        args.get("dot-view") if with_dot_view else None,
        with_dot_view=with_dot_view,
    )


def _list_tasks(ctx: ApiContext, request: Request) -> Response:
    query = _list_query(request, with_dot_view=True)
    with ctx.store.lock:
        ids = page(ctx.store.task_ids(), query.pattern, query.offset, query.limit)
        tasks = [ctx.store.tasks[task_id] for task_id in ids]
    items = [task_list_item(task, query.fields, query.dot_view, ctx.version) for task in tasks]
    return _ok(ctx, {"tasks": items})


def _list_templates(ctx: ApiContext, request: Request) -> Response:
    query = _list_query(request, with_dot_view=False)
    with ctx.store.lock:
        ids = page(ctx.store.template_ids(), query.pattern, query.offset, query.limit)
        templates = [ctx.store.templates[template_id] for template_id in ids]
    return _ok(ctx, {"templates": [template_list_item(t, query.fields) for t in templates]})


def _task_item(ctx: ApiContext, request: Request, task_id: str) -> Response:
    if not task_id:
        raise ApiError(400, "must specify task id on path")
    store, method = ctx.store, request.method
    if method == "GET":
        task = store.tasks.get(task_id)
        if task is None:
            raise ApiError(404, "no task exists")
        _, dot_view = parse_view_params(
            request.args.get("script-format"), request.args.get("dot-view") or ""
        )
        return _ok(ctx, task_json(task, dot_view))
    if method == "PATCH":
        body = decode_task_request(request.get_data())
        return _ok(ctx, task_json(update_task(store, task_id, body, ctx.runtime)))
    delete_task(store, task_id, ctx.runtime)
    return empty_response(204, ctx.version)


def _template_item(ctx: ApiContext, request: Request, template_id: str) -> Response:
    if not template_id:
        raise ApiError(400, "must specify template id on path")
    store, method = ctx.store, request.method
    if method == "GET":
        template = store.templates.get(template_id)
        if template is None:
            raise ApiError(404, "no template exists")
        parse_view_params(request.args.get("script-format"), None)
        return _ok(ctx, template_json(template))
    if method == "PATCH":
        body = decode_template_request(request.get_data())
        return _ok(ctx, template_json(update_template(store, template_id, body, ctx.runtime)))
    delete_template(store, template_id)
    return empty_response(204, ctx.version)


def _debug_vars(ctx: ApiContext) -> Response:
    with ctx.store.lock:
        tasks = list(ctx.store.tasks.values())
    values: dict[str, JSONValue] = {
        "cluster_id": ctx.server_info["ClusterID"],
        "server_id": ctx.server_info["ServerID"],
        "host": ctx.server_info["Hostname"],
        "product": "kapacitor",
        "version": ctx.version,
        "platform": "OSS",
        "num_tasks": len(tasks),
        "num_enabled_tasks": sum(task.status == ENABLED for task in tasks),
        "num_subscriptions": 0,
        "kapacitor": {},
        "cmdline": list(sys.argv),
        "memstats": {},
    }
    # expvar's own layout: one "key": value per line, not indented.
    lines = [
        f"{json.dumps(key)}: {marshal(value, indent=False).decode()}"
        for key, value in values.items()
    ]
    return raw_response(200, ("{\n" + ",\n".join(lines) + "\n}\n").encode(), ctx.version)


def _create_task(ctx: ApiContext, request: Request) -> Response:
    body = decode_task_request(request.get_data())
    return _ok(ctx, task_json(create_task(ctx.store, body, ctx.runtime)))


def _create_template(ctx: ApiContext, request: Request) -> Response:
    body = decode_template_request(request.get_data())
    return _ok(ctx, template_json(create_template(ctx.store, body)))


_COLLECTIONS: dict[tuple[str, str], Callable[[ApiContext, Request], Response]] = {
    ("GET", "/tasks"): _list_tasks,
    ("POST", "/tasks"): _create_task,
    ("GET", "/templates"): _list_templates,
    ("POST", "/templates"): _create_template,
}


def handle_api(ctx: ApiContext, request: Request, path: str) -> Response:
    """Answer one Kapacitor API request (authentication already checked)."""
    rest, method = path[len(BASE_PATH) :], request.method
    try:
        if rest == "/ping" and method in ("GET", "HEAD"):
            return empty_response(204, ctx.version)
        if rest == "/debug/vars" and method == "GET":
            return _debug_vars(ctx)
        handler = _COLLECTIONS.get((method, rest))
        if handler is not None:
            return handler(ctx, request)
        if rest.startswith("/tasks/") and method in ("GET", "PATCH", "DELETE"):
            return _task_item(ctx, request, rest[len("/tasks/") :])
        if rest.startswith("/templates/") and method in ("GET", "PATCH", "DELETE"):
            return _template_item(ctx, request, rest[len("/templates/") :])
    except InvalidJSON:
        return error_response(400, "invalid JSON", ctx.version)
    except ApiError as exc:
        return error_response(exc.status, exc.message, ctx.version)
    return error_response(404, "Not Found", ctx.version)
