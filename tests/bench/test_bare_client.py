"""bench/_kapacitor.py's bare client is the floor the function is compared with and
what measures a real Kapacitor's creation rate: it must make a new device's task
with the calls and bodies the lifecycle rules send for the bench's event."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _common import BASE_TIME, KAPACITOR_DB, outbox_record
from _kapacitor import EVENT_OFFSET, EVENT_SECONDS, BareClient

from deadman import Action, KapacitorClient, LifecycleService, LifecycleSettings

Call = tuple[str, str, Any]


def calls_of_the_rules(device: str) -> list[Call]:
    """What enable_alert's service sends for the bench's one-device event, no task there."""
    calls: list[Call] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        calls.append((request.method, request.url.raw_path.decode(), body))
        if request.method == "GET":
            return httpx.Response(404, json={"error": "no task exists"})
        return httpx.Response(200, json={**(body or {}), "executing": True})

    settings = LifecycleSettings(
        kapacitor_url="http://kapacitor.test:9092", kapacitor_db=KAPACITOR_DB
    )
    client = KapacitorClient(settings, transport=httpx.MockTransport(answer))
    event_id = f"bench-device-enabled-{EVENT_OFFSET}"
    event = json.loads(outbox_record("device-enabled", [device], EVENT_SECONDS, event_id))
    data = event.pop("data")
    with LifecycleService(settings, client) as service:
        outcomes = service.handle(event, data, Action.ENABLE)
    assert [outcome.result.value for outcome in outcomes] == ["applied"]
    return calls


@pytest.fixture
def recording_kapacitor() -> Iterator[tuple[str, list[Call]]]:
    """A loopback server that records calls: GET answers 404, POST 200."""
    calls: list[Call] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            calls.append((self.command, self.path, json.loads(raw) if raw else None))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            self._answer(404)

        def do_POST(self) -> None:
            self._answer(200)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls
    finally:
        server.shutdown()
        server.server_close()


def test_the_bare_client_makes_a_task_as_the_rules_do(
    recording_kapacitor: tuple[str, list[Call]],
) -> None:
    url, calls = recording_kapacitor
    BareClient(url).create("dev-7")
    assert calls == calls_of_the_rules("dev-7")
    assert calls[1][2]["vars"]["deadman_event_time"]["value"].startswith(
        BASE_TIME.strftime("%Y-%m-%dT%H:%M")
    )
    assert [(method, path) for method, path, _ in calls] == [
        ("GET", "/kapacitor/v1/tasks/dev-7_not_fed?script-format=raw"),
        ("POST", "/kapacitor/v1/tasks"),
    ]
