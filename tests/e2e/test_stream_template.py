"""The stream template (KAPACITOR_TEMPLATE_ID=measurement_series_not_fed_stream) on
the real servers: Kapacitor subscribed to InfluxDB, the devices' tasks made from it
through the outbox as for the batch template, alerts through both paths.

What it must detect is what the batch template detects (docs/sizing.md#the-template):
a device that goes silent, a device enabled but never fed; a fed device never alerts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.datapath import (
    RESTARTED,
    STOPPED,
    Fleet,
    Published,
    StackFor,
    about,
    fleet,
    now,
    published,
    real_stacks,
)
from tests.support.loop import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.real_kapacitor]

STREAM_TEMPLATE_ID = "measurement_series_not_fed_stream"
PERIOD = 3.0
DELIVERIES = ("httppost", "kafka")


@pytest.fixture(scope="module")
def stream_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFor]:
    """The stack of each alert delivery with the stream template, started on first
    use (the installer here and the function processes read the template id)."""
    environment = {"KAPACITOR_TEMPLATE_ID": STREAM_TEMPLATE_ID}
    with real_stacks(tmp_path_factory, "stream", PERIOD, environment) as get:
        yield get


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_stream_template_silent_and_never_fed_devices_alert_fed_ones_do_not(
    delivery: str, stream_stack: StackFor
) -> None:
    stack = stream_stack(delivery)
    never = Fleet(stack, [f"stream-never-{uuid.uuid4().hex[:6]}"])
    with fleet(stack, fed=4, silent=2) as (devices, fed, silent):
        task = devices.task(fed[0])
        assert task is not None
        assert (task["template-id"], task["type"]) == (STREAM_TEMPLATE_ID, "stream")
        started = now()
        devices.silence(silent)
        never.enable(fed=False)
        try:

            def reported() -> list[Published] | None:
                events = [event for event in published(stack) if event.time >= started]
                stopped = {event.subject for event in about(events, silent, STOPPED)}
                stopped |= {event.subject for event in about(events, never.devices, STOPPED)}
                return events if stopped == set(silent + never.devices) else None

            events = wait_for(reported, 5 * PERIOD, "the silent and never-fed devices")
        finally:
            never.delete()
        # Fed devices had every tick since the silence to alert falsely.
        late = [event for event in published(stack) if event.time >= started]
    assert about(late, fed, STOPPED) == []
    assert about(events, silent, RESTARTED) == []


def test_stream_template_tasks_need_no_query_of_influxdb(stream_stack: StackFor) -> None:
    """The stream tasks' own statistics: points come in from the subscription, and no
    query node exists to ask InfluxDB."""
    stack = stream_stack("httppost")
    with fleet(stack, fed=2, silent=0) as (devices, fed, _):

        def counted() -> dict[str, dict[str, int]] | None:
            task = devices.task(fed[0])
            assert task is not None
            nodes = task["stats"]["node-stats"]
            return nodes if nodes.get("from1", {}).get("emitted", 0) > 0 else None

        nodes = wait_for(counted, 4 * PERIOD, "points counted by the stream task")
    assert not [name for name in nodes if name.startswith("query")]
