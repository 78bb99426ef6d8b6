"""The Kapacitor API emulator in tests: served with a template, a test template,
tasks made through its API, its request log, a receiver for the alerts it posts."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from werkzeug.wrappers import Request, Response

from deadman.ops.template import bundled_template
from deadman_local.kapacitor_emulator import (
    HttpPostEndpoint,
    KapacitorEmulator,
    RequestRecord,
    RunningEmulator,
    serve,
)
from tests.support.paths import TEMPLATE_ID
from tests.support.tasks import SUFFIX, task_body
from tests.support.wsgi import serve_wsgi

# The releases users run where their APIs differ: 1.5 (and 1.6) lack the
# template-id list field, 1.5 the `message` key of error bodies.
KAPACITOR_VERSIONS = ("1.5.7", "1.7.7")

# A deadman template shaped like the project's (typed vars without defaults, a
# batch query, an alert posted to the 'benthos' endpoint), for tests that must not
# depend on the shared captures.
DEADMAN_SCRIPT = """\
var name string
var db string
var rp string
var measurement string
// how long a device may stay silent
var period = 10s
var threshold = 0.0
var idVar = name
var message = ' id:{{.ID}} name:{{.Name}} taskname:{{.TaskName}} level:{{.Level}} '
var query = 'SELECT * FROM "' + db + '"."' + rp + '"."' + measurement + '"'
var data = batch
    |query(query)
        .period(period)
        .every(period)
var trigger = data
    |deadman(threshold, period)
        .message(message)
        .id(idVar)
        .stateChangesOnly()
trigger
    .post()
    .endpoint('benthos')
"""
# The id DEADMAN_SCRIPT is installed under in the emulator's own tests.
DEADMAN_TEMPLATE_ID = "device_deadman"


@contextmanager
def served_emulator(
    endpoints: Iterable[HttpPostEndpoint] = (), **options: Any
) -> Iterator[RunningEmulator]:
    """The emulator with the project's template, served on a free port.

    ``options`` are KapacitorEmulator's (credentials, version, request_log...).
    """
    emulator = KapacitorEmulator(endpoints=endpoints, **options)
    emulator.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    with serve(emulator) as running:
        yield running


def create_task(emulator: KapacitorEmulator, device: str, status: str = "enabled") -> None:
    """Create a device's task straight through the emulator's API."""
    assert isinstance(emulator.listener, RunningEmulator)
    url = f"{emulator.listener.url}/kapacitor/v1/tasks"
    body = task_body(device + SUFFIX, device, status)
    response = httpx.post(url, json=body, timeout=10)
    assert response.status_code == 200, response.text


class RequestLog:
    """Collects the emulator's RequestRecords (its request_log hook)."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def __call__(self, record: RequestRecord) -> None:
        self.records.append(record)

    def since(self, mark: int) -> list[RequestRecord]:
        return self.records[mark:]


@dataclass
class AlertReceiver:
    """A tiny HTTP server that records alert POSTs and answers ``status``."""

    url: str
    requests: list[tuple[Request, bytes]] = field(default_factory=list)
    status: int = 200


@contextmanager
def serve_alert_receiver() -> Iterator[AlertReceiver]:
    """An AlertReceiver listening on a free loopback port until the block ends."""
    state = AlertReceiver(url="")
    lock = threading.Lock()

    @Request.application
    def app(request: Request) -> Response:
        with lock:
            state.requests.append((request, request.get_data()))
        return Response(b"ok", status=state.status)

    with serve_wsgi(app) as url:
        state.url = url
        yield state
