"""The WSGI entry point: request pipeline around the Kapacitor API handlers.

Order for a Kapacitor API request: count it, hold it while a hang fault lasts,
apply fault latency and fault answers, authenticate, then take a capacity slot
(except ping) and run the handler; a dribble fault sends the answer's body a byte
at a time. ``/emulator/...`` control routes bypass all of this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from ._api import handle_api, route_kind
from ._control import handle_control
from ._faults import FaultOutcome
from ._http import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ._emulator import KapacitorEmulator

__all__ = ["RequestRecord", "handle_wsgi"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """One handled request, as given to the ``request_log`` hook."""

    method: str
    path: str
    kind: str  # ping, tasks, templates, unknown, emulator
    status: int
    duration_ms: float
    # The W3C trace context the caller sent, if any.
    traceparent: str | None = None


def _dribbled(response: Response, interval: float) -> Response:
    """The answer with its body sent one byte every ``interval`` seconds, as a slow
    server or proxy sends it: each byte resets a client's per-read timeout."""
    body = response.get_data()

    def trickle() -> Iterator[bytes]:
        for index in range(len(body)):
            time.sleep(interval if index else 0)
            yield body[index : index + 1]

    return Response(trickle(), response.status, response.headers, direct_passthrough=True)


def _kapacitor(emu: KapacitorEmulator, request: Request, path: str, kind: str) -> Response:
    method = request.method
    emu.count_call(method, kind)
    outcome = emu.faults.decide(method, path)
    if outcome.hang:
        emu.faults.hold(outcome.hang)
    if outcome.delay:
        time.sleep(outcome.delay)  # injected latency, outside the capacity slot
    response = _answer(emu, request, path, kind, outcome)
    return _dribbled(response, outcome.dribble) if outcome.dribble else response


def _answer(
    emu: KapacitorEmulator, request: Request, path: str, kind: str, outcome: FaultOutcome
) -> Response:
    if outcome.status is not None and not outcome.store_then_fail:
        return error_response(outcome.status, outcome.message, emu.version)
    denied = emu.auth.check(request.headers.get("Authorization"))
    if denied is not None:
        return error_response(401, denied, emu.version, indent=False)
    # "500 but stored": the call runs, except that starting a task fails, which
    # leaves a created task stored, enabled and not executing; then the error.
    fail_start = outcome.message if outcome.store_then_fail else None
    if kind == "ping":
        response = handle_api(emu.store, emu.version, request, path)
    else:
        with emu.capacity.slot():
            response = handle_api(emu.store, emu.version, request, path, fail_start)
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
        kind = route_kind(path)
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
                traceparent=request.headers.get("traceparent"),
            )
        )
    return response(environ, start_response)
