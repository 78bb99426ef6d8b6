"""Kapacitor shards (KAPACITOR_URLS) on real servers: four Kapacitor 1.5.7, each
with its own InfluxDB 1.6.7, started once for the module, each behind a counting
proxy that writes every call into one journal; their alerts go to one callback
(gunicorn) and on to an events topic of the embedded broker.

Bulk placement over three shards, the audit and its repair after a fourth is
added, the installer and the heartbeats per shard, and ``kapacitor check`` with a
shard down."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from deadman import (
    Action,
    LifecycleService,
    LifecycleSettings,
    parse_lifecycle_event,
    shard_key,
    shard_of,
)
from deadman.ops.cli import main
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint
from deadman_local.real_kapacitor import RealKapacitor
from tests.support.backends import (
    API,
    REAL,
    CallJournal,
    JournalEntry,
    KapacitorBackend,
    behind_proxy,
    real_binaries,
)
from tests.support.events import inner_event
from tests.support.paths import FUNCTIONS_SOURCE, TEMPLATE_ID
from tests.support.tasks import SUFFIX

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.real_kapacitor]

ACTIONS = ("created", "enabled", "disabled", "deleted")
HEARTBEAT = "deadman_heartbeat"


@dataclass
class ShardLab:
    """Four real Kapacitors behind journaling proxies, the broker and the callback."""

    broker: EmbeddedBroker
    backends: list[KapacitorBackend]
    journal: CallJournal
    events_topic: str

    def use(self, count: int, monkeypatch: pytest.MonkeyPatch, *, direct: bool = False) -> str:
        """Configure the first ``count`` shards (their proxies, or the servers
        themselves) for everything run from here on; KAPACITOR_URLS."""
        urls = ",".join(b.direct_url if direct else b.url for b in self.backends[:count])
        for name in ("KAPACITOR_URL", "SECRETS_DIR", "TASK_CREATE_STATUS", "TASK_ID_SUFFIX"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("KAPACITOR_URLS", urls)
        monkeypatch.setenv("KAPACITOR_DB", "iot")
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", self.broker.bootstrap_servers)
        return urls

    def keys(self, count: int) -> list[str]:
        return [shard_key(backend.url) for backend in self.backends[:count]]

    def tasks_by_shard(self) -> dict[str, dict[str, Any]]:
        """Every shard's tasks (read past the proxies), by shard key."""
        return {shard_key(backend.url): backend.tasks() for backend in self.backends}

    def upstream(self, key: str) -> str:
        return next(b.direct_url for b in self.backends if shard_key(b.url) == key)


@pytest.fixture(scope="module")
def shard_lab(
    kafka_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShardLab]:
    binaries = real_binaries()
    events_topic = f"shard-events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap_servers, [events_topic])
    logs = tmp_path_factory.mktemp("shards")
    journal = CallJournal()
    with ExitStack() as stack:
        callback = FunctionProcess(
            "alert_callback",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                "ALERTS_TOPIC": events_topic,
            },
            log_path=logs / "callback.log",
            source=FUNCTIONS_SOURCE,
        )
        stack.enter_context(callback)
        endpoint = HttpPostEndpoint(TEMPLATE_ENDPOINT, callback.url)
        backends = []
        for _ in range(4):
            real = stack.enter_context(RealKapacitor(binaries, endpoints=[endpoint]))
            url, proxy = stack.enter_context(behind_proxy(real.kapacitor_url, journal))
            backends.append(KapacitorBackend(REAL, url, real.kapacitor_url, proxy, real=real))
        yield ShardLab(kafka_broker, backends, journal, events_topic)


@pytest.fixture
def lab(shard_lab: ShardLab) -> ShardLab:
    """The module's servers with no task, the first three with the template."""
    for number, backend in enumerate(shard_lab.backends):
        backend.clear()
        if number < 3:
            backend.add_template(TEMPLATE_ID, _template())
    shard_lab.journal.clear()
    return shard_lab


def _template() -> str:
    from deadman.ops.template import bundled_template

    return bundled_template(TEMPLATE_ID)


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within} s"
        time.sleep(0.5)


# ------------------------------------------------------------------ placement


def test_enable_bulk_over_three_real_shards_each_task_on_its_shard_only(
    lab: ShardLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = lab.use(3, monkeypatch)
    devices = [f"bulk-{number:03d}" for number in range(90)]
    event = inner_event("device-enabled", devices)
    with LifecycleService(
        LifecycleSettings(kapacitor_urls=SecretStr(urls), kapacitor_db="iot")
    ) as service:
        outcomes = service.handle(event, event["data"], Action.ENABLE)
    assert {outcome.result.value for outcome in outcomes} == {"applied"}
    keys = lab.keys(3)
    found = lab.tasks_by_shard()
    for key in keys:
        wanted = {d + SUFFIX for d in devices if shard_of(d, keys) == key}
        assert set(found[key]) == wanted, key
        assert all(found[key][t].executing for t in wanted)
    assert found[shard_key(lab.backends[3].url)] == {}
    assert all(found[key] for key in keys)


# ------------------------------------------------------------ audit and repair


@dataclass
class Topics:
    names: dict[str, str]
    broker: EmbeddedBroker

    def publish(self, action: str, devices: list[str], second: int) -> dict[str, Any]:
        event = inner_event(
            f"device-{action}",
            devices,
            time=f"2026-11-21T17:45:{second:02d}.000Z",
            event_id=f"e-{action}-{second}",
        )
        producer = Producer({"bootstrap.servers": self.broker.bootstrap_servers, "acks": "all"})
        producer.produce(self.names[action], key=devices[0].encode(), value=json.dumps(event))
        assert producer.flush(10) == 0
        return event


@pytest.fixture
def topics(lab: ShardLab, monkeypatch: pytest.MonkeyPatch) -> Topics:
    run = uuid.uuid4().hex[:8]
    names = {action: f"shards-{run}.device-{action}" for action in ACTIONS}
    create_topics(lab.broker.bootstrap_servers, names.values())
    monkeypatch.setenv("AUDIT_TOPICS", ",".join(names[action] for action in ACTIONS))
    return Topics(names, lab.broker)


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["audit", "--json", "--timeout", "20", *args])
    return code, json.loads(capsys.readouterr().out)


def calls_of(entries: list[JournalEntry], method: str, path: str) -> list[JournalEntry]:
    return [entry for entry in entries if (entry.method, entry.path) == (method, path)]


def test_audit_after_a_fourth_shard_reports_then_moves_exactly_the_rehashed_devices(
    lab: ShardLab,
    topics: Topics,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    devices = [f"move-{number:03d}" for number in range(120)]
    disabled = devices[::5]
    three = lab.use(3, monkeypatch)
    with LifecycleService(
        LifecycleSettings(kapacitor_urls=SecretStr(three), kapacitor_db="iot")
    ) as service:
        for action, named, second in (("enabled", devices, 1), ("disabled", disabled, 2)):
            event = topics.publish(action, named, second)
            parsed = parse_lifecycle_event(event, event["data"], service.types, 1_000)
            assert all(o.result.value == "applied" for o in service.apply(parsed))
    before = {t: task for tasks in lab.tasks_by_shard().values() for t, task in tasks.items()}
    assert len(before) == len(devices)

    lab.use(4, monkeypatch)
    lab.backends[3].add_template(TEMPLATE_ID, _template())
    old, new = lab.keys(3), lab.keys(4)
    moving = {
        d: (shard_of(d, old), shard_of(d, new))
        for d in devices
        if shard_of(d, old) != shard_of(d, new)
    }
    assert moving  # about a quarter of them, all onto the fourth
    assert {to for _, to in moving.values()} == {new[3]}

    code, report = audit(capsys)
    assert code == 1
    assert {d["device"]: (d["kind"], d["found_on"], d["shard"]) for d in report["drift"]} == {
        d: ("misplaced", [source], to) for d, (source, to) in moving.items()
    }
    assert report["tasks"] == len(devices)
    assert report["placement"]["misplaced"] == len(moving)
    assert main(["audit", "--timeout", "20"]) == 1
    text = capsys.readouterr().out
    assert f"listed {len(devices)} task(s) on 4 shards: {new[0]} (" in text
    assert f"placement: {len(moving)} misplaced, 0 duplicate; 0 moved" in text

    lab.journal.clear()
    code, report = audit(capsys, "--fix")
    assert code == 0, report["summary"]
    moved = {(m["device"], m["from"], m["to"]) for m in report["placement"]["moved"]}
    assert moved == {(d, source, to) for d, (source, to) in moving.items()}

    # The order of the calls: per moved device, its create on the new shard (in its
    # status, running when enabled) and a read there confirming it, both before the
    # one delete on the old shard. Unmoved devices saw no write.
    entries = lab.journal.entries()
    for device, (source, to) in moving.items():
        task_id = device + SUFFIX
        status = before[task_id].status
        [create] = [
            e
            for e in calls_of(entries, "POST", f"{API}/tasks")
            if json.loads(e.request)["id"] == task_id
        ]
        [delete] = calls_of(entries, "DELETE", f"{API}/tasks/{task_id}")
        assert (create.upstream, create.status) == (lab.upstream(to), 200)
        assert (delete.upstream, delete.status) == (lab.upstream(source), 204)
        created = json.loads(create.response)
        assert (created["status"], created["executing"]) == (status, status == "enabled")
        confirmed = [
            e
            for e in calls_of(entries, "GET", f"{API}/tasks/{task_id}")
            if e.upstream == lab.upstream(to) and create.ended < e.started < delete.started
        ]
        assert confirmed, device
        assert create.ended < delete.started
    writes = [e for e in entries if e.method != "GET"]
    assert len(writes) == 2 * len(moving)

    # The end state: every task on its shard only, as it was (status, running,
    # every var with the bookkeeping ones), and nothing left to audit.
    found = lab.tasks_by_shard()
    for key in new:
        assert set(found[key]) == {d + SUFFIX for d in devices if shard_of(d, new) == key}
    after = {t: task for tasks in found.values() for t, task in tasks.items()}
    assert {t: (a.status, a.executing, a.vars) for t, a in after.items()} == {
        t: (b.status, b.executing, b.vars) for t, b in before.items()
    }
    assert audit(capsys)[0] == 0


def test_audit_drain_moves_every_task_off_a_removed_shard(
    lab: ShardLab,
    topics: Topics,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    devices = [f"drain-{number:02d}" for number in range(45)]
    three = lab.use(3, monkeypatch)
    with LifecycleService(
        LifecycleSettings(kapacitor_urls=SecretStr(three), kapacitor_db="iot")
    ) as service:
        event = topics.publish("enabled", devices, 1)
        service.apply(parse_lifecycle_event(event, event["data"], service.types, 1_000))
    keys = lab.keys(3)
    leaving = lab.backends[2]
    on_leaving = {d for d in devices if shard_of(d, keys) == keys[2]}
    assert on_leaving

    lab.use(2, monkeypatch)
    code, report = audit(capsys, "--drain", leaving.url)
    assert code == 1
    # Removing a shard moves its devices only, each to where it now scores highest.
    assert {d["device"]: (d["kind"], d["found_on"], d["shard"]) for d in report["drift"]} == {
        d: ("misplaced", [keys[2]], shard_of(d, keys[:2])) for d in on_leaving
    }
    assert report["placement"]["draining"] == [keys[2]]

    code, report = audit(capsys, "--drain", leaving.url, "--fix")
    assert code == 0
    assert {m["device"] for m in report["placement"]["moved"]} == on_leaving
    assert leaving.tasks() == {}
    found = lab.tasks_by_shard()
    for key in keys[:2]:
        wanted = {d + SUFFIX for d in devices if shard_of(d, keys[:2]) == key}
        assert set(found[key]) == wanted
        assert all(task.executing for task in found[key].values())


def test_audit_duplicate_task_keeps_the_copy_on_its_shard(
    lab: ShardLab,
    topics: Topics,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    urls = lab.use(3, monkeypatch)
    device = "dup-1"
    with LifecycleService(
        LifecycleSettings(kapacitor_urls=SecretStr(urls), kapacitor_db="iot")
    ) as service:
        event = topics.publish("enabled", [device], 1)
        service.apply(parse_lifecycle_event(event, event["data"], service.types, 10))
    keys = lab.keys(3)
    home = shard_of(device, keys)
    other = next(b for b in lab.backends[:3] if shard_key(b.url) != home)
    copy = lab.backends[keys.index(home)].task(device + SUFFIX)
    body = {
        "id": copy.id,
        "template-id": copy.template_id,
        "dbrps": [{"db": db, "rp": rp} for db, rp in copy.dbrps],
        "vars": _typed(lab.backends[keys.index(home)], copy.id),
        "status": "enabled",
    }
    assert httpx.post(f"{other.direct_url}{API}/tasks", json=body, timeout=30).status_code == 200

    code, report = audit(capsys, "--fix")
    assert code == 0
    [drift] = report["drift"]
    assert (drift["kind"], drift["shard"]) == ("duplicate", home)
    assert sorted(drift["found_on"]) == sorted([home, shard_key(other.url)])
    assert report["placement"]["moved"] == []
    assert other.find_task(device + SUFFIX) is None
    assert lab.backends[keys.index(home)].task(device + SUFFIX).executing


def _typed(backend: KapacitorBackend, task_id: str) -> dict[str, Any]:
    got = httpx.get(f"{backend.direct_url}{API}/tasks/{task_id}", timeout=30).json()
    return {name: {"type": v["type"], "value": v["value"]} for name, v in got["vars"].items()}


# ------------------------------------------------------------ installer, heartbeat


def heartbeat_check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["heartbeat", "check", "--max-age", "5s", "--timeout", "10", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_install_template_and_heartbeat_on_every_shard_each_checked(
    lab: ShardLab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for backend in lab.backends[:3]:
        backend.clear()  # the installer makes the template itself
    lab.use(3, monkeypatch)
    monkeypatch.setenv("HEARTBEAT_PERIOD", "2s")
    monkeypatch.setenv("ALERTS_TOPIC", lab.events_topic)
    assert main(["install-template"]) == 0
    keys = lab.keys(3)
    assert capsys.readouterr().out.splitlines() == [
        f"shard {key}: template {TEMPLATE_ID} was created, heartbeat task {HEARTBEAT}"
        " was created (alert delivery: httppost)"
        for key in keys
    ]
    for key, backend in zip(keys, lab.backends, strict=False):
        assert TEMPLATE_ID in backend.templates()
        heartbeat = backend.task(HEARTBEAT)
        assert (heartbeat.vars["shard"], heartbeat.executing) == (key, True)

    # Each Kapacitor's heartbeat reaches the topic naming its shard.
    wait_for(lambda: heartbeat_check(capsys)[0] == 0, 20, "a fresh heartbeat of every shard")
    code, status = heartbeat_check(capsys)
    assert [(s["shard"], s["state"]) for s in status["shards"]] == [(k, "fresh") for k in keys]

    # One shard's heartbeat stops: the check fails, naming that shard only.
    silent = lab.backends[1]
    response = httpx.patch(
        f"{silent.direct_url}{API}/tasks/{HEARTBEAT}", json={"status": "disabled"}, timeout=30
    )
    assert response.status_code == 200
    wait_for(lambda: heartbeat_check(capsys)[0] == 1, 20, "the silent shard's heartbeat stale")
    code, status = heartbeat_check(capsys)
    assert (code, status["state"]) == (1, "stale")
    assert [(s["shard"], s["state"]) for s in status["shards"]] == [
        (keys[0], "fresh"),
        (keys[1], "stale"),
        (keys[2], "fresh"),
    ]
    assert main(["heartbeat", "check", "--max-age", "5s", "--timeout", "10"]) == 1
    [line] = [line for line in capsys.readouterr().out.splitlines() if "stale" in line]
    assert line.startswith(f"shard {keys[1]}: ")


def test_install_template_failing_shard_exits_2_naming_it(
    lab: ShardLab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.use(3, monkeypatch)
    keys = lab.keys(3)
    lab.backends[2].fail_next(times=3, status=500)
    assert main(["install-template"]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"shard {key}" for key in keys]
    assert "FAILED at template" in lines[2]
    assert "500" in lines[2]
    assert "FAILED" not in lines[0] + lines[1]
    assert f"install failed on 1 of 3 shards: {keys[2]}" in captured.err
    assert all(backend.find_task(HEARTBEAT) for backend in lab.backends[:2])
    assert lab.backends[2].find_task(HEARTBEAT) is None


# ------------------------------------------------------------ kapacitor check


def test_kapacitor_check_one_shard_down_reports_that_shard(
    lab: ShardLab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.use(3, monkeypatch, direct=True)
    down = lab.backends[1].real
    assert down is not None
    assert main(["kapacitor", "check", "--timeout", "2"]) == 0
    assert capsys.readouterr().out.count(": healthy") == 3
    down.stop_kapacitor()
    try:
        assert main(["kapacitor", "check", "--timeout", "2"]) == 1
        lines = capsys.readouterr().out.splitlines()
        states = [line.split(": ")[1].split(" ")[0] for line in lines]
        assert states == ["healthy", "down", "healthy"]
        assert f" at {down.kapacitor_url}: down" in lines[1]
        assert main(["kapacitor", "check", "--timeout", "2", "--json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert (report["unhealthy"], report["exit_code"]) == ([down.kapacitor_url], 1)
    finally:
        down.start_kapacitor()
