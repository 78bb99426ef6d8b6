"""An InfluxDB outage is not a fleet outage: the data-path check on the real servers.

Each stack runs a real Kapacitor 1.5.7 and InfluxDB 1.6.7 with the data-path task
(InfluxDB's monitor statistics stored every second are its canary), the devices'
deadmen at a short period, the callback with INFLUXDB_URL, and Kafka; alerts go
through Kapacitor's POST or its Kafka handler and a KafkaSource. A writer feeds the
devices every second. What consumers read is the events topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from tests.support.datapath import (
    DEGRADED,
    RESTARTED,
    RESTORED,
    STOPPED,
    Fleet,
    Published,
    StackFor,
    about,
    fleet,
    now,
    published,
    real_stacks,
    sleep_until,
)
from tests.support.loop import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.real_kapacitor]

PERIOD = 3.0
DELIVERIES = ("httppost", "kafka")


@pytest.fixture(scope="module")
def datapath_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFor]:
    """The stack of each alert delivery with the data-path check, started on first use."""
    with real_stacks(tmp_path_factory, "datapath", PERIOD, datapath=True) as get:
        yield get


def evaluated(devices: Fleet, times: int) -> Callable[[], bool]:
    before = {device: devices.evaluations(device) for device in devices.devices}
    return lambda: all(
        devices.evaluations(device) >= before[device] + times for device in devices.devices
    )


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_datapath_influxdb_paused_is_marked_then_swept(
    delivery: str, datapath_stack: StackFor
) -> None:
    """InfluxDB paused three periods: one degraded and one restored event; every fed
    device's CRITICAL marked and followed by its OK; every device silent since the
    outage began reported again, unmarked, within a period of the recovery.

    A device silent from the pause on usually gets its OK at the recovery (its query
    that hung returns the points written before the pause) and, from Kapacitor
    itself, its CRITICAL one period later. A device enabled during the outage and
    never fed stays CRITICAL: only the sweep reports it again, at the restored tick.
    """
    stack = datapath_stack(delivery)
    late = Fleet(stack, [f"dp-late-{delivery}-{time.monotonic_ns()}"])
    with fleet(stack, fed=10, silent=3) as (devices, fed, silent):
        wait_for(evaluated(devices, 1), 4 * PERIOD, "every deadman evaluated once")
        paused_at, started = now(), time.monotonic()
        devices.silence(silent)
        stack.real.pause_influxdb()
        try:
            late.enable(fed=False)
            sleep_until(started + 3 * PERIOD)
        finally:
            stack.real.resume_influxdb()

        def settled() -> list[Published] | None:
            events = [event for event in published(stack) if event.time >= paused_at]
            restored = [event for event in events if event.type == RESTORED]
            silent_since = silent + late.devices
            reported = {e.subject for e in about(events, silent_since, STOPPED) if not e.marked}
            stopped = {e.subject for e in about(events, fed, STOPPED)}
            recovered = {e.subject for e in about(events, fed, RESTARTED)}
            if restored and reported == set(silent_since) and stopped <= recovered:
                return events
            return None

        try:
            events = wait_for(settled, 8 * PERIOD, "restored, silent devices reported, fed back")
        finally:
            late.delete()
    [degraded] = [event for event in events if event.type == DEGRADED]
    [restored] = [event for event in events if event.type == RESTORED]
    assert degraded.time < restored.time
    stopped = about(events, fed, STOPPED)
    assert stopped, "InfluxDB paused three periods fired the fed devices' deadmen"
    assert [event.subject for event in stopped if not event.marked] == []
    for event in stopped:
        assert about(events, [event.subject], RESTARTED), f"{event.subject} never recovered"
    for device in silent:
        unmarked = [e for e in about(events, [device], STOPPED) if not e.marked]
        assert min(e.time for e in unmarked) <= restored.time + timedelta(seconds=PERIOD)
    marked, swept = sorted(about(events, late.devices, STOPPED), key=lambda e: e.time)
    assert marked.marked, "its first evaluation, during the outage"
    assert (swept.marked, swept.time) == (False, restored.time)


def test_datapath_fleet_wide_silence_is_not_marked(datapath_stack: StackFor) -> None:
    """The writer stops, InfluxDB answers: a real fleet-wide outage, reported as such
    (whether a deadman evaluated before the stop or first after it)."""
    stack = datapath_stack("httppost")
    with fleet(stack, fed=6, silent=0) as (devices, fed, _):
        stopped_at = now()
        devices.silence(fed)

        def all_stopped() -> list[Published] | None:
            events = [event for event in published(stack) if event.time >= stopped_at]
            reported = {event.subject for event in about(events, fed, STOPPED)}
            return events if reported == set(fed) else None

        events = wait_for(all_stopped, 4 * PERIOD, "every device reported stopped")
    assert [e.subject for e in about(events, fed, STOPPED) if e.marked] == []
    assert [e for e in events if e.type in (DEGRADED, RESTORED)] == []


def test_datapath_kapacitor_restart_sends_no_false_alert(datapath_stack: StackFor) -> None:
    """Kapacitor stopped for more than a period and started again: its tasks come back
    from its store and first evaluate at the second aligned tick after they start
    (the first stats point is only the reference); an alert's state comes back from
    its topic, so nothing is sent for devices that did not change, and the data-path
    verdicts go on healthy."""
    stack = datapath_stack("httppost")
    with fleet(stack, fed=5, silent=1) as (devices, fed, silent):
        devices.silence(silent)
        wait_for(lambda: about(published(stack), silent, STOPPED), 4 * PERIOD, "the silent one")
        stopped, started = now(), time.monotonic()
        stack.real.stop_kapacitor()
        sleep_until(started + 1.5 * PERIOD)
        stack.real.start_kapacitor()
        restarted = now()
        wait_for(evaluated(devices, 2), 5 * PERIOD, "every deadman evaluated twice again")
        events = [event for event in published(stack) if event.time >= stopped]
        since = int(restarted.timestamp()) * 1_000_000_000
        statement = 'SELECT "returned", "level" FROM deadman_datapath WHERE time >= '
        verdicts = stack.real.query(statement + str(since)).json()["results"][0]
    assert about(events, fed + silent, STOPPED) == []
    assert about(events, fed + silent, RESTARTED) == []
    assert [e for e in events if e.type in (DEGRADED, RESTORED)] == []
    [series] = verdicts["series"]
    levels = [row[series["columns"].index("level")] for row in series["values"]]
    assert levels
    assert set(levels) == {"INFO"}
    first = min(datetime.fromisoformat(row[0]) for row in series["values"])
    assert first <= restarted + timedelta(seconds=2 * PERIOD), "the second tick after start"
