"""The heartbeat: the task the installer keeps (on each Kapacitor backend: the
emulator as 1.5.7 and 1.7.7, and a real 1.5.7), the event the callback publishes,
and the devices it is never mistaken for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from deadman import (
    InstallerSettings,
    KapacitorClient,
    KapacitorSettings,
    LifecycleService,
    LifecycleSettings,
    alert_event_id,
    parse_alert,
)
from deadman.ops.audit import list_tasks
from deadman.ops.heartbeat import install_heartbeat
from tests.support.apps import AppFactory, json_of
from tests.support.backends import KapacitorBackend
from tests.support.events import inner_event, wrapped_delivery
from tests.support.receiver import ScriptedReceiver, serve_scripted
from tests.support.shared import captured_alerts

HEARTBEAT = "deadman_heartbeat"


def heartbeat_alert(level: str = "CRITICAL", time: str = "2026-12-01T07:00:00Z") -> dict[str, Any]:
    """A heartbeat alert as Kapacitor POSTs it: the deadman body with the task's id."""
    body = dict(next(b for b in captured_alerts() if b["level"] == level))
    return {**body, "id": HEARTBEAT, "time": time}


@pytest.fixture
def sink() -> Iterator[ScriptedReceiver]:
    with serve_scripted() as receiver:
        receiver.script("/sink", [], default=202)
        receiver.script("/ping", [], default=200)
        yield receiver


@pytest.mark.parametrize("level", ["CRITICAL", "OK"])
def test_alert_callback_heartbeat_becomes_a_heartbeat_event(
    function_client: AppFactory, sink: ScriptedReceiver, level: str
) -> None:
    client = function_client("alert_callback", K_SINK=f"{sink.url}/sink")
    body = heartbeat_alert(level)
    response = client.post("/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.data
    [sent] = sink.wait_for("/sink", 1)
    assert sent.ce("type") == "deadman-heartbeat"  # never historicization-*
    assert sent.ce("subject") == HEARTBEAT
    assert sent.ce("partitionkey") == HEARTBEAT
    assert sent.ce("time") == "2026-12-01T07:00:00Z"
    assert sent.ce("id") == alert_event_id(parse_alert(body))
    assert json.loads(sent.body)["level"] == level


def test_alert_callback_heartbeat_pings_once_the_sink_has_it(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    client = function_client(
        "alert_callback", K_SINK=f"{sink.url}/sink", HEARTBEAT_PING_URL=f"{sink.url}/ping"
    )
    for second in range(3):
        body = heartbeat_alert(time=f"2026-12-01T07:00:0{second}Z")
        assert client.post("/", json=body).status_code == 200
    assert len(sink.wait_for("/ping", 3)) == 3
    # A device alert is no heartbeat: no ping.
    assert client.post("/", json=captured_alerts()[0]).status_code == 200
    assert len(sink.requests("/ping")) == 3


def test_alert_callback_heartbeat_failed_ping_never_fails_the_alert(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    sink.script("/ping", [500])
    client = function_client(
        "alert_callback", K_SINK=f"{sink.url}/sink", HEARTBEAT_PING_URL=f"{sink.url}/ping"
    )
    assert client.post("/", json=heartbeat_alert()).status_code == 200
    unreachable = function_client(
        "alert_callback", K_SINK=f"{sink.url}/sink", HEARTBEAT_PING_URL="http://127.0.0.1:9/"
    )
    assert unreachable.post("/", json=heartbeat_alert()).status_code == 200


def test_alert_callback_heartbeat_sink_down_no_ping(
    function_client: AppFactory, sink: ScriptedReceiver
) -> None:
    sink.script("/sink", [503])
    client = function_client(
        "alert_callback", K_SINK=f"{sink.url}/sink", HEARTBEAT_PING_URL=f"{sink.url}/ping"
    )
    assert client.post("/", json=heartbeat_alert()).status_code == 503
    assert sink.requests("/ping") == []


def installer(kapacitor: KapacitorBackend, **values: Any) -> InstallerSettings:
    return InstallerSettings(kapacitor_url=kapacitor.url, kapacitor_db="iot", **values)


def test_install_heartbeat_creates_then_leaves_alone(kapacitor: KapacitorBackend) -> None:
    settings = installer(kapacitor, heartbeat_period="5s")
    with KapacitorClient(settings) as client:
        assert install_heartbeat(client, settings) == "created"
        task = kapacitor.task(HEARTBEAT)
        assert (task.status, task.executing, task.error) == ("enabled", True, "")
        assert task.vars["period"] == 5_000_000_000
        assert task.vars["measurement"] == HEARTBEAT
        code = [line for line in task.script.splitlines() if not line.lstrip().startswith("//")]
        assert not any(".stateChangesOnly()" in line for line in code)  # it must keep firing
        assert "|query(" in task.script  # a real source (kapacitor#2079)
        assert ".endpoint('benthos')" in task.script  # the device alerts' handler
        writes = kapacitor.writes()
        assert install_heartbeat(client, settings) == "unchanged"
        assert kapacitor.writes() == writes
        assert kapacitor.task(HEARTBEAT).last_enabled == task.last_enabled


def test_install_heartbeat_follows_period_and_delivery(kapacitor: KapacitorBackend) -> None:
    """PATCH does not reload a running task: the installer must restart it, seen as a
    new last-enabled time. That the running task took the new period is read from
    the emulator only: a real Kapacitor shows the stored vars, not the running ones."""
    first = installer(kapacitor)
    with KapacitorClient(first) as client:
        install_heartbeat(client, first)
        before = kapacitor.task(HEARTBEAT)
        kafka = installer(kapacitor, heartbeat_period="10s", alert_delivery="kafka")
        assert install_heartbeat(client, kafka) == "updated"
    task = kapacitor.task(HEARTBEAT)
    assert (task.status, task.executing, task.error) == ("enabled", True, "")
    assert task.last_enabled != before.last_enabled  # restarted
    assert task.vars["period"] == 10_000_000_000
    assert ".kafka()" in task.script
    assert ".post()" not in task.script
    if kapacitor.emulator is not None:
        running = kapacitor.emulator.task(HEARTBEAT)
        assert running is not None
        assert running.running_vars["period"].value == 10_000_000_000  # restarted with it


def test_install_heartbeat_disabled_removes_it(kapacitor: KapacitorBackend) -> None:
    settings = installer(kapacitor)
    with KapacitorClient(settings) as client:
        install_heartbeat(client, settings)
        off = installer(kapacitor, heartbeat_enabled=False)
        assert install_heartbeat(client, off) == "removed"
        assert kapacitor.find_task(HEARTBEAT) is None
        assert install_heartbeat(client, off) == "unchanged"


def test_installer_settings_need_a_database_for_the_heartbeat() -> None:
    with pytest.raises(ValidationError, match="KAPACITOR_DB"):
        InstallerSettings()
    assert InstallerSettings(heartbeat_enabled=False).kapacitor_db is None


def test_lifecycle_never_takes_the_heartbeat_for_a_device(
    kapacitor: KapacitorBackend, function_client: AppFactory
) -> None:
    """A heartbeat whose id looks like a device's task id is still no device's."""
    settings = installer(kapacitor, heartbeat_task_id="hb_not_fed")
    with KapacitorClient(settings) as client:
        install_heartbeat(client, settings)
    client_app = function_client(
        "delete_alert",
        KAPACITOR_URL=kapacitor.url,
        KAPACITOR_DB="iot",
        HEARTBEAT_TASK_ID="hb_not_fed",
    )
    delivery = wrapped_delivery(inner_event("device-deleted", ["hb", "dev-x"]))
    response = client_app.post("/", headers=delivery.headers, data=delivery.body)
    assert response.status_code == 422
    [refused] = json_of(response)["devices"]
    assert refused["device"] == "hb"
    assert "heartbeat" in refused["reason"]
    assert kapacitor.find_task("hb_not_fed") is not None


def test_audit_never_lists_the_heartbeat_as_a_device(kapacitor: KapacitorBackend) -> None:
    settings = installer(kapacitor)
    with KapacitorClient(settings) as client:
        install_heartbeat(client, settings)
    lifecycle = LifecycleSettings(
        kapacitor_url=kapacitor.url, kapacitor_db="iot", task_id_suffix=""
    )
    with LifecycleService(lifecycle) as service:
        listed = list_tasks(
            service.client, lifecycle.task_ids, lifecycle.kapacitor_template_id, 100
        )
    assert HEARTBEAT not in listed
    assert KapacitorSettings().heartbeat_task_id == HEARTBEAT
