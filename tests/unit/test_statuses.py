"""The one table from errors to HTTP statuses, and the error bodies."""

from __future__ import annotations

import json

import pytest
from cloudevents.exceptions import MissingRequiredFields
from werkzeug.exceptions import InternalServerError, MethodNotAllowed, NotFound

from deadman import (
    MAX_ERROR_BODY_BYTES,
    ConfigurationError,
    DevicesRejectedError,
    DevicesUnavailableError,
    InvalidDeviceCodeError,
    KapacitorRejectedError,
    KapacitorUnavailableError,
    MalformedAlertError,
    MalformedEventError,
    SinkRejectedError,
    SinkUnavailableError,
    TooManyDevicesError,
    UnauthorizedError,
    UnknownTemplateError,
    error_body,
    status_for,
)
from deadman.knative import is_retried


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MalformedEventError("x"), 400),
        (MalformedAlertError("x"), 400),
        (MissingRequiredFields("x"), 400),
        (InvalidDeviceCodeError('a"b', "quote"), 422),
        (TooManyDevicesError(10, 5), 422),
        (DevicesRejectedError("e", [("a", "bad")]), 422),
        (UnknownTemplateError("no template"), 422),
        (KapacitorRejectedError("bad var"), 422),
        (UnauthorizedError("no token"), 401),
        (KapacitorUnavailableError("down"), 503),
        (DevicesUnavailableError("e", [("a", "down")]), 503),
        (SinkUnavailableError("late"), 503),
        (SinkRejectedError("refused"), 502),
        (ConfigurationError("bad env"), 503),
        (RuntimeError("bug"), 503),
        (NotFound(), 400),
        (MethodNotAllowed(), 400),
        (InternalServerError(), 503),
    ],
)
def test_status_for_maps_each_error(error: Exception, status: int) -> None:
    assert status_for(error)[0] == status


@pytest.mark.parametrize(
    "error",
    [MalformedEventError("x"), InvalidDeviceCodeError("a", "b"), KapacitorRejectedError("x")],
)
def test_status_for_permanent_errors_are_not_retried(error: Exception) -> None:
    assert not is_retried(status_for(error)[0])


@pytest.mark.parametrize(
    "error", [KapacitorUnavailableError("x"), DevicesUnavailableError("e", [("a", "b")])]
)
def test_status_for_transient_errors_are_retried(error: Exception) -> None:
    assert is_retried(status_for(error)[0])


def test_error_body_names_devices_and_stays_under_one_kib() -> None:
    failures = [(f"device-{i:05d}", "task ID must contain only letters " * 3) for i in range(500)]
    body = error_body(DevicesRejectedError("evt-1", failures))
    assert len(body) <= MAX_ERROR_BODY_BYTES
    decoded = json.loads(body)
    assert decoded["error"] == "devices_rejected"
    assert decoded["devices"][0]["device"] == "device-00000"
    assert len(decoded["devices"]) + decoded["more_devices"] == 500


def test_error_body_single_invalid_device() -> None:
    decoded = json.loads(error_body(InvalidDeviceCodeError('a"b', "quote")))
    assert decoded["devices"] == [{"device": 'a"b', "reason": "quote"}]
    assert "more_devices" not in decoded


def test_error_body_hides_internal_details() -> None:
    decoded = json.loads(error_body(RuntimeError("secret=hunter2")))
    assert "hunter2" not in json.dumps(decoded)
    assert decoded["error"] == "internal_error"


def test_error_body_huge_message_is_clipped() -> None:
    body = error_body(MalformedEventError("x" * 10_000))
    assert len(body) <= MAX_ERROR_BODY_BYTES
