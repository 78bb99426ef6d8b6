"""Deadman alert firing against a local receiver, compared with the captured POSTs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from deadman import InstallerSettings
from deadman.ops.heartbeat import heartbeat_body
from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator, serve
from tests.support.emulator import DEADMAN_TEMPLATE_ID, AlertReceiver

Body = Callable[..., dict[str, Any]]


def _captured_template(shared_json: Callable[[str], Any]) -> tuple[str, str]:
    exchanges = shared_json("api-exchanges.json")
    body = next(e for e in exchanges if e["note"] == "get template (exists)")["response"]["body"]
    return body["id"], body["script"]


def _enable(api: httpx.Client, template_id: str, task_id: str, device: str) -> None:
    response = api.post(
        "/tasks",
        json={
            "id": task_id,
            "template-id": template_id,
            "status": "enabled",
            "dbrps": [{"db": "iot", "rp": "autogen"}],
            "vars": {
                "name": {"type": "string", "value": task_id},
                "measurement": {"type": "string", "value": device},
                "db": {"type": "string", "value": "iot"},
                "rp": {"type": "string", "value": "autogen"},
            },
        },
    )
    assert response.status_code == 200, response.text


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_fire_critical_then_ok_matches_captured_posts(
    api: httpx.Client,
    emulator: KapacitorEmulator,
    receiver: AlertReceiver,
    shared_json: Callable[[str], Any],
) -> None:
    captured = shared_json("deadman-alert-posts.json")
    template_id, script = _captured_template(shared_json)
    emulator.add_template(template_id, script)
    emulator.set_endpoint("benthos", f"{receiver.url}/post")
    task_id = captured[0]["body"]["id"]
    _enable(api, template_id, task_id, "dev-1")
    results = [
        emulator.fire_deadman(
            task_id,
            post["body"]["level"],
            _at(post["body"]["time"]),
            emitted=post["body"]["data"]["series"][0]["values"][0][1],
        )
        for post in captured
    ]
    assert [(r.status, r.error) for r in results] == [(200, None), (200, None)]
    assert len(receiver.requests) == 2
    for (request, raw), post in zip(receiver.requests, captured, strict=True):
        expected = post["body"]
        got = json.loads(raw)
        assert raw.endswith(b"}\n")
        assert not raw.endswith(b"\n\n")
        assert b"\n" not in raw[:-1]  # compact, one trailing newline
        assert list(got) == list(expected)
        for key in expected:
            if key != "details":
                assert got[key] == expected[key], key
        info = emulator.alerts.server_info
        details = expected["details"]
        for name in ("ClusterID", "ServerID"):
            details = details.replace(_server_id(details, name), str(info[name]))
        assert got["details"] == details
        assert request.path == post["request_path"]
        for header in ("User-Agent", "Content-Type", "Accept-Encoding", "Content-Length"):
            assert request.headers[header] == post["headers"][header], header


def _server_id(details: str, name: str) -> str:
    marker = f"&#34;{name}&#34;:&#34;"
    start = details.index(marker) + len(marker)
    return details[start : details.index("&#34;", start)]


def test_fire_sends_endpoint_headers_and_basic_auth(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    seeded.set_endpoint(
        "benthos",
        receiver.url + "/alerts",
        headers={"X-Token": "abc"},
        basic_auth=("u", "p"),
    )
    assert api.post("/tasks", json=make_task_body("h1_not_fed", "h1")).status_code == 200
    result = seeded.fire_deadman("h1_not_fed")
    assert result.ok
    request, _ = receiver.requests[0]
    assert request.path == "/alerts"
    assert request.headers["X-Token"] == "abc"
    assert request.authorization is not None
    assert (request.authorization.username, request.authorization.password) == ("u", "p")


def test_fire_heartbeat_details_name_its_shard(
    api: httpx.Client, emulator: KapacitorEmulator, receiver: AlertReceiver
) -> None:
    """As a real 1.5.7 sends it (tests/e2e/test_kapacitor_shards.py): the script's
    ``.details(shard)``, not the default JSON."""
    emulator.set_endpoint("benthos", receiver.url)
    settings = InstallerSettings(kapacitor_db="iot")
    body = heartbeat_body(settings, "http://kapacitor-1:9092")
    assert api.post("/tasks", json=body).status_code == 200
    fired = emulator.fire_deadman(settings.heartbeat_task_id).body
    assert fired is not None
    assert fired["details"] == "http://kapacitor-1:9092"


def test_fire_tracks_duration_and_previous_level_per_alert(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    assert api.post("/tasks", json=make_task_body("p1", "p")).status_code == 200
    start = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    levels = [("CRITICAL", 0), ("CRITICAL", 60), ("OK", 300), ("CRITICAL", 400)]
    bodies = [
        seeded.fire_deadman(
            "p1",
            level,
            start.replace(second=0, minute=offset // 60),
            emitted=0 if level != "OK" else 3,
        ).body
        for level, offset in levels
    ]
    assert [(b["previousLevel"], b["duration"]) for b in bodies if b is not None] == [
        ("OK", 0),
        ("CRITICAL", 60 * 10**9),
        ("CRITICAL", 300 * 10**9),
        ("OK", 0),
    ]
    assert api.delete("/tasks/p1").status_code == 204
    assert api.post("/tasks", json=make_task_body("p1", "p")).status_code == 200
    again = seeded.fire_deadman("p1", "OK").body
    assert again is not None
    assert again["previousLevel"] == "OK"


def test_fire_uses_the_running_definition_until_reload(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    body = make_task_body("r1", "r")
    assert api.post("/tasks", json=body).status_code == 200
    body["vars"]["name"]["value"] = "renamed"
    assert api.patch("/tasks/r1", json={"vars": body["vars"]}).status_code == 200
    assert seeded.fire_deadman("r1").alert_id == "r1"
    api.patch("/tasks/r1", json={"status": "disabled"})
    api.patch("/tasks/r1", json={"status": "enabled"})
    assert seeded.fire_deadman("r1").alert_id == "renamed"


def test_fire_refuses_disabled_or_missing_tasks(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    assert api.post("/tasks", json=make_task_body("x1", "x", status="disabled")).status_code == 200
    disabled = seeded.fire_deadman("x1")
    assert disabled.status is None
    assert disabled.error == "task x1 is disabled: it cannot alert"
    assert seeded.fire_deadman("nope").error == "no task exists: nope"
    assert receiver.requests == []


def test_fire_reports_receiver_errors_and_transport_failures(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    receiver.status = 500
    seeded.set_endpoint("benthos", receiver.url)
    assert api.post("/tasks", json=make_task_body("e1", "e")).status_code == 200
    failed = seeded.fire_deadman("e1")
    assert (failed.status, failed.ok) == (500, False)
    seeded.set_endpoint("benthos", "http://127.0.0.1:9/unreachable")
    broken = seeded.fire_deadman("e1", "OK")
    assert broken.status is None
    assert broken.error is not None
    assert broken.error.startswith("failed to POST alert data")
    assert len(receiver.requests) == 1  # no retry


def test_fire_without_the_endpoint_configured_sends_nothing(
    deadman_script: str, make_task_body: Body
) -> None:
    """The template posts to endpoint 'benthos', which this emulator does not have."""
    emulator = KapacitorEmulator()
    emulator.add_template(DEADMAN_TEMPLATE_ID, deadman_script)
    with serve(emulator) as running:
        url = f"{running.url}/kapacitor/v1/tasks"
        assert httpx.post(url, json=make_task_body("u1", "u")).status_code == 200
        result = emulator.fire_deadman("u1")
    assert (result.status, result.error) == (None, "no [[httppost]] endpoint named 'benthos'")
    assert result.body is not None
    assert result.body["id"] == "u1"


@pytest.mark.parametrize(
    ("payload", "code"), [({"task": "c1"}, 200), ({"task": "zz"}, 409), ({"level": "OK"}, 400)]
)
def test_fire_control_route(
    running: RunningEmulator,
    api: httpx.Client,
    seeded: KapacitorEmulator,
    receiver: AlertReceiver,
    make_task_body: Body,
    payload: dict[str, Any],
    code: int,
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    assert api.post("/tasks", json=make_task_body("c1", "c")).status_code == 200
    response = httpx.post(
        f"{running.url}/emulator/alerts/fire", json={**payload, "time": "2026-11-21T17:47:10Z"}
    )
    assert response.status_code == code
    if code == 200:
        assert response.json()["status"] == 200
        assert response.json()["body"]["time"] == "2026-11-21T17:47:10Z"
