"""A lifecycle function over several Kapacitor shards (KAPACITOR_URLS), each an
emulator instance: faults and capacity a real server cannot be given on demand.
The same placement on real servers: tests/e2e/test_kapacitor_shards.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from werkzeug.test import TestResponse

from deadman import shard_key, shard_of
from tests.support.apps import AppFactory, json_of
from tests.support.backends import KapacitorBackend, emulated_backend
from tests.support.emulator import served_emulator
from tests.support.events import inner_event, wrapped_delivery
from tests.support.logs import LogCapture
from tests.support.tasks import SUFFIX

CONCURRENCY = 4
DEVICES = [f"shard-dev-{number:03d}" for number in range(90)]


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[KapacitorBackend]]:
    """Three emulators, each behind its counting proxy."""
    monkeypatch.delenv("KAPACITOR_URL", raising=False)
    with ExitStack() as stack:
        yield [stack.enter_context(emulated_backend("emulator-1.5.7")) for _ in range(3)]


def expected_tasks(backends: list[KapacitorBackend], devices: list[str]) -> list[set[str]]:
    """Each shard's task ids by the placement rule, in the shards' order."""
    keys = [shard_key(backend.url) for backend in backends]
    return [{d + SUFFIX for d in devices if shard_of(d, keys) == key} for key in keys]


def enable(
    function_client: AppFactory, backends: list[KapacitorBackend], devices: list[str]
) -> TestResponse:
    client = function_client(
        "enable_alert",
        KAPACITOR_URLS=",".join(backend.url for backend in backends),
        KAPACITOR_DB="iot",
        BULK_CONCURRENCY=str(CONCURRENCY),
    )
    delivery = wrapped_delivery(inner_event("device-enabled", devices))
    return client.post("/", headers=delivery.headers, data=delivery.body)


def test_enable_alert_bulk_runs_bulk_concurrency_calls_per_shard(
    function_client: AppFactory, shards: list[KapacitorBackend]
) -> None:
    for backend in shards:
        assert backend.emulator is not None
        backend.emulator.set_capacity(0.02, None)
        backend.emulator.capacity.reset_counters()
    response = enable(function_client, shards, DEVICES)
    assert response.status_code == 200, response.data
    assert [set(backend.tasks()) for backend in shards] == expected_tasks(shards, DEVICES)
    # Each shard had its own BULK_CONCURRENCY calls in flight, at the same time as
    # the others: throughput grows with the shards.
    peaks = [backend.emulator.capacity.peak for backend in shards if backend.emulator]
    assert peaks == [CONCURRENCY] * 3


def test_enable_alert_failing_shard_fails_only_its_devices(
    function_client: AppFactory, shards: list[KapacitorBackend]
) -> None:
    failing = shards[1]
    failing.fail_next(times=1_000, status=503)
    response = enable(function_client, shards, DEVICES)
    assert response.status_code == 503
    body = json_of(response)
    assert body["error"] == "devices_unavailable"
    expected = expected_tasks(shards, DEVICES)
    on_failing = {task_id.removesuffix(SUFFIX) for task_id in expected[1]}
    named = {entry["device"] for entry in body["devices"]}
    assert named <= on_failing
    assert len(named) + body.get("more_devices", 0) == len(on_failing)
    assert [set(backend.tasks()) for backend in shards] == [expected[0], set(), expected[2]]
    # The redelivery converges the failed shard's devices, and only calls there to
    # write: the others' tasks are in state.
    failing.proxy.reset()
    for backend in (shards[0], shards[2]):
        backend.proxy.reset()
    assert enable(function_client, shards, DEVICES).status_code == 200
    assert [set(backend.tasks()) for backend in shards] == expected
    assert [backend.writes() for backend in shards] == [0, len(on_failing), 0]


def test_enable_alert_one_device_calls_only_its_shard(
    function_client: AppFactory, shards: list[KapacitorBackend]
) -> None:
    [device] = DEVICES[:1]
    response = enable(function_client, shards, [device])
    assert response.status_code == 200, response.data
    home = next(i for i, tasks in enumerate(expected_tasks(shards, [device])) if tasks)
    assert [sum(backend.calls.values()) > 0 for backend in shards] == [
        index == home for index in range(3)
    ]
    assert shards[home].task(device + SUFFIX).status == "enabled"


def test_enable_alert_shards_own_credentials_used_never_shown(
    function_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shards with credentials in their URLs, a third with the shared ones; each
    emulator accepts only its own. Their passwords appear in no answer or log line."""
    secret = "Pw-7f3e-not-for-logs"
    logs = LogCapture()
    logging.getLogger("deadman").addHandler(logs)
    monkeypatch.delenv("KAPACITOR_URL", raising=False)
    try:
        refused = _enable_then_lose_a_shard(function_client, secret)
    finally:
        logging.getLogger("deadman").removeHandler(logs)
    assert '"kapacitor_shard"' in logs.text  # failures name the shard, by its key
    assert secret not in logs.text
    assert secret not in refused.get_data(as_text=True)


def _enable_then_lose_a_shard(function_client: AppFactory, secret: str) -> TestResponse:
    with ExitStack() as stack:
        running = [
            stack.enter_context(served_emulator(username=user, password=f"{secret}-{user}"))
            for user in ("own0", "own1", "shared")
        ]
        own = [
            r.url.replace("://", f"://{u}:{secret}-{u}@")
            for r, u in zip(running, ("own0", "own1"), strict=False)
        ]
        client = function_client(
            "enable_alert",
            KAPACITOR_URLS=",".join([*own, running[2].url]),
            KAPACITOR_USERNAME="shared",
            KAPACITOR_PASSWORD=f"{secret}-shared",
            KAPACITOR_DB="iot",
        )
        delivery = wrapped_delivery(inner_event("device-enabled", DEVICES[:30]))
        response = client.post("/", headers=delivery.headers, data=delivery.body)
        assert response.status_code == 200, response.data
        assert all(r.emulator.tasks() for r in running)
        running[0].stop_listening()  # that shard goes down: its devices fail
        again = wrapped_delivery(inner_event("device-enabled", DEVICES[:30], event_id="e-2"))
        refused = client.post("/", headers=again.headers, data=again.body)
        assert refused.status_code == 503
        return refused
