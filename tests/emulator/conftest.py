"""Fixtures for the Kapacitor API emulator tests."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator, serve
from tests.support.tasks import task_body

# <repo root>/../shared holds the contract and the captures from a real Kapacitor.
SHARED = Path(__file__).resolve().parents[3] / "shared"
CAPTURES = SHARED / "kapacitor-captures"

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
TEMPLATE_ID = "device_deadman"


def require_shared(path: Path) -> Path:
    """Skip (with the reason shown) when a shared file is missing; fail under CI."""
    if not path.exists():
        message = f"shared reference file missing: {path}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_shared_json(name: str) -> Any:
    return json.loads(require_shared(CAPTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shared_json() -> Callable[[str], Any]:
    """Load a JSON file of the shared captures (skip, or fail under CI, if missing)."""
    return load_shared_json


@pytest.fixture
def deadman_script() -> str:
    return DEADMAN_SCRIPT


@pytest.fixture
def make_task_body() -> Callable[..., dict[str, Any]]:
    return functools.partial(task_body, template_id=TEMPLATE_ID)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningEmulator]:
    """One served emulator per module; ``emulator`` resets it for each test."""
    with serve(KapacitorEmulator()) as served:
        yield served


@pytest.fixture
def emulator(running: RunningEmulator) -> KapacitorEmulator:
    running.emulator.reset()
    running.resume_listening()
    return running.emulator


@pytest.fixture
def api(running: RunningEmulator, emulator: KapacitorEmulator) -> Iterator[httpx.Client]:
    """An HTTP client on ``/kapacitor/v1`` of the (freshly reset) served emulator."""
    with httpx.Client(base_url=f"{running.url}/kapacitor/v1", timeout=10) as client:
        yield client


@pytest.fixture
def seeded(emulator: KapacitorEmulator) -> KapacitorEmulator:
    """The emulator with the test deadman template installed."""
    emulator.add_template(TEMPLATE_ID, DEADMAN_SCRIPT)
    return emulator


@dataclass
class Receiver:
    """A tiny HTTP server that records alert POSTs and answers ``status``."""

    url: str
    requests: list[tuple[Request, bytes]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        with lock:
            state.requests.append((request, request.get_data()))
        return Response(b"ok", status=state.status)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
