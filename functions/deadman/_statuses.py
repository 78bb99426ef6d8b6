"""The one place that decides which HTTP status an error becomes.

Knative's Kafka data plane retries some answers and sends the others straight to
the dead-letter sink, with the start of the body (``deadman.knative``). So
permanent problems answer 400/422 with a compact JSON body naming the cause and
the devices, transient ones 503, and this module never lets a status out that the
data plane would read otherwise (a 404 is retried, a bare 500 hides a crash).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cloudevents.exceptions import GenericException as CloudEventsError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ._exceptions import (
    ConfigurationError,
    DeadmanError,
    DevicesRejectedError,
    DevicesUnavailableError,
    InfluxDBUnavailableError,
    InvalidDeviceCodeError,
    KapacitorRejectedError,
    KapacitorUnavailableError,
    MalformedAlertError,
    MalformedEventError,
    SinkRejectedError,
    SinkUnavailableError,
    TooManyDevicesError,
    UnauthorizedError,
)
from ._framework import raised_reading_a_cloudevent
from .knative import ERROR_DATA_MAX_BYTES

__all__ = ["MAX_ERROR_BODY_BYTES", "error_body", "error_response", "status_for"]

# What the dead letter keeps of the answer: the whole body, never a cut one.
MAX_ERROR_BODY_BYTES = ERROR_DATA_MAX_BYTES

# First match wins, so subclasses come before their bases.
_STATUS_BY_ERROR: tuple[tuple[type[BaseException], int, str], ...] = (
    (UnauthorizedError, 401, "unauthorized"),
    (MalformedAlertError, 400, "malformed_alert"),
    (MalformedEventError, 400, "malformed_event"),
    (CloudEventsError, 400, "not_a_cloudevent"),
    (InvalidDeviceCodeError, 422, "invalid_device_code"),
    (TooManyDevicesError, 422, "too_many_devices"),
    (DevicesRejectedError, 422, "devices_rejected"),
    (KapacitorRejectedError, 422, "kapacitor_rejected"),
    (DevicesUnavailableError, 503, "devices_unavailable"),
    (KapacitorUnavailableError, 503, "kapacitor_unavailable"),
    (InfluxDBUnavailableError, 503, "influxdb_unavailable"),
    (SinkUnavailableError, 503, "sink_unavailable"),
    # The sink refused the alert for good; Kapacitor will not retry, so make it loud.
    (SinkRejectedError, 502, "sink_rejected"),
    (ConfigurationError, 503, "misconfigured"),
)
# Statuses that would mean something else to the Kafka data plane or hide a crash.
_REWRITTEN = {404: 400, 405: 400, 415: 400, 500: 503}


def status_for(error: BaseException) -> tuple[int, str]:
    """The HTTP status and a short error code for ``error``."""
    for kind, status, code in _STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status, code
    if raised_reading_a_cloudevent(error):
        return 400, "not_a_cloudevent"
    if isinstance(error, HTTPException) and error.code is not None:
        status = _REWRITTEN.get(error.code, error.code)
        return status, (error.name or "http_error").lower().replace(" ", "_")
    return 503, "internal_error"


def error_body(error: BaseException, **extra: Any) -> bytes:
    """A JSON body under 1 KiB naming the cause and, if any, the devices."""
    status, code = status_for(error)
    message = _message(error, status)
    body: dict[str, Any] = {"error": code, "message": _clip(message, 300)}
    body.update({key: value for key, value in extra.items() if value})
    failures: Sequence[tuple[str, str]] = getattr(error, "failures", ())
    if isinstance(error, InvalidDeviceCodeError):
        failures = ((error.device_code, error.reason),)
    return _fit(body, failures)


def error_response(error: BaseException, **extra: Any) -> Response:
    status, _ = status_for(error)
    return Response(error_body(error, **extra), status=status, mimetype="application/json")


def _message(error: BaseException, status: int) -> str:
    if isinstance(error, DeadmanError):
        return error.message
    if isinstance(error, HTTPException):
        # functions-framework's own descriptions echo headers and body: keep it short.
        return (error.description or error.name).split("\n", 1)[0]
    if isinstance(error, CloudEventsError) or raised_reading_a_cloudevent(error):
        return f"not a CloudEvent: {error}"
    return "internal error; the request can be retried" if status >= 500 else str(error)


def _fit(body: dict[str, Any], failures: Sequence[tuple[str, str]]) -> bytes:
    """Name as many failed devices as fit in the size limit, and count the rest."""
    # The message is clipped by characters; in bytes (multi-byte or escaped
    # characters, from an event id for instance) it may still be too long.
    while len(_encode(body)) > MAX_ERROR_BODY_BYTES // 2 and len(body["message"]) > 40:
        body = {**body, "message": _clip(body["message"], len(body["message"]) * 2 // 3)}
    kept: list[dict[str, str]] = []
    for device, reason in failures:
        trial = [*kept, {"device": _clip(device, 80), "reason": _clip(reason, 120)}]
        if len(_encode(_with_devices(body, trial, len(failures)))) > MAX_ERROR_BODY_BYTES:
            break
        kept = trial
    return _encode(_with_devices(body, kept, len(failures)))


def _with_devices(body: dict[str, Any], kept: list[dict[str, str]], total: int) -> dict[str, Any]:
    shaped = dict(body)
    if kept:
        shaped["devices"] = kept
    if total > len(kept):
        shaped["more_devices"] = total - len(kept)
    return shaped


def _encode(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        # A lone surrogate (valid in JSON text, "\ud800") has no UTF-8 form: escape.
        return json.dumps(body, separators=(",", ":")).encode()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
