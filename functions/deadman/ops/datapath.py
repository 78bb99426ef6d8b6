"""The data-path task: does InfluxDB answer the deadmen's queries? (docs/datapath.md)

With ``INFLUXDB_URL`` set, the installer keeps one more Kapacitor task next to the
heartbeat, ``deadman_datapath``, made from the bundled ``deadman_datapath.tick``: a
batch query of the canary (``DATAPATH_CANARY``) six times per device period, and at
every tick of that period an INFO (healthy) or CRITICAL (two or more queries did
not come back) alert through the device alerts' own handler, also recorded in
``KAPACITOR_DB``.``KAPACITOR_RP``.``deadman_datapath``. Its period is the devices'
own (``TASK_EXTRA_VARS``'s ``period``, else the template's ``var period``): every
aligned deadman of one period ticks at the same instants, so a device alert's time
names the verdict that goes with it.

Before installing, the canary must have a point in the last period: a canary that
InfluxDB does not write would read as a data path down for good.
"""

from __future__ import annotations

import re
from typing import Any

from .._config import InstallerSettings, influxql_duration_ns
from .._exceptions import ConfigurationError, InfluxDBUnavailableError
from .._influxdb import InfluxDBClient
from .._kapacitor import KapacitorClient
from .._task_ids import DATAPATH_TASK_ID
from ._keep_task import keep_task
from .template import bundled_template, render_template

__all__ = [
    "DATAPATH_SCRIPT",
    "QUERIES_PER_PERIOD",
    "VERDICTS_MEASUREMENT",
    "check_canary",
    "datapath_body",
    "device_period_ns",
    "install_datapath",
]

DATAPATH_SCRIPT = "deadman_datapath"
# Canary queries per period: a stall is seen within the period it starts in.
QUERIES_PER_PERIOD = 6
# Where the verdicts are recorded, in KAPACITOR_DB.KAPACITOR_RP.
VERDICTS_MEASUREMENT = "deadman_datapath"
_TEMPLATE_PERIOD = re.compile(r"^var period = (\S+)[ \t]*$", re.MULTILINE)
_CANARY_PARTS = re.compile(r'"([^"]+)"\."([^"]+)"\."([^"]+)"')


def device_period_ns(settings: InstallerSettings, template_script: str) -> int:
    """The devices' deadman period: ``TASK_EXTRA_VARS``'s ``period``, else the one
    the template declares (``var period = 1m``)."""
    extra = settings.task_extra_vars.get("period")
    if extra is not None:
        if extra["type"] != "duration" or not isinstance(extra["value"], int):
            raise ConfigurationError("TASK_EXTRA_VARS: period must be a duration")
        return int(extra["value"])
    match = _TEMPLATE_PERIOD.search(template_script)
    if match is None:
        raise ConfigurationError(
            "the template declares no `var period = <duration>` and TASK_EXTRA_VARS names"
            " none: the data-path task cannot tell the devices' period"
        )
    return influxql_duration_ns(match.group(1))


def datapath_body(settings: InstallerSettings, period_ns: int) -> dict[str, Any]:
    """The task as the installer wants it (script rendered for the delivery)."""
    assert settings.kapacitor_db is not None
    canary = _CANARY_PARTS.fullmatch(settings.datapath_canary)
    assert canary is not None, "DATAPATH_CANARY is validated by the settings"
    return {
        "id": DATAPATH_TASK_ID,
        "type": "batch",
        # Kapacitor lets a batch query read only its task's dbrps (seen on 1.5.7:
        # 'batch query is not allowed to request data from "_internal"."monitor"').
        "dbrps": [{"db": canary.group(1), "rp": canary.group(2)}],
        "script": render_template(bundled_template(DATAPATH_SCRIPT), settings),
        "vars": {
            "db": {"type": "string", "value": settings.kapacitor_db},
            "rp": {"type": "string", "value": settings.kapacitor_rp},
            "id": {"type": "string", "value": DATAPATH_TASK_ID},
            "measurement": {"type": "string", "value": VERDICTS_MEASUREMENT},
            "canary": {"type": "string", "value": settings.datapath_canary},
            # Kapacitor stores durations as nanoseconds and returns them so.
            "period": {"type": "duration", "value": period_ns},
            "every": {"type": "duration", "value": period_ns // QUERIES_PER_PERIOD},
        },
        "status": "enabled",
    }


def check_canary(influxdb: InfluxDBClient, canary: str, period_ns: int) -> None:
    """Raise a ConfigurationError that says what to do unless the canary has a point
    in the last period."""
    # The canary is validated (three double-quoted names); the rest is a number.
    statement = f"SELECT * FROM {canary} WHERE time > now() - {period_ns}ns LIMIT 1"  # noqa: S608
    what_to_do = (
        "enable InfluxDB's [monitor] store-enabled (on by default, every 10 s), or set"
        " DATAPATH_CANARY to a series written more often than the devices' period"
    )
    try:
        found = influxdb.query(statement)
    except InfluxDBUnavailableError as error:
        raise ConfigurationError(
            f"the data-path canary {canary} could not be read: {error.message}; {what_to_do}"
        ) from error
    if not any(series.values for series in found):
        seconds = period_ns / 1e9
        raise ConfigurationError(
            f"the data-path canary {canary} has no point in the last {seconds:g} s at"
            f" {influxdb.url}: {what_to_do}"
        )


def install_datapath(
    client: KapacitorClient,
    settings: InstallerSettings,
    template_script: str,
    *,
    dry_run: bool = False,
    influxdb: InfluxDBClient | None = None,
) -> str:
    """Check the canary, then create, update or leave the data-path task."""
    period_ns = device_period_ns(settings, template_script)
    if influxdb is None:
        with InfluxDBClient.from_settings(settings) as own:
            check_canary(own, settings.datapath_canary, period_ns)
    else:
        check_canary(influxdb, settings.datapath_canary, period_ns)
    return keep_task(client, datapath_body(settings, period_ns), dry_run=dry_run)
