"""Replay the exchanges recorded from a real Kapacitor against the emulator.

The capture session started with the project template installed, so the emulator
is seeded with that template (its script from the ``get template (exists)``
capture) through ``POST /templates`` first. The emulator answers as the captured
server's release, 1.5.0, so error bodies match key for key (1.5 has only
``error``; from 1.6 on, ``message`` carries the same text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator, serve
from tests.support.paths import CAPTURES
from tests.support.shared import captured_request_bytes


def _exchanges() -> list[Any]:
    path = CAPTURES / "api-exchanges.json"
    if not path.exists():
        # Collected as one test that skips with the reason (or fails under CI).
        return [pytest.param(None, id="captures-missing")]
    data = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(index, id=entry["note"]) for index, entry in enumerate(data)]


@pytest.fixture(scope="module")
def replay(shared_json: Callable[[str], Any]) -> list[tuple[dict[str, Any], httpx.Response]]:
    """Run every exchange, in order, against one fresh emulator."""
    exchanges = shared_json("api-exchanges.json")
    template = next(e for e in exchanges if e["note"] == "get template (exists)")
    script = template["response"]["body"]["script"]
    template_id = template["response"]["body"]["id"]
    results = []
    emulator = KapacitorEmulator(version="1.5.0")
    with serve(emulator) as running, httpx.Client(base_url=running.url) as client:
        seeded = client.post("/kapacitor/v1/templates", json={"id": template_id, "script": script})
        assert seeded.status_code == 200, seeded.text
        for exchange in exchanges:
            request = exchange["request"]
            response = client.request(
                request["method"], request["path"], content=captured_request_bytes(request)
            )
            results.append((exchange, response))
    return results


@pytest.mark.parametrize("index", _exchanges())
def test_capture_replay_matches_real_kapacitor(
    replay: list[tuple[dict[str, Any], httpx.Response]], index: int | None
) -> None:
    assert index is not None
    exchange, response = replay[index]
    expected = exchange["response"]
    assert response.status_code == expected["status"], response.text
    expected_type = expected.get("headers", {}).get("Content-Type")
    if expected_type:
        assert response.headers["Content-Type"] == expected_type
    body = expected.get("body")
    if body is None:
        assert response.content == b""
        return
    got = response.json()
    if expected["status"] >= 400:
        assert got == body
        return
    if "tasks" in body:
        assert [(t["id"], t["status"], t["executing"]) for t in got["tasks"]] == [
            (t["id"], t["status"], t["executing"]) for t in body["tasks"]
        ]
        assert got == body  # the list items match key for key
        return
    keys: tuple[str, ...] = ("id", "type", "vars", "link", "dot", "error")
    if "template-id" in body:  # a task
        keys += ("template-id", "status", "executing", "dbrps", "stats")
    for key in keys:
        assert got[key] == body[key], key
    assert list(got) == list(body)  # Go field order


def test_capture_template_vars_are_parsed_exactly(shared_json: Callable[[str], Any]) -> None:
    exchanges = shared_json("api-exchanges.json")
    body = next(e for e in exchanges if e["note"] == "get template (exists)")["response"]["body"]
    emulator = KapacitorEmulator()
    emulator.add_template(body["id"], body["script"])
    with serve(emulator) as running:
        got = httpx.get(f"{running.url}/kapacitor/v1/templates/{body['id']}").json()
    # Includes the computed defaults: idVar (= name, "" when unset) and query.
    assert got["vars"] == body["vars"]
    assert got["type"] == body["type"] == "batch"
    assert got["dot"] == body["dot"]
