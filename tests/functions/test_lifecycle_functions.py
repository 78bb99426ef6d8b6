"""The four lifecycle functions served by functions-framework, against each
Kapacitor backend (the emulator as 1.5.7 and 1.7.7, and a real 1.5.7).

Every row of SPEC §3 (what each event does) and §4 (which status Knative gets).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from deadman import EVENT_TIME_VAR, LIFECYCLE_TYPES, ORDERED_TARGET
from deadman_local.functions import FunctionProcess
from tests.support.apps import AppFactory, json_of
from tests.support.backends import KapacitorBackend
from tests.support.events import (
    HttpDelivery,
    direct_binary,
    direct_structured,
    inner_event,
    wrapped_delivery,
)
from tests.support.paths import FUNCTIONS_SOURCE

T0 = "2026-11-21T17:45:00.000Z"
T1 = "2026-11-21T17:46:00.000Z"
T2 = "2026-11-21T17:47:00.000Z"
T3 = "2026-11-21T17:48:00.000Z"

TARGETS = {row.event_type: row.target for row in LIFECYCLE_TYPES}


@pytest.fixture
def send(function_client: AppFactory, kapacitor: KapacitorBackend) -> Callable[..., Any]:
    """POST an event to the function that handles its type; returns the response."""
    return sender(function_client, kapacitor)


@pytest.fixture
def send_emulated(
    function_client: AppFactory, emulated_kapacitor: KapacitorBackend
) -> Callable[..., Any]:
    """``send`` to the emulator only, for faults a real server cannot produce."""
    return sender(function_client, emulated_kapacitor)


def sender(function_client: AppFactory, kapacitor: KapacitorBackend) -> Callable[..., Any]:
    clients: dict[str, FlaskClient] = {}

    def post(
        event_type: str,
        devices: list[str],
        *,
        time: str = T1,
        event_id: str | None = None,
        deliver: Callable[[dict[str, Any]], HttpDelivery] = wrapped_delivery,
        target: str | None = None,
        binlog: tuple[str, int, int] | None = None,
        server_id: str = "1",
        **env: str,
    ) -> Any:
        target = target or TARGETS[event_type]
        key = target + json.dumps(env, sort_keys=True)
        if key not in clients:
            clients[key] = function_client(
                target, KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot", **env
            )
        inner = inner_event(
            event_type,
            devices,
            time=time,
            event_id=event_id or f"{event_type}-{time}",
            binlog=binlog,
            server_id=server_id,
        )
        delivery = deliver(inner)
        return clients[key].post("/", headers=delivery.headers, data=delivery.body)

    return post


def statuses(kapacitor: KapacitorBackend) -> dict[str, str]:
    return kapacitor.statuses()


def writes(kapacitor: KapacitorBackend) -> int:
    return kapacitor.writes()


def test_enable_alert_every_delivery_form_creates_enabled_task(
    send: Callable[..., Any], kapacitor: KapacitorBackend, deliver_as: Any
) -> None:
    response = send("device-enabled", ["dev-1"], deliver=deliver_as)
    assert response.status_code == 200, response.data
    task = kapacitor.task("dev-1_not_fed")
    assert task.status == "enabled"
    assert task.template_id == "measurement_series_not_fed_template"
    assert task.vars["measurement"] == "dev-1"
    assert task.vars["name"] == "dev-1_not_fed"
    assert task.vars["db"] == "iot"
    assert task.vars["rp"] == "autogen"
    assert task.dbrps == [("iot", "autogen")]


def test_lifecycle_done_when_scenario(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    devices = ["dev-1", "dev-2", "dev-3"]
    assert send("device-enabled", devices, time=T1).status_code == 200
    assert statuses(kapacitor) == {f"{d}_not_fed": "enabled" for d in devices}
    assert send("device-disabled", devices, time=T2).status_code == 200
    assert statuses(kapacitor) == {f"{d}_not_fed": "disabled" for d in devices}
    before = writes(kapacitor)
    assert send("device-enabled", devices, time=T1).status_code == 200
    assert statuses(kapacitor) == {f"{d}_not_fed": "disabled" for d in devices}
    assert writes(kapacitor) == before
    response = send("device-enabled", ['dev"4'], time=T2)
    assert 400 <= response.status_code < 500
    assert 'dev"4_not_fed' not in statuses(kapacitor)
    assert response.json["devices"][0]["device"] == 'dev"4'


def test_create_alert_missing_task_creates_enabled(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    assert send("device-created", ["d"]).status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "enabled"}


def test_create_alert_configured_create_status(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    assert send("device-created", ["d"], TASK_CREATE_STATUS="disabled").status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "disabled"}


def test_create_alert_existing_task_kept(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    send("device-created", ["d"], time=T0)
    before = kapacitor.task("d_not_fed").created
    assert send("device-created", ["d"], time=T1).status_code == 200
    assert kapacitor.task("d_not_fed").created == before


def test_enable_alert_disabled_task_enabled(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    send("device-created", ["d"], time=T0, TASK_CREATE_STATUS="disabled")
    assert send("device-enabled", ["d"], time=T1).status_code == 200
    task = kapacitor.task("d_not_fed")
    assert task.status == "enabled"
    assert task.executing


def test_disable_alert_enabled_task_disabled(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    send("device-enabled", ["d"], time=T0)
    assert send("device-disabled", ["d"], time=T1).status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "disabled"}


def test_disable_alert_missing_task_is_success(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    assert send("device-disabled", ["ghost"]).status_code == 200
    assert statuses(kapacitor) == {}
    assert writes(kapacitor) == 0


def test_delete_alert_present_task_deleted(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    send("device-enabled", ["d"], time=T0)
    assert send("device-deleted", ["d"], time=T1).status_code == 200
    assert statuses(kapacitor) == {}


def test_delete_alert_missing_task_is_success(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    assert send("device-deleted", ["ghost"]).status_code == 200


@pytest.mark.parametrize("event_type", sorted(TARGETS))
def test_lifecycle_duplicate_event_costs_one_get_and_no_write(
    send: Callable[..., Any], kapacitor: KapacitorBackend, event_type: str
) -> None:
    send("device-enabled", ["d"], time=T0)
    send(event_type, ["d"], time=T1)
    calls_before = sum(kapacitor.calls.values())
    writes_before = writes(kapacitor)
    snapshot = statuses(kapacitor)
    assert send(event_type, ["d"], time=T1).status_code == 200
    assert statuses(kapacitor) == snapshot
    assert writes(kapacitor) == writes_before
    assert sum(kapacitor.calls.values()) - calls_before == 1


@pytest.mark.parametrize(
    ("late_type", "newest_type", "expected"),
    [
        ("device-enabled", "device-disabled", {"d_not_fed": "disabled"}),
        ("device-disabled", "device-enabled", {"d_not_fed": "enabled"}),
        ("device-deleted", "device-enabled", {"d_not_fed": "enabled"}),
        ("device-created", "device-disabled", {"d_not_fed": "disabled"}),
    ],
)
def test_lifecycle_stale_event_changes_nothing(
    send: Callable[..., Any],
    kapacitor: KapacitorBackend,
    late_type: str,
    newest_type: str,
    expected: dict[str, str],
) -> None:
    send("device-created", ["d"], time=T0)
    send(newest_type, ["d"], time=T2)
    response = send(late_type, ["d"], time=T1)
    assert response.status_code == 200
    assert statuses(kapacitor) == expected
    recorded = kapacitor.task("d_not_fed").vars[EVENT_TIME_VAR]
    assert recorded.startswith("2026-11-21T17:47:00")


@pytest.mark.parametrize("later_first", [False, True], ids=["in-order", "reversed"])
@pytest.mark.parametrize(
    ("earlier_type", "later_type", "expected"),
    [
        ("device-enabled", "device-disabled", "disabled"),
        ("device-disabled", "device-enabled", "enabled"),
        ("device-deleted", "device-enabled", "enabled"),
    ],
)
def test_lifecycle_equal_times_follow_binlog_position(
    send: Callable[..., Any],
    kapacitor: KapacitorBackend,
    deliver_as: Any,
    earlier_type: str,
    later_type: str,
    expected: str,
    later_first: bool,
) -> None:
    """Committed in one second without GTIDs: equal times, the binlog decides.

    (A delete followed by a late older enable is the documented limit of a
    deleted task keeping no record, whatever the times: see docs/guarantees.md.)
    """
    send("device-created", ["d"], time=T0, binlog=("binlog.000003", 900, 0))
    events = [
        (earlier_type, ("binlog.000003", 1547, 0)),
        (later_type, ("binlog.000003", 1547, 1)),
    ]
    for event_type, position in reversed(events) if later_first else events:
        response = send(event_type, ["d"], time=T1, binlog=position, deliver=deliver_as)
        assert response.status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": expected}


@pytest.mark.parametrize("later_first", [False, True], ids=["in-order", "reversed"])
def test_lifecycle_binlog_position_wins_over_disagreeing_times(
    send: Callable[..., Any], kapacitor: KapacitorBackend, later_first: bool
) -> None:
    """Same server, no GTIDs: the disable's statement started first (earlier time)
    but waited on the device row's lock and committed after the enable (later in
    the binlog). The device table ends disabled; so must the task, in either order."""
    send("device-created", ["d"], time=T0, binlog=("binlog.000003", 900, 0))
    events = [
        ("device-enabled", T2, ("binlog.000003", 1547, 0)),
        ("device-disabled", T1, ("binlog.000004", 120, 0)),
    ]
    for event_type, time, position in reversed(events) if later_first else events:
        assert send(event_type, ["d"], time=time, binlog=position).status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "disabled"}


@pytest.mark.parametrize("later_first", [False, True], ids=["in-order", "reversed"])
def test_lifecycle_across_servers_time_decides(
    send: Callable[..., Any], kapacitor: KapacitorBackend, later_first: bool
) -> None:
    """After a failover the new primary's binlog is another sequence: time orders."""
    send("device-created", ["d"], time=T0, binlog=("binlog.000003", 900, 0))
    events = [
        ("device-disabled", T1, ("binlog.000009", 99_000, 0), "1"),
        ("device-enabled", T2, ("binlog.000001", 4, 0), "2"),
    ]
    for event_type, time, position, server in reversed(events) if later_first else events:
        response = send(event_type, ["d"], time=time, binlog=position, server_id=server)
        assert response.status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "enabled"}


def test_enable_alert_recording_a_newer_stamp_never_restarts_the_task(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    """Stopping tasks is what wedges Kapacitor (kapacitor#1829): bookkeeping vars
    (event time, position, id) are written with a PATCH of vars alone."""
    send("device-enabled", ["d"], time=T0, binlog=("binlog.000003", 100, 0))
    before = kapacitor.task("d_not_fed")
    send("device-enabled", ["d"], time=T2, binlog=("binlog.000004", 200, 0))
    after = kapacitor.task("d_not_fed")
    assert after.vars["deadman_event_position"].endswith("file=binlog.000004 pos=200 row=0")
    assert (after.status, after.executing) == ("enabled", True)
    assert after.last_enabled == before.last_enabled  # never disabled and enabled again


def test_enable_alert_newer_event_same_state_records_time(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    """Otherwise a late disable older than this enable would still win."""
    send("device-enabled", ["d"], time=T0)
    send("device-enabled", ["d"], time=T2)
    assert send("device-disabled", ["d"], time=T1).status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "enabled"}


@pytest.mark.parametrize("event_type", ["device-disabled", "device-created", "something-else"])
def test_enable_alert_ignores_other_types(
    send: Callable[..., Any], kapacitor: KapacitorBackend, event_type: str
) -> None:
    response = send(event_type, ["d"], target="enable_alert")
    assert response.status_code == 200
    assert sum(kapacitor.calls.values()) == 0


def test_enable_alert_legacy_eventtype(
    function_client: AppFactory, kapacitor: KapacitorBackend
) -> None:
    client = function_client("enable_alert", KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot")
    delivery = wrapped_delivery(inner_event("outbox.event.device", ["old"], eventtype="enabled"))
    assert client.post("/", headers=delivery.headers, data=delivery.body).status_code == 200
    assert statuses(kapacitor) == {"old_not_fed": "enabled"}


def test_enable_alert_bulk_mixed_outcomes(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    devices = ["ok-1", "bad/1", "ok-2", "bad 2", "ok-3"]
    response = send("device-enabled", devices)
    assert response.status_code == 422
    body = response.json
    assert {d["device"] for d in body["devices"]} == {"bad/1", "bad 2"}
    assert len(response.data) < 1024
    assert statuses(kapacitor) == {f"ok-{i}_not_fed": "enabled" for i in (1, 2, 3)}


def test_enable_alert_bulk_many_devices(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    devices = [f"bulk-{i:03d}" for i in range(120)]
    assert send("device-enabled", devices).status_code == 200
    assert statuses(kapacitor) == {f"{d}_not_fed": "enabled" for d in devices}


def test_enable_alert_too_many_devices_is_422(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    response = send("device-enabled", ["a", "b", "c"], MAX_DEVICES_PER_EVENT="2")
    assert response.status_code == 422
    assert response.json["error"] == "too_many_devices"
    assert sum(kapacitor.calls.values()) == 0


def test_enable_alert_kapacitor_down_is_503(function_client: AppFactory) -> None:
    client = function_client(
        "enable_alert",
        KAPACITOR_URL="http://127.0.0.1:9",
        KAPACITOR_DB="iot",
        KAPACITOR_CONNECT_TIMEOUT_SECONDS="0.5",
    )
    delivery = wrapped_delivery(inner_event("device-enabled", ["a", "b"]))
    response = client.post("/", headers=delivery.headers, data=delivery.body)
    assert response.status_code == 503
    assert json_of(response)["error"] == "devices_unavailable"
    assert {d["device"] for d in json_of(response)["devices"]} == {"a", "b"}


def test_enable_alert_kapacitor_5xx_then_retry_succeeds(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    kapacitor.fail_next(times=1, status=500, method="GET")
    assert send("device-enabled", ["d"]).status_code == 503
    assert send("device-enabled", ["d"]).status_code == 200
    assert statuses(kapacitor) == {"d_not_fed": "enabled"}


def test_enable_alert_500_after_store_reads_back_and_restarts(
    send_emulated: Callable[..., Any], emulated_kapacitor: KapacitorBackend
) -> None:
    """Kapacitor can store an enabled task, fail to start it and answer 500.
    Emulator only: a real server cannot be made to fail a start on demand."""
    send, kapacitor = send_emulated, emulated_kapacitor
    assert kapacitor.emulator is not None
    kapacitor.emulator.fail_after_store(times=1, status=500)
    first = send("device-enabled", ["d"])
    assert first.status_code == 503
    assert "stored but did not start" in first.json["devices"][0]["reason"]
    assert kapacitor.calls[("POST", "tasks")] == 1
    assert send("device-enabled", ["d"]).status_code == 200
    task = kapacitor.task("d_not_fed")
    assert task.status == "enabled"
    assert task.executing
    assert kapacitor.calls[("POST", "tasks")] == 1


def test_enable_alert_unknown_template_is_422(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    response = send("device-enabled", ["d"], KAPACITOR_TEMPLATE_ID="nope")
    assert response.status_code == 422
    assert "unknown template nope" in response.json["devices"][0]["reason"]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json"}, b'{"hello": "world"}'),
        ({"Content-Type": "application/cloudevents+json"}, b"{broken"),
        ({"ce-specversion": "1.0", "ce-type": "device-enabled"}, b"{}"),
    ],
)
def test_enable_alert_not_a_cloudevent_is_400(
    function_client: AppFactory, kapacitor: KapacitorBackend, headers: dict[str, str], body: bytes
) -> None:
    client = function_client("enable_alert", KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot")
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 400
    assert len(response.data) < 1024
    assert json_of(response)["error"]


@pytest.mark.parametrize("deliver", [direct_binary, direct_structured, wrapped_delivery])
def test_enable_alert_event_without_time_is_400(
    function_client: AppFactory, kapacitor: KapacitorBackend, deliver: Callable[..., HttpDelivery]
) -> None:
    """The SDK would fill in "now"; the receive time must never order events."""
    client = function_client("enable_alert", KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot")
    inner = inner_event("device-enabled")
    del inner["time"]
    delivery = deliver(inner)
    response = client.post("/", headers=delivery.headers, data=delivery.body)
    assert response.status_code == 400
    assert "no time" in json_of(response)["message"]


def test_enable_alert_missing_db_setting_refuses_to_start(function_client: AppFactory) -> None:
    with pytest.raises(Exception, match="KAPACITOR_DB"):
        function_client("enable_alert", KAPACITOR_URL="http://127.0.0.1:9")


def test_enable_alert_under_gunicorn(kapacitor: KapacitorBackend, tmp_path: Any) -> None:
    env = {"KAPACITOR_URL": kapacitor.url, "KAPACITOR_DB": "iot"}
    delivery = wrapped_delivery(inner_event("device-enabled", ["g-1", "g-2", "g-3"]))
    with FunctionProcess(
        "enable_alert", env=env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
    ) as function:
        response = httpx.post(function.url, headers=delivery.headers, content=delivery.body)
    assert response.status_code == 200, response.text
    assert statuses(kapacitor) == {f"g-{i}_not_fed": "enabled" for i in (1, 2, 3)}
    lines = [
        json.loads(line)
        for line in (tmp_path / "f.log").read_text().splitlines()
        if line.startswith("{")
    ]
    actions = [line for line in lines if line.get("message") == "device action done"]
    assert {line["device"] for line in actions} == {"g-1", "g-2", "g-3"}
    assert all(
        line["kafka_offset"] == "7" and line["ce_id"] == "partition:0/offset:7" for line in actions
    )


def test_device_lifecycle_applies_every_event_type(
    send: Callable[..., Any], kapacitor: KapacitorBackend, deliver_as: Any
) -> None:
    """The ordered layout's one target does what each type's own target does."""
    steps = [
        ("device-created", T0, {"d_not_fed": "enabled"}),
        ("device-disabled", T1, {"d_not_fed": "disabled"}),
        ("device-enabled", T2, {"d_not_fed": "enabled"}),
        ("device-deleted", T3, {}),
    ]
    for event_type, time, expected in steps:
        response = send(event_type, ["d"], time=time, target=ORDERED_TARGET, deliver=deliver_as)
        assert response.status_code == 200, response.data
        assert statuses(kapacitor) == expected


def test_device_lifecycle_ignores_other_types(
    send: Callable[..., Any], kapacitor: KapacitorBackend
) -> None:
    response = send("device-renamed", ["d"], target=ORDERED_TARGET)
    assert response.status_code == 200
    assert sum(kapacitor.calls.values()) == 0


def test_device_lifecycle_legacy_eventtype(
    function_client: AppFactory, kapacitor: KapacitorBackend
) -> None:
    client = function_client(ORDERED_TARGET, KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot")
    for eventtype, time in (("enabled", T1), ("disabled", T2)):
        inner = inner_event("outbox.event.device", ["old"], eventtype=eventtype, time=time)
        delivery = wrapped_delivery(inner)
        assert client.post("/", headers=delivery.headers, data=delivery.body).status_code == 200
        assert statuses(kapacitor) == {"old_not_fed": eventtype}
