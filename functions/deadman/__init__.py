"""Kapacitor deadman alerting for device fleets, as Knative CloudEvents functions.

The public surface, everything outside this package may use:

* lifecycle events and rules: ``LIFECYCLE_TYPES`` (each event type's action,
  function target and what it does: the contract), ``LifecycleType``,
  ``ORDERED_TARGET``, ``Action``, ``EventTypes``, ``LifecycleEvent``,
  ``parse_lifecycle_event``, ``EventStamp``,
  ``BinlogPosition``, ``rfc3339`` (a time as every emitted text writes it), the
  ``EVENT_*_VAR`` names, ``TaskRules``, ``Result``,
  ``DeviceOutcome``, ``LifecycleService``;
* task ids and device codes: ``TaskIds``, ``check_device_code``,
  ``task_id_problem``;
* Kapacitor: ``KapacitorClient``, ``Task``, ``Template``, ``WEDGED_MESSAGE``;
* Kapacitor shards (several Kapacitors): ``Shard``, ``parse_shard_urls``,
  ``shard_key``, ``shard_score``, ``shard_of`` (rendezvous placement of a device),
  ``KapacitorShards`` (a client per shard), ``SHARD_EXTENSION`` (the heartbeat
  event's shard attribute);
* alerts: ``KapacitorAlert``, ``parse_alert``, ``alert_event_id``, ``AlertMapper``,
  ``AlertCallback``, ``AlertSink``, ``HttpSink``, ``KafkaSink``;
* the data-path check (with INFLUXDB_URL): ``DataPath`` (the callback's part),
  ``InfluxDBClient``, ``DATAPATH_TASK_ID``, ``DATAPATH_EXTENSION`` (the attribute
  that marks device alerts sent while InfluxDB was unhealthy);
* settings: the ``*Settings`` classes, ``load_settings`` and
  ``influxql_duration_ns`` (a duration as Kapacitor and the settings read it);
* answers and logs: ``status_for``, ``error_body``, ``MAX_ERROR_BODY_BYTES``,
  ``JsonFormatter``, ``configure_logging``, ``get_logger``;
* the error hierarchy (``_exceptions``), ``runtime`` (what ``main.py`` calls),
  ``binding`` (CloudEvents over HTTP and Kafka), ``knative`` (Knative's delivery
  rules) and ``ops`` (the deadmanctl commands).

Names are imported on first use, so that a function pays at start-up only for
the modules its own target needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _exceptions
from ._exceptions import *  # noqa: F403 - the hierarchy is part of the public surface

if TYPE_CHECKING:
    from . import _runtime as runtime
    from ._alerts import AlertMapper, KapacitorAlert, alert_event_id, parse_alert
    from ._callback import AlertCallback
    from ._config import (
        AlertSettings,
        AuditSettings,
        HeartbeatCheckSettings,
        HeartbeatSettings,
        InstallerSettings,
        KafkaSettings,
        KapacitorSettings,
        LifecycleSettings,
        influxql_duration_ns,
        load_settings,
    )
    from ._datapath import DATAPATH_EXTENSION, DataPath
    from ._events import LifecycleEvent, parse_lifecycle_event
    from ._influxdb import InfluxDBClient
    from ._kapacitor import WEDGED_MESSAGE, KapacitorClient, Task, Template
    from ._lifecycle import DeviceOutcome, Result, TaskRules
    from ._lifecycle_types import (
        LIFECYCLE_TYPES,
        ORDERED_TARGET,
        Action,
        EventTypes,
        LifecycleType,
    )
    from ._logging import JsonFormatter, configure_logging, get_logger
    from ._ordering import (
        EVENT_ID_VAR,
        EVENT_POSITION_VAR,
        EVENT_TIME_VAR,
        BinlogPosition,
        EventStamp,
        rfc3339,
    )
    from ._service import LifecycleService
    from ._shard_clients import KapacitorShards
    from ._shards import (
        SHARD_EXTENSION,
        Shard,
        parse_shard_urls,
        shard_key,
        shard_of,
        shard_score,
    )
    from ._sinks import AlertSink, HttpSink, KafkaSink
    from ._statuses import MAX_ERROR_BODY_BYTES, error_body, status_for
    from ._task_ids import DATAPATH_TASK_ID, TaskIds, check_device_code, task_id_problem

# Public name -> the private module that defines it.
_EXPORTS = {
    "runtime": "_runtime",
    **dict.fromkeys(("AlertMapper", "KapacitorAlert", "alert_event_id", "parse_alert"), "_alerts"),
    "AlertCallback": "_callback",
    **dict.fromkeys(("DATAPATH_EXTENSION", "DataPath"), "_datapath"),
    "InfluxDBClient": "_influxdb",
    **dict.fromkeys(
        (
            "AlertSettings",
            "AuditSettings",
            "HeartbeatCheckSettings",
            "HeartbeatSettings",
            "InstallerSettings",
            "KafkaSettings",
            "KapacitorSettings",
            "LifecycleSettings",
            "influxql_duration_ns",
            "load_settings",
        ),
        "_config",
    ),
    **dict.fromkeys(("LifecycleEvent", "parse_lifecycle_event"), "_events"),
    **dict.fromkeys(
        ("LIFECYCLE_TYPES", "ORDERED_TARGET", "Action", "EventTypes", "LifecycleType"),
        "_lifecycle_types",
    ),
    **dict.fromkeys(
        ("DATAPATH_TASK_ID", "TaskIds", "check_device_code", "task_id_problem"), "_task_ids"
    ),
    **dict.fromkeys(("WEDGED_MESSAGE", "KapacitorClient", "Task", "Template"), "_kapacitor"),
    **dict.fromkeys(("DeviceOutcome", "Result", "TaskRules"), "_lifecycle"),
    **dict.fromkeys(("JsonFormatter", "configure_logging", "get_logger"), "_logging"),
    **dict.fromkeys(
        (
            "EVENT_ID_VAR",
            "EVENT_POSITION_VAR",
            "EVENT_TIME_VAR",
            "BinlogPosition",
            "EventStamp",
            "rfc3339",
        ),
        "_ordering",
    ),
    "LifecycleService": "_service",
    "KapacitorShards": "_shard_clients",
    **dict.fromkeys(
        (
            "SHARD_EXTENSION",
            "Shard",
            "parse_shard_urls",
            "shard_key",
            "shard_of",
            "shard_score",
        ),
        "_shards",
    ),
    **dict.fromkeys(("AlertSink", "HttpSink", "KafkaSink"), "_sinks"),
    **dict.fromkeys(("MAX_ERROR_BODY_BYTES", "error_body", "status_for"), "_statuses"),
}

# Written out for type checkers; tests/unit/test_public_surface.py keeps it equal
# to _EXPORTS, the TYPE_CHECKING imports and the docstring.
__all__ = [
    "DATAPATH_EXTENSION",
    "DATAPATH_TASK_ID",
    "EVENT_ID_VAR",
    "EVENT_POSITION_VAR",
    "EVENT_TIME_VAR",
    "LIFECYCLE_TYPES",
    "MAX_ERROR_BODY_BYTES",
    "ORDERED_TARGET",
    "SHARD_EXTENSION",
    "WEDGED_MESSAGE",
    "Action",
    "AlertCallback",
    "AlertMapper",
    "AlertSettings",
    "AlertSink",
    "AuditSettings",
    "BinlogPosition",
    "DataPath",
    "DeviceOutcome",
    "EventStamp",
    "EventTypes",
    "HeartbeatCheckSettings",
    "HeartbeatSettings",
    "HttpSink",
    "InfluxDBClient",
    "InstallerSettings",
    "JsonFormatter",
    "KafkaSettings",
    "KafkaSink",
    "KapacitorAlert",
    "KapacitorClient",
    "KapacitorSettings",
    "KapacitorShards",
    "LifecycleEvent",
    "LifecycleService",
    "LifecycleSettings",
    "LifecycleType",
    "Result",
    "Shard",
    "Task",
    "TaskIds",
    "TaskRules",
    "Template",
    "alert_event_id",
    "check_device_code",
    "configure_logging",
    "error_body",
    "get_logger",
    "influxql_duration_ns",
    "load_settings",
    "parse_alert",
    "parse_lifecycle_event",
    "parse_shard_urls",
    "rfc3339",
    "runtime",
    "shard_key",
    "shard_of",
    "shard_score",
    "status_for",
    "task_id_problem",
]
__all__ += _exceptions.__all__


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if name == "runtime" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
