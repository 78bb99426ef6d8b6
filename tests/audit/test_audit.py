"""``deadmanctl audit``: tasks against the lifecycle topics, on a real broker and each
Kapacitor backend (the emulator as 1.5.7 and 1.7.7, and a real 1.5.7)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer

from deadman import (
    Action,
    AuditSettings,
    EventStamp,
    EventTypes,
    KapacitorClient,
    LifecycleService,
    LifecycleSettings,
    TaskIds,
    parse_lifecycle_event,
)
from deadman.ops.audit import ActualTask, compare
from deadman.ops.cli import main
from deadman.ops.desired import DesiredState, NewestEvent
from deadman_local.broker import EmbeddedBroker, create_topics, free_port
from tests.support.backends import KapacitorBackend
from tests.support.events import inner_event
from tests.support.paths import TEMPLATE_ID

pytestmark = pytest.mark.kafka

ACTIONS = ("created", "enabled", "disabled", "deleted")
Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def at(second: int) -> str:
    return f"2026-11-21T17:45:{second:02d}.000Z"


@dataclass
class Lab:
    """Four fresh lifecycle topics, a Kapacitor backend, and the settings the CLI reads."""

    broker: EmbeddedBroker
    kapacitor: KapacitorBackend
    topics: dict[str, str]
    settings: LifecycleSettings
    client: KapacitorClient
    service: LifecycleService

    def produce(self, action: str, records: Sequence[Record], partition: int = 0) -> None:
        producer = Producer({"bootstrap.servers": self.broker.bootstrap_servers, "acks": "all"})
        for key, value, headers in records:
            pairs: list[tuple[str, str | bytes | None]] = list(headers)
            producer.produce(
                self.topics[action], key=key, value=value, headers=pairs, partition=partition
            )
        assert producer.flush(10) == 0

    def event(
        self,
        action: str,
        devices: list[str],
        second: int,
        *,
        apply: bool = True,
        binlog: tuple[str, int, int] | None = None,
    ) -> dict[str, Any]:
        """Produce a Debezium record (no content-type header) and apply it like the function."""
        event = inner_event(
            f"device-{action}",
            devices,
            time=at(second),
            event_id=f"e-{action}-{second}",
            binlog=binlog,
        )
        self.produce(action, [(devices[0].encode(), json.dumps(event).encode(), [])])
        if apply:
            parsed = parse_lifecycle_event(event, event["data"], self.service.types, 100)
            outcomes = self.service.apply(parsed)
            assert all(outcome.result.value != "failed" for outcome in outcomes), outcomes
        return event

    def audit(self, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        code = main(["audit", "--json", "--timeout", "20", *args])
        return code, json.loads(capsys.readouterr().out)

    def state(self, device: str) -> tuple[str, bool] | None:
        task = self.kapacitor.find_task(device + "_not_fed")
        return None if task is None else (task.status, task.executing)


@pytest.fixture
def lab(
    kafka_broker: EmbeddedBroker, kapacitor: KapacitorBackend, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    run = uuid.uuid4().hex[:8]
    topics = {action: f"audit-{run}.device-{action}" for action in ACTIONS}
    create_topics(kafka_broker.bootstrap_servers, topics.values())
    for name in ("AUDIT_TOPICS", "TASK_CREATE_STATUS", "TASK_ID_SUFFIX", "SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAPACITOR_URL", kapacitor.url)
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    monkeypatch.setenv("AUDIT_TOPICS", ",".join(topics[action] for action in ACTIONS))
    settings = LifecycleSettings(kapacitor_url=kapacitor.url, kapacitor_db="iot")
    service = LifecycleService(settings)
    yield Lab(kafka_broker, kapacitor, topics, settings, service.client, service)
    service.close()


def drift_of(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(d["kind"], d["device"], d["desired"], d["actual"]) for d in report["drift"]}


def hand_made_task(lab: Lab, device: str) -> None:
    lab.client.create_task(
        {
            "id": device + "_not_fed",
            "template-id": TEMPLATE_ID,
            "dbrps": [{"db": "iot", "rp": "autogen"}],
            "vars": {
                "name": {"type": "string", "value": device + "_not_fed"},
                "measurement": {"type": "string", "value": device},
                "db": {"type": "string", "value": "iot"},
                "rp": {"type": "string", "value": "autogen"},
            },
            "status": "enabled",
        }
    )


def test_audit_hand_made_drift_reported_then_fixed(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.event("created", ["dev-a", "dev-b", "dev-c", "dev-d", "dev-e"], 1)
    lab.event("enabled", ["dev-a"], 2)
    lab.event("disabled", ["dev-c"], 3)
    lab.event("deleted", ["dev-d"], 4)
    assert lab.audit(capsys=capsys)[0] == 0

    lab.client.update_task("dev-a_not_fed", {"status": "disabled"})  # disabled by hand
    lab.client.delete_task("dev-b_not_fed")  # deleted by hand
    hand_made_task(lab, "hand-1")  # an orphan nobody asked for

    code, report = lab.audit(capsys=capsys)
    assert code == 1
    assert drift_of(report) == {
        ("status_mismatch", "dev-a", "enabled", "disabled"),
        ("missing", "dev-b", "enabled", "absent"),
        ("orphan", "hand-1", "no task (no event)", "enabled"),
    }
    by_device = {d["device"]: d for d in report["drift"]}
    assert by_device["dev-a"]["event"]["id"] == "e-enabled-2"
    assert by_device["dev-a"]["event"]["time"] == "2026-11-21T17:45:02Z"
    assert by_device["dev-b"]["event"]["id"] == "e-created-1"
    assert by_device["hand-1"]["event"] is None
    assert lab.state("hand-1") == ("enabled", True)  # report-only touched nothing

    code, report = lab.audit("--fix", "--delete-orphans", capsys=capsys)
    assert code == 0
    assert {d["device"]: d["fix"]["result"] for d in report["drift"]} == {
        "dev-a": "fixed",
        "dev-b": "fixed",
        "hand-1": "fixed",
    }
    assert lab.state("dev-a") == ("enabled", True)
    assert lab.state("dev-b") == ("enabled", True)
    assert lab.state("hand-1") is None
    code, report = lab.audit(capsys=capsys)
    assert (code, report["drift"]) == (0, [])


def test_audit_orphan_without_event_kept_without_delete_orphans(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.event("enabled", ["dev-a"], 1)
    lab.event("created", ["dev-gone"], 2)
    lab.event("deleted", ["dev-gone"], 3, apply=False)  # the delete never reached Kapacitor
    hand_made_task(lab, "hand-2")

    code, report = lab.audit("--fix", capsys=capsys)
    assert code == 1
    fixes = {d["device"]: (d["kind"], d["fix"]["result"]) for d in report["drift"]}
    # A deleted device's task goes (the lifecycle rule); a task no event names stays.
    assert fixes == {"dev-gone": ("orphan", "fixed"), "hand-2": ("orphan", "kept")}
    assert lab.state("dev-gone") is None
    assert lab.state("hand-2") == ("enabled", True)


def test_audit_delete_orphans_without_fix_refused(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--delete-orphans"]) == 2
    assert "--delete-orphans works with --fix" in capsys.readouterr().err


def test_audit_newest_event_wins_across_topics(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read order is the opposite of time order: the disable (t2) is on its topic
    # first, the enable (t1) comes later; only the event time decides.
    lab.event("disabled", ["dev-x"], 12, apply=False)
    lab.event("enabled", ["dev-x"], 11)  # applied: the task is enabled
    code, report = lab.audit(capsys=capsys)
    assert code == 1
    [drift] = report["drift"]
    assert (drift["kind"], drift["desired"], drift["actual"]) == (
        "status_mismatch",
        "disabled or absent",
        "enabled",
    )
    assert drift["event"]["id"] == "e-disabled-12"
    assert drift["event"]["topic"] == lab.topics["disabled"]

    code, report = lab.audit("--fix", capsys=capsys)
    assert code == 0
    assert lab.state("dev-x") == ("disabled", False)


def test_audit_equal_times_newest_by_binlog_position(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    # One second, two commits: the enable is later in the binlog than the disable,
    # although the disable's topic is read after the enable's.
    lab.event("disabled", ["dev-p"], 30, apply=False, binlog=("binlog.000007", 1200, 0))
    lab.event("enabled", ["dev-p"], 30, apply=False, binlog=("binlog.000007", 2400, 0))
    code, report = lab.audit(capsys=capsys)
    assert code == 1
    [drift] = report["drift"]
    assert (drift["kind"], drift["desired"], drift["event"]["id"]) == (
        "missing",
        "enabled",
        "e-enabled-30",
    )
    assert drift["event"]["binlog_position"] == "server_id=1 file=binlog.000007 pos=2400 row=0"

    assert lab.audit("--fix", capsys=capsys)[0] == 0
    assert lab.state("dev-p") == ("enabled", True)
    recorded = lab.kapacitor.task("dev-p_not_fed").vars
    assert recorded["deadman_event_position"].endswith("pos=2400 row=0")


def test_audit_disabled_device_never_created_desires_no_task(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.event("disabled", ["dev-never"], 5)
    code, report = lab.audit(capsys=capsys)
    assert (code, report["drift"], report["devices"]) == (0, [], 1)


def test_audit_task_newer_than_topic_left_alone(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.event("enabled", ["dev-n"], 20)
    # A newer disable was applied but is on none of the topics read.
    newer = inner_event("device-disabled", ["dev-n"], time=at(40), event_id="e-elsewhere")
    lab.service.apply(parse_lifecycle_event(newer, newer["data"], lab.service.types, 100))

    code, report = lab.audit("--fix", capsys=capsys)
    assert code == 0
    [drift] = report["drift"]
    assert drift["newer_than_topic"] is True
    assert drift["recorded_event_time"] == "2026-11-21T17:45:40Z"
    assert drift["fix"]["result"] == "left_alone"
    assert "newer than the topic: left alone" in drift["fix"]["detail"]
    assert lab.state("dev-n") == ("disabled", False)


def test_audit_unparseable_records_counted_not_fatal(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    no_time = inner_event("device-enabled", ["dev-t"], event_id="e-no-time")
    del no_time["time"]
    other_type = inner_event("device-renamed", ["dev-r"], event_id="e-other")
    bad_code = inner_event("device-enabled", ["bad/1", "dev-ok"], time=at(7), event_id="e-bad")
    lab.produce(
        "enabled",
        [
            (None, b"\xff not json", []),
            (None, b'{"no": "specversion"}', []),
            (None, json.dumps(no_time).encode(), []),
            (None, json.dumps(other_type).encode(), []),
            (None, json.dumps(bad_code).encode(), []),
        ],
    )
    code, report = lab.audit(capsys=capsys)
    assert code == 1  # dev-ok is enabled by e-bad and has no task
    assert (report["records"], report["unparseable"], report["invalid_devices"]) == (5, 3, 1)
    assert report["ignored_events"] == 1
    assert [(p["offset"], p.get("device")) for p in report["problems"]] == [
        (0, None),
        (1, None),
        (2, None),
        (4, "bad/1"),
    ]
    assert "no time" in report["problems"][2]["reason"]
    assert drift_of(report) == {("missing", "dev-ok", "enabled", "absent")}

    assert main(["audit", "--timeout", "20"]) == 1
    out = capsys.readouterr().out
    assert "3 unparseable, 1 invalid device code(s)" in out
    assert f"{lab.topics['enabled']}:0:4 device 'bad/1': invalid device code" in out


def test_audit_binary_and_structured_records_read_as_delivered(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = inner_event("device-enabled", ["dev-bin"], time=at(8), event_id="e-bin")
    structured = inner_event("device-enabled", ["dev-str"], time=at(9), event_id="e-str")
    headers = [
        (f"ce_{name}", str(value).encode())
        for name, value in binary.items()
        if name not in ("data", "datacontenttype")
    ]
    lab.produce(
        "enabled",
        [
            (b"dev-bin", json.dumps(binary["data"]).encode(), headers),
            (
                b"dev-str",
                json.dumps(structured).encode(),
                [("content-type", b"application/cloudevents+json")],
            ),
        ],
    )
    code, report = lab.audit(capsys=capsys)
    assert code == 1
    assert {(d["device"], d["event"]["id"]) for d in report["drift"]} == {
        ("dev-bin", "e-bin"),
        ("dev-str", "e-str"),
    }
    assert report["unparseable"] == 0


def test_audit_json_output_shape(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    lab.event("enabled", ["dev-j"], 1)
    lab.client.update_task("dev-j_not_fed", {"status": "disabled"})
    code, report = lab.audit(capsys=capsys)
    assert code == report["exit_code"] == 1
    assert report["topics"] == [lab.topics[action] for action in ACTIONS]
    assert report["history_complete"] is True
    assert report["truncated_partitions"] == []
    assert (report["records"], report["events"], report["devices"], report["tasks"]) == (1, 1, 1, 1)
    assert (report["fix"], report["delete_orphans"], report["untracked"]) == (False, False, [])
    assert report["summary"] == {
        "drift": 1,
        "missing": 0,
        "orphan": 0,
        "status_mismatch": 1,
        "newer_than_topic": 0,
        "fixed": 0,
        "kept": 0,
        "failed": 0,
        "remaining": 1,
        "untracked": 0,
    }
    assert report["drift"] == [
        {
            "kind": "status_mismatch",
            "device": "dev-j",
            "task_id": "dev-j_not_fed",
            "desired": "enabled",
            "actual": "disabled",
            "event": {
                "id": "e-enabled-1",
                "time": "2026-11-21T17:45:01Z",
                "action": "enabled",
                "topic": lab.topics["enabled"],
                "partition": 0,
                "offset": 0,
            },
            "recorded_event_time": "2026-11-21T17:45:01Z",
            "newer_than_topic": False,
            "fix": None,
        }
    ]
    # The structured log lines go to stderr, never into the JSON on stdout.
    main(["audit", "--json", "--timeout", "20"])
    captured = capsys.readouterr()
    json.loads(captured.out)
    logs = [json.loads(line) for line in captured.err.splitlines()]
    assert {log["message"] for log in logs} == {"drift", "audit done"}
    assert logs[0]["device"] == "dev-j"


def test_audit_pagination_lists_every_task(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    devices = [f"dev-{number:02d}" for number in range(23)]
    lab.event("enabled", devices, 1)
    code, report = lab.audit("--page-size", "4", capsys=capsys)
    assert (code, report["tasks"], report["drift"]) == (0, 23, [])
    lab.client.delete_task("dev-21_not_fed")
    code, report = lab.audit("--page-size", "4", capsys=capsys)
    assert (code, drift_of(report)) == (1, {("missing", "dev-21", "enabled", "absent")})


def test_audit_unreachable_kafka_exits_2(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["audit", "--json", "--timeout", "2", "--bootstrap-servers", f"127.0.0.1:{free_port()}"]
    )
    assert code == 2
    assert "error" in json.loads(capsys.readouterr().out)


def test_audit_missing_topic_exits_2(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--timeout", "5", "--topics", f"no-such-{uuid.uuid4().hex}"]) == 2
    assert "is not readable" in capsys.readouterr().err


# ------------------------------------------------------------- without the broker


def newest(action: Action, second: int) -> NewestEvent:
    time = datetime(2026, 11, 21, 17, 45, second, tzinfo=UTC)
    return NewestEvent(action, f"e-{second}", EventStamp(time), "t", 0, second, (0, 0, second))


def test_compare_truncated_history_makes_eventless_tasks_untracked() -> None:
    state = DesiredState(["t"], EventTypes(), 100, TaskIds("_not_fed"), truncated=["t:0"])
    state.newest["dev-del"] = newest(Action.DELETE, 3)
    actual = {
        name: ActualTask(f"{name}_not_fed", name, "enabled", True, None)
        for name in ("dev-old", "dev-del")
    }
    drifts, untracked = compare(state, actual, "enabled")
    assert [(d.kind.value, d.device) for d in drifts] == [("orphan", "dev-del")]
    assert [task.device for task in untracked] == ["dev-old"]


def test_audit_settings_topics_follow_event_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIT_TOPICS", raising=False)
    settings = AuditSettings(kapacitor_db="iot", event_type_enabled="device-on")
    assert settings.lifecycle_topics() == [
        "kapacitor-alerts-connector.device-created",
        "kapacitor-alerts-connector.device-on",
        "kapacitor-alerts-connector.device-disabled",
        "kapacitor-alerts-connector.device-deleted",
    ]
    chosen = AuditSettings(kapacitor_db="iot", audit_topics=" a , b.c ")
    assert chosen.lifecycle_topics() == ["a", "b.c"]
