"""Kapacitor deadman alerting for device fleets, as Knative CloudEvents functions.

The public surface is small: the lifecycle ``Action``s, the settings classes, the
Kapacitor client, the error hierarchy and ``runtime`` (what ``main.py`` calls).
"""

from . import _runtime as runtime
from ._alerts import AlertMapper, KapacitorAlert, parse_alert
from ._callback import AlertCallback
from ._config import AlertSettings, KapacitorSettings, LifecycleSettings, load_settings
from ._events import Action, EventTypes, LifecycleEvent, parse_lifecycle_event
from ._exceptions import *  # noqa: F403 - the hierarchy is part of the public surface
from ._exceptions import __all__ as _exception_names
from ._kapacitor import KapacitorClient, Task
from ._lifecycle import DeviceOutcome, Result, TaskRules
from ._ordering import (
    EVENT_ID_VAR,
    EVENT_POSITION_VAR,
    EVENT_TIME_VAR,
    BinlogPosition,
    EventStamp,
)
from ._service import LifecycleService
from ._sinks import AlertSink, HttpSink, KafkaSink

__all__ = [
    "EVENT_ID_VAR",
    "EVENT_POSITION_VAR",
    "EVENT_TIME_VAR",
    "Action",
    "AlertCallback",
    "AlertMapper",
    "AlertSettings",
    "AlertSink",
    "BinlogPosition",
    "DeviceOutcome",
    "EventStamp",
    "EventTypes",
    "HttpSink",
    "KafkaSink",
    "KapacitorAlert",
    "KapacitorClient",
    "KapacitorSettings",
    "LifecycleEvent",
    "LifecycleService",
    "LifecycleSettings",
    "Result",
    "Task",
    "TaskRules",
    "load_settings",
    "parse_alert",
    "parse_lifecycle_event",
    "runtime",
    *_exception_names,
]
