"""Fault injection, refused connections and the capacity model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import Fault, KapacitorEmulator, RunningEmulator

Body = Callable[..., dict[str, Any]]


def test_fail_next_answers_errors_then_recovers(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    seeded.fail_next(2, 503, method="POST", path="/kapacitor/v1/tasks")
    statuses = [api.post("/tasks", json=make_task_body("f1", "m")) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].json() == {"error": "emulated failure", "message": "emulated failure"}
    assert statuses[0].headers["X-Kapacitor-Version"] == "1.7.7-emulator"
    assert list(seeded.tasks()) == ["f1"]
    assert api.get("/tasks/f1").status_code == 200  # GET never matched the fault


def test_fail_after_store_leaves_the_task_stored(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Body
) -> None:
    seeded.fail_after_store(times=2, message="boom")
    failed = api.post("/tasks", json=make_task_body("f2", "m"))
    assert (failed.status_code, failed.json()["error"]) == (500, "boom")
    stored = api.get("/tasks/f2").json()
    assert (stored["status"], stored["executing"], stored["error"]) == ("enabled", False, "boom")
    disabled = api.post("/tasks", json=make_task_body("f3", "m", status="disabled"))
    assert disabled.status_code == 500
    assert api.get("/tasks/f3").json()["error"] == ""
    retry = api.post("/tasks", json=make_task_body("f2", "m"))
    assert retry.json()["error"] == "task f2 already exists"


def test_latency_delays_only_matching_calls(api: httpx.Client, emulator: KapacitorEmulator) -> None:
    fault_id = emulator.add_latency(0.2, method="GET", path="/kapacitor/v1/ping")
    started = time.monotonic()
    assert api.get("/ping").status_code == 204
    assert time.monotonic() - started >= 0.2
    assert api.head("/ping").status_code == 204
    (fault,) = emulator.faults.snapshot()
    assert (fault["id"], fault["matched"], fault["affected"]) == (fault_id, 1, 1)


def test_flapping_fails_every_other_call(api: httpx.Client, emulator: KapacitorEmulator) -> None:
    emulator.flap(every=2, status=503, path="/kapacitor/v1/ping")
    assert [api.get("/ping").status_code for _ in range(5)] == [503, 204, 503, 204, 503]


def test_fault_matches_method_path_prefix_and_regex() -> None:
    fault = Fault(
        methods=frozenset({"patch"}),
        path_prefix="/kapacitor/v1/tasks/",
        path_regex=r"_not_fed$",
        status=500,
    )
    assert fault.matches("PATCH", "/kapacitor/v1/tasks/d_not_fed")
    assert not fault.matches("GET", "/kapacitor/v1/tasks/d_not_fed")
    assert not fault.matches("PATCH", "/kapacitor/v1/tasks/other")
    with pytest.raises(ValueError, match="store_then_fail"):
        Fault(store_then_fail=True)


def test_stopped_listener_refuses_connections_and_keeps_state(
    running: RunningEmulator,
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Body,
) -> None:
    assert api.post("/tasks", json=make_task_body("k1", "m")).status_code == 200
    running.stop_listening()
    assert not running.listening
    with pytest.raises(httpx.ConnectError):
        api.get("/ping")
    running.resume_listening()
    assert api.get("/tasks/k1").json()["status"] == "enabled"


def test_capacity_queues_calls_beyond_concurrency(
    running: RunningEmulator, emulator: KapacitorEmulator
) -> None:
    emulator.set_capacity(0.05, 2)
    barrier = threading.Barrier(4)

    def call(_: int) -> int:
        barrier.wait()
        return httpx.get(f"{running.url}/kapacitor/v1/tasks").status_code

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(call, range(4)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 4
    # Two waves of two 50 ms calls at least.
    assert elapsed >= 0.1
    snapshot = emulator.capacity.snapshot()
    assert snapshot["served"] == 4
    assert isinstance(snapshot["peak"], int)
    assert 1 <= snapshot["peak"] <= 2


def test_capacity_does_not_gate_ping(api: httpx.Client, emulator: KapacitorEmulator) -> None:
    emulator.set_capacity(0.0, 1)
    api.get("/ping")
    assert emulator.capacity.snapshot()["served"] == 0
    api.get("/tasks")
    assert emulator.capacity.snapshot()["served"] == 1


def test_state_control_route_shows_tasks_calls_and_capacity(
    running: RunningEmulator,
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Body,
) -> None:
    seeded.set_capacity(0.0, 3)
    assert api.post("/tasks", json=make_task_body("s1", "m")).status_code == 200
    state = httpx.get(f"{running.url}/emulator/state").json()
    assert state["tasks"]["s1"]["status"] == "enabled"
    assert state["tasks"]["s1"]["executing"] is True
    assert state["templates"] == ["device_deadman"]
    assert {"method": "POST", "kind": "tasks", "count": 1} in state["calls"]
    assert (state["capacity"]["concurrency"], state["capacity"]["served"]) == (3, 1)
    seeded.reset()
    assert seeded.tasks() == {}
    assert (seeded.capacity.service_time, seeded.capacity.concurrency) == (0.0, None)


def test_hang_fault_holds_task_calls_until_removed_while_ping_answers(
    running: RunningEmulator, seeded: KapacitorEmulator
) -> None:
    fault_id = seeded.wedge()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.get, f"{running.url}/kapacitor/v1/tasks", timeout=30)
        ping = httpx.get(f"{running.url}/kapacitor/v1/ping", timeout=5)
        assert ping.status_code == 204
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{running.url}/kapacitor/v1/tasks/x", timeout=0.3)
        assert not held.done()
        assert seeded.faults.remove(fault_id)
        assert held.result(timeout=10).status_code == 200


def test_dribble_fault_sends_the_body_a_byte_at_a_time(
    running: RunningEmulator, emulator: KapacitorEmulator
) -> None:
    emulator.dribble(0.05, path="/kapacitor/v1/tasks")
    with socket.create_connection((running.host, running.port), timeout=5) as connection:
        connection.sendall(b"GET /kapacitor/v1/tasks/missing HTTP/1.1\r\nHost: k\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, "the connection closed before the head ended"
            received += chunk
        assert received.startswith(b"HTTP/1.1 404")
        body = received.split(b"\r\n\r\n", 1)[1]
        assert len(body) <= 1
        assert len(body + connection.recv(65536)) <= 2  # one byte at a time, not the rest
