"""Per-process wiring: settings checked at startup, clients made on first use.

functions-framework imports ``main.py`` in gunicorn's master and forks workers
afterwards, so settings are validated at import (a bad configuration stops the
container with a readable message) while sockets, pools and Kafka producers are
only made in the worker that uses them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from cloudevents.http import CloudEvent
from werkzeug.wrappers import Response

from ._callback import AlertCallback
from ._config import AlertSettings, LifecycleSettings, load_settings
from ._events import Action
from ._exceptions import DeadmanError
from ._framework import delivered_attributes
from ._logging import configure_logging, get_logger
from ._service import LifecycleService
from ._statuses import error_response, status_for

__all__ = [
    "alert_callback",
    "handle_lifecycle",
    "lifecycle",
    "render_error",
    "shutdown",
    "startup",
]

LIFECYCLE_TARGETS = frozenset({"create_alert", "enable_alert", "disable_alert", "delete_alert"})
ALERT_TARGETS = frozenset({"alert_callback"})

_log = get_logger("runtime")
_lock = threading.Lock()
_settings: dict[str, Any] = {}
_services: dict[str, Any] = {}


def startup(target: str | None = None) -> None:
    """Validate the settings the served target needs; forget earlier services."""
    configure_logging()
    target = os.environ.get("FUNCTION_TARGET") if target is None else target
    shutdown()
    with _lock:
        if target in LIFECYCLE_TARGETS:
            _settings["lifecycle"] = load_settings(LifecycleSettings)
        elif target in ALERT_TARGETS:
            _settings["alerts"] = load_settings(AlertSettings)


def shutdown() -> None:
    """Close the clients, pools and producers this process made."""
    with _lock:
        for service in _services.values():
            service.close()
        _services.clear()
        _settings.clear()


def lifecycle() -> LifecycleService:
    with _lock:
        service = _services.get("lifecycle")
        if service is None:
            settings = _settings.get("lifecycle") or load_settings(LifecycleSettings)
            service = _services["lifecycle"] = LifecycleService(settings)
        return service  # type: ignore[no-any-return,unused-ignore]


def alert_callback() -> AlertCallback:
    with _lock:
        service = _services.get("alerts")
        if service is None:
            settings = _settings.get("alerts") or load_settings(AlertSettings)
            service = _services["alerts"] = AlertCallback(settings)
        return service  # type: ignore[no-any-return,unused-ignore]


def handle_lifecycle(event: CloudEvent, action: Action) -> None:
    """Apply a delivered lifecycle CloudEvent for the devices it names."""
    attributes = delivered_attributes(event.get_attributes())
    lifecycle().handle(attributes, event.get_data(), action)


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
    return error_response(error)
