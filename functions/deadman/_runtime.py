"""Per-process wiring: settings checked at startup, clients made on first use.

functions-framework imports ``main.py`` in gunicorn's master and forks workers
afterwards, so settings are validated at import (a bad configuration stops the
container with a readable message) while sockets, pools, Kafka producers and
telemetry exporters are only made in the worker that uses them. Each target
imports only what it runs: a lifecycle function no Kafka client and no alert
mapping, the callback no Kapacitor client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.wrappers import Response

from ._config import AlertSettings, KapacitorSettings, LifecycleSettings, load_settings
from ._exceptions import DeadmanError, SinkError
from ._framework import delivered_attributes, incoming_traceparent
from ._lifecycle_types import LIFECYCLE_TYPES, ORDERED_TARGET
from ._logging import configure_logging, get_logger
from ._statuses import error_response, status_for
from ._telemetry import ALERTS, LIFECYCLE_EVENTS, shutdown_telemetry, telemetry

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

    from ._callback import AlertCallback
    from ._lifecycle_types import Action
    from ._service import LifecycleService

__all__ = [
    "alert_callback",
    "handle_lifecycle",
    "lifecycle",
    "render_error",
    "shutdown",
    "startup",
]

# Target -> the lifecycle action it applies (the value of deadman.action);
# the ordered target applies each event's own, in the order delivered.
LIFECYCLE_TARGETS = {
    **{row.target: row.action.value for row in LIFECYCLE_TYPES},
    ORDERED_TARGET: "any",
}
ALERT_TARGETS = frozenset({"alert_callback"})

_S = TypeVar("_S", LifecycleSettings, AlertSettings)
_T = TypeVar("_T")
_log = get_logger("runtime")
_lock = threading.Lock()
_settings: dict[str, Any] = {}
_services: dict[str, Any] = {}
_target: list[str | None] = [None]


def startup(target: str | None = None) -> None:
    """Validate the settings the served target needs; forget earlier services."""
    configure_logging()
    target = os.environ.get("FUNCTION_TARGET") if target is None else target
    shutdown()
    with _lock:
        _target[0] = target
        if target in LIFECYCLE_TARGETS:
            _settings["lifecycle"] = load_settings(LifecycleSettings)
        elif target in ALERT_TARGETS:
            _settings["alerts"] = alerts = load_settings(AlertSettings)
            if alerts.influxdb_url:
                # The data-path sweep reads Kapacitor: its settings must hold too.
                load_settings(KapacitorSettings)


def shutdown() -> None:
    """Close the clients, pools and producers this process made; flush telemetry."""
    with _lock:
        for service in _services.values():
            service.close()
        _services.clear()
        _settings.clear()
    shutdown_telemetry()


def lifecycle() -> LifecycleService:
    from ._service import LifecycleService

    return _service("lifecycle", LifecycleSettings, LifecycleService)


def alert_callback() -> AlertCallback:
    from ._callback import AlertCallback

    return _service("alerts", AlertSettings, AlertCallback)


def _service(key: str, settings_kind: type[_S], make: Callable[[_S], _T]) -> _T:
    """The process's one service of ``key``, made on first use."""
    with _lock:
        service = _services.get(key)
        if service is None:
            settings = _settings.get(key) or load_settings(settings_kind)
            service = _services[key] = make(settings)
        return service


def handle_lifecycle(event: CloudEvent, action: Action | None = None) -> None:
    """Apply a delivered lifecycle CloudEvent for the devices it names: if it asks
    for ``action``, or whatever it asks for when ``action`` is None."""
    attributes = delivered_attributes(event.get_attributes())
    lifecycle().handle(attributes, event.get_data(), action, traceparent=incoming_traceparent())
    counted = action.value if action is not None else LIFECYCLE_TARGETS[ORDERED_TARGET]
    telemetry().add(
        LIFECYCLE_EVENTS, 1, {"deadman.action": counted, "http.response.status_code": 200}
    )


def render_error(error: Exception) -> Response:
    """Every error a function raises becomes a compact JSON answer (see _statuses)."""
    status, code = status_for(error)
    if not isinstance(error, DeadmanError) and status >= 500:
        _log.error("unexpected error", exc_info=error, extra={"fields": {"error": code}})
    else:
        # First line only: functions-framework's own 400s go on to list the request's
        # headers, Authorization included, which must not reach the logs.
        reason = str(error).split("\n", 1)[0][:300]
        _log.info(
            "request refused",
            extra={"fields": {"status": status, "error": code, "reason": reason}},
        )
    _count_refusal(error, status)
    return error_response(error)


def _count_refusal(error: Exception, status: int) -> None:
    target = _target[0]
    if target in LIFECYCLE_TARGETS:
        attributes = {
            "deadman.action": LIFECYCLE_TARGETS[target],
            "http.response.status_code": status,
        }
        telemetry().add(LIFECYCLE_EVENTS, 1, attributes)
    elif target in ALERT_TARGETS and not isinstance(error, SinkError):
        # A sink failure is counted where the alert is known (with its level).
        outcome = "rejected" if status < 500 else "failed"
        telemetry().add(ALERTS, 1, {"deadman.outcome": outcome})
