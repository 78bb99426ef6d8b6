"""The data-path task the installer keeps with INFLUXDB_URL (on each Kapacitor
backend: the emulator as 1.5.7 and 1.7.7, and a real 1.5.7), and the canary it
checks first."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from deadman import (
    DATAPATH_TASK_ID,
    ConfigurationError,
    InfluxDBClient,
    InstallerSettings,
    KapacitorClient,
)
from deadman.ops.datapath import install_datapath
from deadman.ops.install import installer_steps
from deadman.ops.template import bundled_template
from tests.support.backends import KapacitorBackend
from tests.support.paths import TEMPLATE_ID

INFLUXDB = "http://influxdb.test:8086"
CANARY_POINT = {"name": "runtime", "columns": ["time", "Alloc"], "values": [[1, 2]]}


def influxdb(with_point: bool = True) -> InfluxDBClient:
    """An InfluxDB whose canary has a recent point, or none."""

    def answer(request: httpx.Request) -> httpx.Response:
        found = [CANARY_POINT] if with_point else []
        return httpx.Response(200, json={"results": [{"statement_id": 0, "series": found}]})

    return InfluxDBClient(INFLUXDB, timeout=1.0, transport=httpx.MockTransport(answer))


def installer(kapacitor: KapacitorBackend, **values: Any) -> InstallerSettings:
    return InstallerSettings(
        kapacitor_url=kapacitor.url, kapacitor_db="iot", influxdb_url=INFLUXDB, **values
    )


def test_install_datapath_creates_then_leaves_alone(kapacitor: KapacitorBackend) -> None:
    settings = installer(kapacitor, task_extra_vars={"period": {"type": "duration", "value": "6s"}})
    template = bundled_template(TEMPLATE_ID)
    with KapacitorClient(settings) as client:
        assert install_datapath(client, settings, template, influxdb=influxdb()) == "created"
        task = kapacitor.task(DATAPATH_TASK_ID)
        assert (task.status, task.executing, task.error) == ("enabled", True, "")
        # The devices' period, six canary queries in each, the canary's dbrp.
        assert (task.vars["period"], task.vars["every"]) == (6_000_000_000, 1_000_000_000)
        assert task.dbrps == [("_internal", "monitor")]
        assert (task.vars["db"], task.vars["measurement"]) == ("iot", "deadman_datapath")
        code = [line for line in task.script.splitlines() if not line.lstrip().startswith("//")]
        assert not any(".stateChangesOnly()" in line for line in code)  # every tick
        assert ".endpoint('benthos')" in task.script  # the device alerts' handler
        writes = kapacitor.writes()
        assert install_datapath(client, settings, template, influxdb=influxdb()) == "unchanged"
        assert kapacitor.writes() == writes


def test_install_datapath_follows_the_template_period_and_delivery(
    kapacitor: KapacitorBackend,
) -> None:
    template = bundled_template(TEMPLATE_ID)
    with KapacitorClient(installer(kapacitor)) as client:
        install_datapath(client, installer(kapacitor), template, influxdb=influxdb())
        assert kapacitor.task(DATAPATH_TASK_ID).vars["period"] == 60_000_000_000  # var period
        kafka = installer(kapacitor, alert_delivery="kafka")
        assert install_datapath(client, kafka, template, influxdb=influxdb()) == "updated"
    task = kapacitor.task(DATAPATH_TASK_ID)
    assert (task.status, task.executing) == ("enabled", True)
    assert ".kafka()" in task.script
    assert ".post()" not in task.script


def test_install_datapath_canary_without_points_says_what_to_do(
    kapacitor: KapacitorBackend,
) -> None:
    settings = installer(kapacitor)
    with (
        KapacitorClient(settings) as client,
        pytest.raises(ConfigurationError, match=r"store-enabled.*DATAPATH_CANARY"),
    ):
        install_datapath(
            client, settings, bundled_template(TEMPLATE_ID), influxdb=influxdb(with_point=False)
        )
    assert kapacitor.find_task(DATAPATH_TASK_ID) is None


def test_installer_steps_add_the_datapath_task_only_with_influxdb_url() -> None:
    without = InstallerSettings(kapacitor_db="iot")
    with_url = InstallerSettings(kapacitor_db="iot", influxdb_url=INFLUXDB)
    script = bundled_template(TEMPLATE_ID)
    assert [step.what for step in installer_steps(without, script)] == [
        f"template {TEMPLATE_ID}",
        "heartbeat task deadman_heartbeat",
    ]
    assert installer_steps(with_url, script)[-1].what == f"data-path task {DATAPATH_TASK_ID}"
