"""``/emulator/...`` control routes, outside the Kapacitor API, so that other
processes (the local run, benchmarks) can drive faults, capacity and alerts.
They need no authentication and are never subject to faults or capacity."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from werkzeug.wrappers import Request, Response

from ._alerts import LEVELS
from ._faults import Fault
from ._gojson import JSONValue
from ._http import empty_response, error_response, json_response
from ._model import vars_json

if TYPE_CHECKING:
    from ._emulator import KapacitorEmulator

__all__ = ["handle_control"]


class _BadRequest(Exception):
    pass


def _body(request: Request) -> dict[str, object]:
    try:
        data = json.loads(request.get_data() or b"{}")
    except json.JSONDecodeError as exc:
        raise _BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object")
    return data


def _number(data: dict[str, object], key: str, default: float | None) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRequest(f"{key} must be a number")
    return float(value)


def _state(emu: KapacitorEmulator) -> JSONValue:
    tasks: dict[str, JSONValue] = {}
    for task_id, task in emu.tasks().items():
        tasks[task_id] = {
            "template-id": task.template_id,
            "type": task.type,
            "status": task.status,
            "executing": task.executing,
            "error": task.error,
            "dbrps": [d.to_json() for d in task.dbrps],
            "vars": vars_json(task.vars),
            "running-vars": vars_json(task.running_vars) if task.executing else None,
        }
    calls = sorted(emu.calls.items())
    return {
        "version": emu.version,
        "tasks": tasks,
        "templates": sorted(emu.templates()),
        "calls": [{"method": m, "kind": k, "count": n} for (m, k), n in calls],
        "faults": emu.faults.snapshot(),
        "capacity": emu.capacity.snapshot(),
        "endpoints": {
            name: {"url": e.url, "headers": dict(e.headers)}
            for name, e in emu.alerts.endpoints().items()
        },
    }


def _faults(emu: KapacitorEmulator, request: Request, rest: str) -> Response:
    if request.method == "POST" and not rest:
        try:
            fault = Fault.from_json(_body(request))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        fault_id = emu.add_fault(fault)
        return json_response(200, {"id": fault_id, **fault.to_json()}, emu.version)
    if request.method == "DELETE" and not rest:
        emu.clear_faults()
        return empty_response(204, emu.version)
    if request.method == "DELETE" and rest.isdigit():
        if emu.faults.remove(int(rest)):
            return empty_response(204, emu.version)
        return error_response(404, f"no fault {rest}", emu.version)
    return json_response(200, {"faults": emu.faults.snapshot()}, emu.version)


def _capacity(emu: KapacitorEmulator, request: Request) -> Response:
    if request.method in ("POST", "PUT"):
        data = _body(request)
        service_time = _number(data, "service_time", emu.capacity.service_time) or 0.0
        concurrency = _number(data, "concurrency", None)
        try:
            emu.set_capacity(service_time, None if concurrency is None else int(concurrency))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
    return json_response(200, emu.capacity.snapshot(), emu.version)


def _endpoints(emu: KapacitorEmulator, request: Request) -> Response:
    if request.method == "POST":
        data = _body(request)
        name, url, headers = data.get("name"), data.get("url"), data.get("headers") or {}
        auth = data.get("basic_auth")
        if not isinstance(name, str) or not isinstance(url, str) or not name or not url:
            raise _BadRequest("name and url are required strings")
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _BadRequest("headers must map names to strings")
        basic = None
        if isinstance(auth, dict):
            basic = (str(auth.get("username", "")), str(auth.get("password", "")))
        emu.set_endpoint(name, url, headers, basic)
    endpoints = {
        n: {"url": e.url, "headers": dict(e.headers)} for n, e in emu.alerts.endpoints().items()
    }
    return json_response(200, {"endpoints": cast(JSONValue, endpoints)}, emu.version)


def _alert_options(
    data: dict[str, object],
) -> tuple[str, datetime | None, float, dict[str, str]]:
    """level, time, emitted and tags of a firing request."""
    level = data.get("level", "CRITICAL")
    if level not in LEVELS:
        raise _BadRequest(f"level must be one of {', '.join(LEVELS)}")
    when = data.get("time")
    try:
        moment = datetime.fromisoformat(when) if isinstance(when, str) else None
    except ValueError as exc:
        raise _BadRequest(f"time must be RFC 3339: {exc}") from None
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        raise _BadRequest("tags must be an object")
    emitted = _number(data, "emitted", 0.0) or 0.0
    return str(level), moment, emitted, {str(k): str(v) for k, v in tags.items()}


def _fire(emu: KapacitorEmulator, request: Request) -> Response:
    data = _body(request)
    task_id = data.get("task")
    if not isinstance(task_id, str) or data.get("level", "CRITICAL") not in LEVELS:
        raise _BadRequest(f"task (string) and level (one of {', '.join(LEVELS)}) are required")
    result = emu.fire_deadman(task_id, *_alert_options(data))
    # 200: posted (see "status" for the receiver's answer) or written to Kafka
    # ("topic"); 409: the task or its endpoint cannot alert; 502: the delivery failed.
    if result.status is not None or result.topic is not None:
        code = 200
    elif result.body is None or result.url is None:
        code = 409
    else:
        code = 502
    return json_response(code, result.to_json(), emu.version)


def _fire_many(emu: KapacitorEmulator, request: Request) -> Response:
    """Every listed task fires at once (``fire_many``); always 200, each alert's
    outcome and timing in ``alerts``, in the order of ``tasks``."""
    data = _body(request)
    task_ids = data.get("tasks")
    if not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
        raise _BadRequest("tasks must be a list of task ids")
    concurrency = _number(data, "concurrency", None)
    if concurrency is not None and concurrency < 1:
        raise _BadRequest("concurrency must be >= 1")
    fired = emu.fire_many(
        [str(t) for t in task_ids],
        *_alert_options(data),
        concurrency=None if concurrency is None else int(concurrency),
    )
    bodies = data.get("bodies") is True
    alerts: list[JSONValue] = [timed.to_json(body=bodies) for timed in fired]
    payload: dict[str, JSONValue] = {
        "fired": len(fired),
        "ok": sum(1 for timed in fired if timed.result.ok),
        "seconds": round(max((t.finished for t in fired), default=0.0), 6),
        "alerts": alerts,
    }
    return json_response(200, payload, emu.version)


def _refuse(emu: KapacitorEmulator, request: Request) -> Response:
    seconds = _number(_body(request), "seconds", None)
    if seconds is None or seconds <= 0:
        raise _BadRequest("seconds must be a positive number")
    if emu.listener is None:
        return error_response(409, "the emulator is not served by serve()", emu.version)
    # Stops accepting before this answer goes out on the already-open connection.
    emu.listener.refuse_for(seconds)
    return json_response(200, {"refusing_for": seconds}, emu.version)


def _reset(emu: KapacitorEmulator, request: Request) -> Response:
    emu.reset()
    return json_response(200, {"reset": True}, emu.version)


def _state_route(emu: KapacitorEmulator, request: Request) -> Response:
    return json_response(200, _state(emu), emu.version)


_ROUTES: dict[tuple[str, str], Callable[[KapacitorEmulator, Request], Response]] = {
    ("GET", "/state"): _state_route,
    ("POST", "/reset"): _reset,
    ("GET", "/capacity"): _capacity,
    ("POST", "/capacity"): _capacity,
    ("PUT", "/capacity"): _capacity,
    ("GET", "/endpoints"): _endpoints,
    ("POST", "/endpoints"): _endpoints,
    ("POST", "/alerts/fire"): _fire,
    ("POST", "/alerts/fire-many"): _fire_many,
    ("POST", "/refuse"): _refuse,
}


def handle_control(emu: KapacitorEmulator, request: Request, path: str) -> Response:
    route = path[len("/emulator") :].rstrip("/") or "/"
    try:
        if route == "/faults" or route.startswith("/faults/"):
            if request.method not in ("GET", "POST", "DELETE"):
                return error_response(404, "Not Found", emu.version)
            return _faults(emu, request, route[len("/faults/") :] if "/" in route[1:] else "")
        handler = _ROUTES.get((request.method, route))
        if handler is None:
            return error_response(404, "Not Found", emu.version)
        return handler(emu, request)
    except _BadRequest as exc:
        return error_response(400, str(exc), emu.version)
