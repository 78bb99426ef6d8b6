"""The callback's data-path check, against fakes of InfluxDB and Kapacitor: which
verdicts are published, which device alerts are marked, what the sweep reports, and
what a storm of alerts costs."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from deadman import (
    DATAPATH_EXTENSION,
    DATAPATH_TASK_ID,
    AlertCallback,
    KapacitorUnavailableError,
    alert_event_id,
    parse_alert,
)
from tests.support.fake_datapath import (
    PERIOD_NS,
    Clock,
    FakeInfluxDB,
    FakeKapacitor,
    RecordingSink,
    Topic,
    alert_settings,
    callback,
    datapath,
    ns,
)

TICK = datetime(2026, 12, 1, 7, 0, 0, tzinfo=UTC)
PERIOD = timedelta(microseconds=PERIOD_NS // 1000)


def alert(alert_id: str, level: str, previous: str = "OK", at: datetime = TICK) -> dict[str, Any]:
    """An alert body as Kapacitor POSTs it (the fields the callback reads)."""
    return {
        "id": alert_id,
        "message": f"{alert_id} is {level}",
        "time": at.isoformat().replace("+00:00", "Z"),
        "duration": 0,
        "level": level,
        "previousLevel": previous,
        "data": {},
    }


def post(handler: AlertCallback, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = EnvironBuilder(method="POST", data=json.dumps(body)).get_request()
    response = handler.handle(request)
    return response.status_code, json.loads(response.get_data())


@pytest.fixture
def influxdb() -> FakeInfluxDB:
    return FakeInfluxDB(verdicts={ns(TICK - PERIOD): "INFO", ns(TICK): "INFO"})


@pytest.fixture
def kapacitor() -> FakeKapacitor:
    return FakeKapacitor()


@pytest.fixture
def clock() -> Clock:
    return Clock(TICK + timedelta(milliseconds=20))


@pytest.mark.parametrize(
    ("level", "previous", "published"),
    [
        ("CRITICAL", "INFO", "deadman-datapath-degraded"),
        ("CRITICAL", "OK", "deadman-datapath-degraded"),
        ("INFO", "CRITICAL", "deadman-datapath-restored"),
        ("INFO", "INFO", None),
        ("CRITICAL", "CRITICAL", None),
    ],
)
def test_datapath_verdict_only_transitions_are_published(
    influxdb: FakeInfluxDB,
    kapacitor: FakeKapacitor,
    clock: Clock,
    level: str,
    previous: str,
    published: str | None,
) -> None:
    sink = RecordingSink()
    status, body = post(
        callback(datapath(influxdb, kapacitor, clock), sink),
        alert(DATAPATH_TASK_ID, level, previous),
    )
    assert status == 200
    assert [event["type"] for event in sink.sent] == ([published] if published else [])
    if published is None:
        assert body == {"status": "ignored", "level": level}
        return
    [event] = sink.sent
    assert event["id"] == alert_event_id(parse_alert(alert(DATAPATH_TASK_ID, level, previous)))
    assert (event["subject"], event["partitionkey"]) == (DATAPATH_TASK_ID, DATAPATH_TASK_ID)
    assert event["source"] == "/kapacitor/deadman"
    assert event["time"] == "2026-12-01T07:00:00Z"


def test_datapath_mark_influxdb_not_answering_marks_device_critical(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    influxdb.answering = False
    sink = RecordingSink()
    status, _ = post(
        callback(datapath(influxdb, kapacitor, clock), sink), alert("d1_not_fed", "CRITICAL")
    )
    assert status == 200
    [event] = sink.sent
    assert event[DATAPATH_EXTENSION] == "degraded"
    assert event["type"] == "historicization-stopped"


@pytest.mark.parametrize(("verdict", "marked"), [("INFO", False), ("CRITICAL", True)])
def test_datapath_mark_follows_the_verdict_at_the_alert_tick(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock, verdict: str, marked: bool
) -> None:
    influxdb.verdicts[ns(TICK)] = verdict
    sink = RecordingSink()
    post(callback(datapath(influxdb, kapacitor, clock), sink), alert("d1_not_fed", "CRITICAL"))
    [event] = sink.sent
    assert (event.get(DATAPATH_EXTENSION) == "degraded") is marked


@pytest.mark.parametrize(("verdict", "unhealthy"), [("INFO", False), ("CRITICAL", True)])
def test_datapath_mark_other_period_takes_the_verdict_of_the_tick_it_falls_in(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock, verdict: str, unhealthy: bool
) -> None:
    """A device whose task has a period of its own ticks between the data-path
    task's ticks: the next verdict covers its alert's time."""
    influxdb.verdicts = {ns(TICK) + 1_000_000_000: verdict}
    assert datapath(influxdb, kapacitor, clock).unhealthy_at(TICK) is unhealthy


def test_datapath_mark_waits_for_a_verdict_posted_after_the_alert(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    del influxdb.verdicts[ns(TICK)]
    influxdb.late_verdicts[ns(TICK)] = (3, "INFO")
    path = datapath(influxdb, kapacitor, clock)
    assert path.unhealthy_at(TICK) is False
    assert influxdb.calls["verdicts"] == 4
    assert clock.now < TICK + timedelta(seconds=5)


def test_datapath_mark_verdict_still_absent_after_the_wait_marks(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    del influxdb.verdicts[ns(TICK)]
    path = datapath(influxdb, kapacitor, clock)
    assert path.unhealthy_at(TICK) is True
    assert TICK + timedelta(seconds=5) <= clock.now < TICK + timedelta(seconds=6)


def test_datapath_mark_late_alert_with_critical_next_verdict_marks(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    """A pause that began just before a tick: that tick's verdict is still healthy,
    the next one is not; an alert handled after both knows it."""
    influxdb.verdicts[ns(TICK + PERIOD)] = "CRITICAL"
    clock.now = TICK + 10 * PERIOD
    assert datapath(influxdb, kapacitor, clock).unhealthy_at(TICK) is True


@pytest.mark.parametrize(
    "body",
    [alert("d1_not_fed", "OK", "CRITICAL"), alert("deadman_heartbeat", "CRITICAL")],
    ids=["device-ok", "heartbeat"],
)
def test_datapath_mark_never_marks_oks_or_the_heartbeat(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock, body: dict[str, Any]
) -> None:
    influxdb.answering = False
    sink = RecordingSink()
    post(callback(datapath(influxdb, kapacitor, clock), sink), body)
    [event] = sink.sent
    assert event.get(DATAPATH_EXTENSION) is None
    assert influxdb.calls["timeout"] == 0


def test_datapath_mark_without_datapath_task_the_probe_alone_decides(
    influxdb: FakeInfluxDB, clock: Clock
) -> None:
    influxdb.verdicts.clear()
    path = datapath(influxdb, FakeKapacitor(datapath_vars=None), clock)
    assert path.unhealthy_at(TICK) is False
    influxdb.answering = False
    path = datapath(influxdb, FakeKapacitor(datapath_vars=None), clock)
    assert path.unhealthy_at(TICK) is True


def test_datapath_mark_storm_costs_a_handful_of_requests(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    path = datapath(influxdb, kapacitor, clock)
    results: list[bool] = []

    def mark(n: int) -> None:
        results.append(path.unhealthy_at(TICK))

    threads = [threading.Thread(target=mark, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [False] * 200
    assert influxdb.calls == {"ping": 1, "verdicts": 1}
    assert kapacitor.calls == {"tasks": 1}


def test_datapath_sweep_reports_devices_silent_since_the_outage_unmarked(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    """Restored at TICK after an outage that began after TICK - 4 periods (the last
    healthy verdict): of the devices still CRITICAL, only those CRITICAL since then
    and without points in the last period are reported again."""
    outage = TICK - 4 * PERIOD
    influxdb.verdicts = {ns(outage): "INFO", ns(outage + PERIOD): "CRITICAL", ns(TICK): "INFO"}
    kapacitor.topics = [
        Topic("fed_not_fed", "CRITICAL", outage + PERIOD),  # sends its OK by itself
        Topic("silent_not_fed", "CRITICAL", outage + PERIOD),  # the one to report
        Topic("edge_not_fed", "CRITICAL", outage),  # marked at the last healthy tick
        Topic("old_not_fed", "CRITICAL", outage - PERIOD),  # silent before: reported then
        Topic("back_not_fed", "OK", outage + PERIOD),
        Topic("deadman_heartbeat", "CRITICAL", TICK),
    ]
    influxdb.fed = {"fed"}
    sink = RecordingSink()
    status, body = post(
        callback(datapath(influxdb, kapacitor, clock), sink),
        alert(DATAPATH_TASK_ID, "INFO", "CRITICAL"),
    )
    assert status == 200
    restored, *swept = sink.sent
    assert restored["type"] == "deadman-datapath-restored"
    assert [(e["type"], e["subject"]) for e in swept] == [
        ("historicization-stopped", "edge"),
        ("historicization-stopped", "silent"),
    ]
    assert body["swept"] == ["edge", "silent"]
    for event in swept:
        assert event.get(DATAPATH_EXTENSION) is None
        assert event["time"] == "2026-12-01T07:00:00Z"
        again = alert(f"{event['subject']}_not_fed", "CRITICAL", "CRITICAL")
        assert event["id"] == alert_event_id(parse_alert(again)), "Kapacitor's own at TICK"
    assert influxdb.calls["presence"] == 1


def test_datapath_sweep_reads_every_shard(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    """With KAPACITOR_URLS, a device silent across the outage is found on whichever
    shard holds its task; the verdicts are read from the first shard's task only."""
    outage = TICK - 4 * PERIOD
    influxdb.verdicts = {ns(outage): "INFO", ns(outage + PERIOD): "CRITICAL", ns(TICK): "INFO"}
    second = FakeKapacitor(datapath_vars=None)
    kapacitor.topics = [Topic("first_not_fed", "CRITICAL", outage + PERIOD)]
    second.topics = [
        Topic("second_not_fed", "CRITICAL", outage + PERIOD),
        Topic("fed_not_fed", "CRITICAL", outage + PERIOD),
    ]
    influxdb.fed = {"fed"}
    events = datapath(influxdb, kapacitor, clock, more_shards=[second]).swept_events(
        parse_alert(alert(DATAPATH_TASK_ID, "INFO", "CRITICAL"))
    )
    assert sorted(event["subject"] for event in events) == ["first", "second"]
    assert second.calls["tasks"] == 1, "the second shard's device tasks, not its data-path task"


def test_datapath_sweep_asks_influxdb_in_chunks(
    influxdb: FakeInfluxDB, kapacitor: FakeKapacitor, clock: Clock
) -> None:
    kapacitor.topics = [Topic(f"d{n}_not_fed", "CRITICAL", TICK - PERIOD) for n in range(450)]
    influxdb.fed = {f"d{n}" for n in range(450)}
    events = datapath(influxdb, kapacitor, clock).swept_events(
        parse_alert(alert(DATAPATH_TASK_ID, "INFO", "CRITICAL"))
    )
    assert events == []
    assert influxdb.calls["presence"] == 3
    assert kapacitor.calls["alerts"] == 1, "no event read for a fed device"


def test_datapath_sweep_failure_answers_503_after_the_restored_event(
    influxdb: FakeInfluxDB, clock: Clock
) -> None:
    sink = RecordingSink()
    handler = callback(datapath(influxdb, FakeKapacitor(datapath_vars=None), clock), sink)
    with pytest.raises(KapacitorUnavailableError):
        post(handler, alert(DATAPATH_TASK_ID, "INFO", "CRITICAL"))
    assert [event["type"] for event in sink.sent] == ["deadman-datapath-restored"]


def test_datapath_without_influxdb_url_the_callback_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INFLUXDB_URL", raising=False)
    handler = AlertCallback(alert_settings(influxdb_url=None), sink=RecordingSink())
    assert handler.datapath is None
