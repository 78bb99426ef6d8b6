"""The WSGI entry point: request pipeline around the Kapacitor API handlers.

Order for a Kapacitor API request: count it, answer OPTIONS (CORS short-circuits
before authentication, as in Kapacitor), hold it while a hang fault lasts, apply
fault latency and fault answers, authenticate, then take a capacity slot (except
ping) and run the handler. A dribble fault is passed to the server in the WSGI
environment (``DRIBBLE_KEY``). ``/emulator/...`` control routes bypass all of this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from ._api import BASE_PATH, ApiContext, handle_api, route_kind
from ._control import handle_control
from ._http import empty_response, error_response
from ._store import Runtime

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ._emulator import KapacitorEmulator

__all__ = ["DRIBBLE_KEY", "RequestRecord", "handle_wsgi"]

# Seconds between the bytes of the answer, read by the server's request handler.
DRIBBLE_KEY = "deadman_emulator.dribble"

_LOG = logging.getLogger(__name__)

_PREVIEW = "/kapacitor/v1preview"
_CORS_METHODS = "DELETE, GET, OPTIONS, POST, PUT, PATCH"
_CORS_HEADERS = (
    "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, "
    "X-CSRF-Token, X-HTTP-Method-Override"
)


@dataclass(frozen=True)
class RequestRecord:
    """One handled request, as given to the ``request_log`` hook."""

    method: str
    path: str
    kind: str  # ping, tasks, templates, debug, unknown, emulator
    status: int
    duration_ms: float
    remote_addr: str | None
    # The W3C trace context the caller sent, if any.
    traceparent: str | None = None


def _options(emu: KapacitorEmulator, request: Request) -> Response:
    response = empty_response(200, emu.version)
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
    return response


def _api_context(emu: KapacitorEmulator, fail_start: str | None) -> ApiContext:
    if fail_start is None:
        return emu.api
    # "500 but stored": the call runs normally except that starting a task fails,
    # which is what leaves a created task stored, enabled and not executing.
    runtime = Runtime(start_error=lambda _task: fail_start, forget=emu.runtime.forget)
    return replace(emu.api, runtime=runtime)


def _kapacitor(emu: KapacitorEmulator, request: Request, path: str, kind: str) -> Response:
    method = request.method
    emu.count_call(method, kind)
    if method == "OPTIONS":
        return _options(emu, request)
    outcome = emu.faults.decide(method, path)
    if outcome.hang:
        emu.faults.hold(outcome.hang)
    if outcome.dribble:
        request.environ[DRIBBLE_KEY] = outcome.dribble
    if outcome.delay:
        time.sleep(outcome.delay)  # injected latency, outside the capacity slot
    if outcome.status is not None and not outcome.store_then_fail:
        return error_response(outcome.status, outcome.message, emu.version)
    denied = emu.auth.check(
        request.headers.get("Authorization"), request.args.get("u"), request.args.get("p")
    )
    if denied is not None:
        return error_response(401, denied, emu.version, indent=False)
    if path.startswith(_PREVIEW):
        path = BASE_PATH + path[len(_PREVIEW) :]
    context = _api_context(emu, outcome.message if outcome.store_then_fail else None)
    if kind == "ping":
        response = handle_api(context, request, path)
    else:
        with emu.capacity.slot():
            response = handle_api(context, request, path)
    if outcome.status is not None:
        return error_response(outcome.status, outcome.message, emu.version)
    return response


def handle_wsgi(
    emu: KapacitorEmulator, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    started = time.monotonic()
    request = Request(environ)
    path = request.path
    if path == "/emulator" or path.startswith("/emulator/"):
        kind = "emulator"
        response = handle_control(emu, request, path)
    else:
        normalised = BASE_PATH + path[len(_PREVIEW) :] if path.startswith(_PREVIEW) else path
        kind = route_kind(normalised)
        try:
            response = _kapacitor(emu, request, path, kind)
        except Exception as exc:  # noqa: BLE001 - Kapacitor's recovery handler answers 500
            _LOG.exception("emulator bug while handling %s %s", request.method, path)
            response = error_response(500, f"emulator internal error: {exc}", emu.version)
    if emu.request_log is not None:
        emu.request_log(
            RequestRecord(
                method=request.method,
                path=path,
                kind=kind,
                status=response.status_code,
                duration_ms=round((time.monotonic() - started) * 1000, 3),
                remote_addr=request.remote_addr,
                traceparent=request.headers.get("traceparent"),
            )
        )
    return response(environ, start_response)
