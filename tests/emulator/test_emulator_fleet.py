"""Firing many tasks at once (a fleet-wide outage): ``fire_many`` and its control route."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator
from tests.support.emulator import AlertReceiver
from tests.support.wsgi import serve_wsgi

Body = Callable[..., dict[str, Any]]


def _tasks(api: httpx.Client, make_task_body: Body, count: int) -> list[str]:
    ids = [f"d{i}_not_fed" for i in range(count)]
    for i, task_id in enumerate(ids):
        assert api.post("/tasks", json=make_task_body(task_id, f"d{i}")).status_code == 200
    return ids


def test_fire_many_sends_every_alert_at_once(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    """Each receiver thread waits until all 30 POSTs are in: only concurrent ones pass."""
    everyone = threading.Barrier(30, timeout=10)
    alerts: list[str] = []

    def app(request: Request) -> Response:
        everyone.wait()
        alerts.append(json.loads(request.get_data())["id"])
        return Response(b"ok")

    ids = _tasks(api, make_task_body, 30)
    with serve_wsgi(Request.application(app)) as url:
        seeded.set_endpoint("benthos", url)
        fired = seeded.fire_many(ids, time=datetime(2026, 11, 21, 17, 0, tzinfo=UTC))
    assert [f.result.task_id for f in fired] == ids
    assert [(f.result.status, f.result.error) for f in fired] == [(200, None)] * 30
    assert sorted(alerts) == sorted(ids)  # one POST each
    assert {f.result.body["time"] for f in fired if f.result.body} == {"2026-11-21T17:00:00Z"}
    assert all(f.started >= 0 and f.latency > 0 for f in fired)


def test_fire_many_keeps_to_its_concurrency(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, peak

    def app(request: Request) -> Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return Response(b"ok")

    ids = _tasks(api, make_task_body, 12)
    with serve_wsgi(Request.application(app)) as url:
        seeded.set_endpoint("benthos", url)
        fired = seeded.fire_many(ids, concurrency=3)
    assert all(f.result.ok for f in fired)
    assert in_flight[1] == 3


def test_fire_many_reports_each_outcome_in_order(
    api: httpx.Client, seeded: KapacitorEmulator, receiver: AlertReceiver, make_task_body: Body
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    assert api.post("/tasks", json=make_task_body("a1", "a")).status_code == 200
    assert api.post("/tasks", json=make_task_body("x1", "x", status="disabled")).status_code == 200
    fired = seeded.fire_many(["a1", "nope", "x1"], "OK")
    assert [(f.result.task_id, f.result.ok) for f in fired] == [
        ("a1", True),
        ("nope", False),
        ("x1", False),
    ]
    assert [f.result.error for f in fired[1:]] == [
        "no task exists: nope",
        "task x1 is disabled: it cannot alert",
    ]
    assert len(receiver.requests) == 1
    assert seeded.fire_many([]) == []
    with pytest.raises(ValueError, match="level"):
        seeded.fire_many(["a1"], "LOUD")
    with pytest.raises(ValueError, match="concurrency"):
        seeded.fire_many(["a1"], concurrency=0)


def test_fire_many_control_route(
    running: RunningEmulator,
    api: httpx.Client,
    seeded: KapacitorEmulator,
    receiver: AlertReceiver,
    make_task_body: Body,
) -> None:
    seeded.set_endpoint("benthos", receiver.url)
    ids = _tasks(api, make_task_body, 5)
    url = f"{running.url}/emulator/alerts/fire-many"
    response = httpx.post(
        url, json={"tasks": [*ids, "nope"], "time": "2026-11-21T17:47:10Z", "concurrency": 2}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["fired"], answer["ok"]) == (6, 5)
    assert answer["seconds"] > 0
    assert [a["task"] for a in answer["alerts"]] == [*ids, "nope"]
    assert [a["status"] for a in answer["alerts"]] == [200] * 5 + [None]
    assert all("body" not in a and a["latency_ms"] >= 0 for a in answer["alerts"])
    assert len(receiver.requests) == 5
    for bad in ({"tasks": "d0_not_fed"}, {"tasks": [1]}, {"tasks": ids, "concurrency": 0}):
        assert httpx.post(url, json=bad).status_code == 400
