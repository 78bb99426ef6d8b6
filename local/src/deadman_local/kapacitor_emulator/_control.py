"""``/emulator/...`` control routes, outside the Kapacitor API, for other processes:
``GET /emulator/state`` (benchmarks read tasks, call counts and capacity), and
``POST /emulator/alerts/fire`` and ``/emulator/alerts/fire-many`` (``make demo``,
the alert storm benchmark). They need no authentication and are never subject to
faults or capacity."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from ._alerts import LEVELS
from ._gofmt import JSONValue
from ._http import ApiError, error_response, json_response

if TYPE_CHECKING:
    from ._emulator import KapacitorEmulator

__all__ = ["handle_control"]


def _body(request: Request) -> dict[str, object]:
    try:
        data = json.loads(request.get_data() or b"{}")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _state(emu: KapacitorEmulator) -> dict[str, JSONValue]:
    tasks: dict[str, JSONValue] = {
        task_id: {"status": task.status, "executing": task.executing, "error": task.error}
        for task_id, task in emu.tasks().items()
    }
    calls = sorted(emu.calls.items())
    with emu.store.lock:
        templates = sorted(emu.store.templates)
    return {
        "version": emu.version,
        "tasks": tasks,
        "templates": templates,
        "calls": [{"method": m, "kind": k, "count": n} for (m, k), n in calls],
        "capacity": emu.capacity.snapshot(),
    }


def _alert_options(data: dict[str, object]) -> tuple[str, datetime | None, float]:
    """level, time and emitted of a firing request."""
    level, when, emitted = data.get("level", "CRITICAL"), data.get("time"), data.get("emitted", 0)
    if level not in LEVELS:
        raise ApiError(400, f"level must be one of {', '.join(LEVELS)}")
    if isinstance(emitted, bool) or not isinstance(emitted, int | float):
        raise ApiError(400, "emitted must be a number")
    try:
        moment = datetime.fromisoformat(when) if isinstance(when, str) else None
    except ValueError as exc:
        raise ApiError(400, f"time must be RFC 3339: {exc}") from None
    return str(level), moment, float(emitted)


def _fire(emu: KapacitorEmulator, data: dict[str, object]) -> Response:
    task_id = data.get("task")
    if not isinstance(task_id, str):
        raise ApiError(400, "task (a task id) is required")
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


def _fire_many(emu: KapacitorEmulator, data: dict[str, object]) -> Response:
    """Every listed task fires at once (``fire_many``); always 200, each alert's
    outcome and timing in ``alerts``, in the order of ``tasks``."""
    task_ids, concurrency = data.get("tasks"), data.get("concurrency")
    if not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
        raise ApiError(400, "tasks must be a list of task ids")
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise ApiError(400, "concurrency must be an integer >= 1")
    fired = emu.fire_many(task_ids, *_alert_options(data), concurrency=concurrency)
    payload: dict[str, JSONValue] = {
        "fired": len(fired),
        "ok": sum(1 for timed in fired if timed.result.ok),
        "seconds": round(max((t.finished for t in fired), default=0.0), 6),
        "alerts": [timed.to_json() for timed in fired],
    }
    return json_response(200, payload, emu.version)


def handle_control(emu: KapacitorEmulator, request: Request, path: str) -> Response:
    route = (request.method, path.rstrip("/"))
    try:
        if route == ("GET", "/emulator/state"):
            return json_response(200, _state(emu), emu.version)
        if route == ("POST", "/emulator/alerts/fire"):
            return _fire(emu, _body(request))
        if route == ("POST", "/emulator/alerts/fire-many"):
            return _fire_many(emu, _body(request))
    except ApiError as exc:
        return error_response(exc.status, exc.message, emu.version)
    return error_response(404, "Not Found", emu.version)
