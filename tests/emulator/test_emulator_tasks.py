"""Task and template semantics beyond the captures (contract §1, §2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator

Body = Callable[..., dict[str, Any]]
ZERO_TIME = "0001-01-01T00:00:00Z"


def _create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/tasks", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_create_defaults_to_disabled_and_never_enabled(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    body = make_task_body("d1", "m")
    del body["status"]
    task = _create(api, body)
    assert (task["status"], task["executing"], task["stats"]) == ("disabled", False, {})
    assert task["last-enabled"] == ZERO_TIME
    assert task["created"] == task["modified"]


def test_patch_status_is_idempotent_and_tracks_last_enabled(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    created = _create(api, make_task_body("d2", "m"))
    assert created["last-enabled"] == created["created"]
    again = api.patch("/tasks/d2", json={"status": "enabled"}).json()
    assert again["modified"] > created["modified"]
    assert again["last-enabled"] == created["last-enabled"]
    disabled = api.patch("/tasks/d2", json={"status": "disabled"}).json()
    assert (disabled["executing"], disabled["last-enabled"]) == (False, created["last-enabled"])
    enabled = api.patch("/tasks/d2", json={"status": "enabled"}).json()
    assert enabled["executing"] is True
    assert enabled["last-enabled"] == enabled["modified"] > created["last-enabled"]


def test_patch_vars_does_not_reload_a_running_task(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    body = make_task_body("d3", "old")
    _create(api, body)
    body["vars"]["measurement"]["value"] = "new"
    patched = api.patch("/tasks/d3", json={"vars": body["vars"]}).json()
    assert patched["vars"]["measurement"]["value"] == "new"
    task = seeded.task("d3")
    assert task is not None
    assert task.running_vars["measurement"].value == "old"
    api.patch("/tasks/d3", json={"status": "disabled"})
    api.patch("/tasks/d3", json={"status": "enabled"})
    reloaded = seeded.task("d3")
    assert reloaded is not None
    assert reloaded.running_vars["measurement"].value == "new"


def test_deleted_template_orphans_its_tasks(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    _create(api, make_task_body("d4", "m"))
    assert api.delete("/templates/device_deadman").status_code == 204
    response = api.patch("/tasks/d4", json={"status": "disabled"})
    assert response.status_code == 400
    assert response.json()["error"] == "unknown template : err: no template exists"
    named = api.patch("/tasks/d4", json={"template-id": "gone"})
    assert named.json()["error"] == "unknown template gone: err: no template exists"
    assert api.get("/tasks/d4").json()["executing"] is True
    assert api.delete("/tasks/d4").status_code == 204
    assert seeded.tasks() == {}


def test_template_patch_rerenders_tasks_and_rolls_back_on_failure(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body, deadman_script: str
) -> None:
    _create(api, make_task_body("on1", "m"))
    _create(api, make_task_body("off1", "m", status="disabled"))
    renamed = deadman_script.replace(
        ".stateChangesOnly()", ".stateChangesOnly()\n        .noRecoveries()"
    )
    assert renamed != deadman_script
    ok = api.patch("/templates/device_deadman", json={"script": renamed})
    assert ok.status_code == 200, ok.text
    assert api.get("/tasks/on1").json()["script"] == renamed
    broken = "var extra string\n" + renamed
    failed = api.patch("/templates/device_deadman", json={"script": broken})
    assert failed.status_code == 500
    assert failed.json()["error"] == (
        'error reloading associated task on1: missing value for var "extra".'
    )
    # Tasks are rolled back, the template is not (Kapacitor saved it first).
    assert api.get("/tasks/on1").json()["script"] == renamed
    assert api.get("/templates/device_deadman").json()["script"] == broken
    assert api.get("/tasks/off1").json()["script"] == renamed


def test_template_patch_gives_disabled_tasks_the_script_unvalidated(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body, deadman_script: str
) -> None:
    _create(api, make_task_body("off2", "m", status="disabled"))
    broken = "var extra string\n" + deadman_script
    assert api.patch("/templates/device_deadman", json={"script": broken}).status_code == 200
    task = api.get("/tasks/off2").json()
    assert task["error"] == 'missing value for var "extra".'
    enable = api.patch("/tasks/off2", json={"status": "enabled"})
    assert enable.json()["error"] == 'invalid TICKscript: missing value for var "extra".'


PLAIN = "stream\n    |from()\n        .measurement('m')\n    |where(lambda: \"v\" < 5)\n"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"id": "p"}, 400, "must provide TICKscript"),
        (
            {"id": "p", "script": "var x = 1\n", "dbrps": [{"db": "a", "rp": "b"}]},
            400,
            "invalid task type: invalid",
        ),
        ({"id": "p", "script": PLAIN}, 400, "must specify dbrp"),
        ({"id": "p", "type": "", "script": PLAIN}, 400, "invalid JSON"),
        ({"id": "p", "dbrps": "iot"}, 400, "invalid JSON"),
    ],
)
def test_create_script_task_checks(
    api: httpx.Client,
    emulator: KapacitorEmulator,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    response = api.post("/tasks", json=body)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_create_script_task_takes_its_dbrps_from_the_body(
    api: httpx.Client, emulator: KapacitorEmulator
) -> None:
    body = {"id": "p2", "script": PLAIN, "dbrps": [{"db": "iot", "rp": "autogen"}]}
    task = _create(api, body)
    assert (task["type"], task["template-id"]) == ("stream", "")
    assert task["dbrps"] == [{"db": "iot", "rp": "autogen"}]


def test_templates_errors(
    api: httpx.Client, seeded: KapacitorEmulator, deadman_script: str
) -> None:
    again = api.post("/templates", json={"id": "device_deadman", "script": deadman_script})
    assert again.json()["error"] == "template device_deadman already exists"
    empty = api.post("/templates", json={"id": "t2", "script": ""})
    assert empty.json()["error"] == "invalid task type: invalid"
    assert api.get("/templates/nope").json()["error"] == "no template exists"
    patch = api.patch("/templates/nope", json={"script": deadman_script})
    assert (patch.status_code, patch.json()["error"]) == (
        404,
        "template does not exist, cannot update",
    )
    assert api.delete("/templates/nope").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("POST", "/tasks/x", 404, "Not Found"),
        ("PUT", "/tasks/x", 404, "Not Found"),
        ("DELETE", "/tasks", 404, "Not Found"),
        ("GET", "/tasks/", 400, "must specify task id on path"),
        ("GET", "/templates/", 400, "must specify template id on path"),
        ("GET", "/nope", 404, "Not Found"),
    ],
)
def test_routing_matches_kapacitor_mux(
    api: httpx.Client, emulator: KapacitorEmulator, method: str, path: str, status: int, error: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == status
    assert response.json() == {"error": error, "message": error}


def test_responses_carry_kapacitor_headers_and_go_json(
    running: Any, api: httpx.Client, emulator: KapacitorEmulator
) -> None:
    ping = httpx.head(f"{running.url}/kapacitor/v1/ping")
    assert ping.status_code == 204
    assert ping.headers["Content-Type"] == "application/json; charset=utf-8"
    assert uuid.UUID(ping.headers["Request-Id"]).version == 1
    created = api.post(
        "/tasks", json={"id": "j1", "script": PLAIN, "dbrps": [{"db": "a", "rp": "b"}]}
    )
    text = created.text
    assert text.startswith('{\n    "link": {\n        "rel": "self",')
    assert not text.endswith("\n")
    assert '\\"v\\" \\u003c 5' in text  # Go escapes < > & in strings
    assert json.loads(text)["script"] == PLAIN


def test_calls_are_counted_per_method_and_route(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    _create(api, make_task_body("c1", "m"))
    api.get("/tasks/c1")
    api.get("/tasks")
    api.patch("/tasks/c1", json={"status": "disabled"})
    api.get("/ping")
    assert seeded.calls == {
        ("POST", "tasks"): 1,
        ("GET", "tasks"): 2,
        ("PATCH", "tasks"): 1,
        ("GET", "ping"): 1,
    }
