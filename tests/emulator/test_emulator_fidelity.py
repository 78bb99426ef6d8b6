"""The emulator's fidelity, measured: the exchanges recorded from a real Kapacitor,
replayed in order on a real Kapacitor 1.5.7 and on the emulator answering as 1.5.7,
must get the same answers (status, headers that matter, body key for key).

Times (``created``, ``modified``, ``last-enabled``) differ by nature and are left
out. Three differences are the emulator's by design, in fields the product never
reads (``functions/deadman/_kapacitor.py`` and ``ops/`` read a task's status,
executing, error, vars, template-id and raw script, a template's id and raw
script):

* ``script``: under ``script-format=formatted`` (the default) Kapacitor returns
  the TICKscript re-printed by its formatter, the emulator returns it as stored
  (the product asks for ``raw``);
* ``dot`` and ``stats``: Kapacitor draws the task's pipeline and counts what each
  node processed; the emulator runs no pipeline and answers ``""`` and ``{}``.
  The keys are there, in Go's order, like every other key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator, serve
from tests.support.backends import KapacitorBackend
from tests.support.paths import CAPTURES
from tests.support.shared import captured_request_bytes

TIMES = ("created", "modified", "last-enabled")
# Fields whose values the emulator does not reproduce (see the docstring).
NOT_EMULATED = ("script", "dot", "stats")
Replay = list[tuple[int, str, Any]]


def _notes() -> list[Any]:
    path = CAPTURES / "api-exchanges.json"
    if not path.exists():
        return [pytest.param(None, id="captures-missing")]
    return [pytest.param(i, id=e["note"]) for i, e in enumerate(json.loads(path.read_text()))]


def _comparable(value: Any) -> Any:
    """A body without its times and the fields not emulated (see the docstring)."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in (*TIMES, *NOT_EMULATED)}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def replay_on(url: str, exchanges: list[dict[str, Any]]) -> Replay:
    """Seed the captured template, then send every captured request, in order."""
    template = next(e for e in exchanges if e["note"] == "get template (exists)")
    body = template["response"]["body"]
    answers: Replay = []
    with httpx.Client(base_url=url, timeout=30) as client:
        seeded = client.post(
            "/kapacitor/v1/templates", json={"id": body["id"], "script": body["script"]}
        )
        assert seeded.status_code == 200, seeded.text
        for exchange in exchanges:
            request = exchange["request"]
            response = client.request(
                request["method"], request["path"], content=captured_request_bytes(request)
            )
            parsed = response.json() if response.content else None
            answers.append((response.status_code, response.headers.get("Content-Type", ""), parsed))
    return answers


@pytest.fixture(scope="module")
def replays(
    shared_json: Callable[[str], Any], real_session_backend: KapacitorBackend
) -> tuple[Replay, Replay]:
    exchanges = shared_json("api-exchanges.json")
    real_session_backend.clear()
    real = replay_on(real_session_backend.direct_url, exchanges)
    real_session_backend.clear()
    with serve(KapacitorEmulator(version="1.5.7")) as running:
        emulated = replay_on(running.url, exchanges)
    return real, emulated


@pytest.mark.real_kapacitor
@pytest.mark.parametrize("index", _notes())
def test_emulator_answers_as_the_real_kapacitor(
    replays: tuple[Replay, Replay], index: int | None
) -> None:
    assert index is not None
    real, emulated = replays
    (real_status, real_type, real_body), (status, content_type, body) = real[index], emulated[index]
    assert status == real_status
    assert content_type == real_type
    assert _comparable(body) == _comparable(real_body)
    if isinstance(real_body, dict):
        assert list(body) == list(real_body)  # Go's field order
