"""Errors raised by the deadman functions.

Every class also inherits the builtin that matches it, so callers that only know
Python's own exceptions still catch them, and each carries structured fields for
logs and HTTP error bodies. The hierarchy::

    DeadmanError
    ├── ConfigurationError (ValueError)            settings invalid at startup
    ├── EventError (ValueError)                    permanent: the event is unusable
    │   ├── MalformedEventError                    not a lifecycle event we can read
    │   ├── InvalidDeviceCodeError                 a device code cannot be a task id
    │   ├── TooManyDevicesError                    over MAX_DEVICES_PER_EVENT
    │   └── DevicesRejectedError                   some devices failed for good
    ├── AlertError (ValueError)                    permanent: the alert is unusable
    │   ├── MalformedAlertError                    not a Kapacitor alert body
    │   └── UnauthorizedError (PermissionError)    missing or wrong callback token
    ├── KapacitorError                             Kapacitor said no, or did not answer
    │   ├── KapacitorRejectedError (ValueError)    4xx that retrying cannot fix
    │   │   ├── UnknownTemplateError               the template is not installed
    │   │   ├── TaskAlreadyExistsError             create lost a race with another create
    │   │   └── TaskMissingError                   PATCH of a task that is gone
    │   └── KapacitorUnavailableError (ConnectionError)
    │                                              refused, timeout, 5xx: retry later
    ├── DevicesUnavailableError (ConnectionError)  some devices failed for now: retry
    ├── InfluxDBUnavailableError (ConnectionError) InfluxDB did not answer (data-path check)
    ├── TopicReadError (ConnectionError)           a Kafka topic could not be read
    ├── DeadLetterError (ConnectionError)          a replay could not be written
    └── SinkError
        ├── SinkUnavailableError (ConnectionError) the sink did not accept in time
        └── SinkRejectedError (ValueError)         the sink refused the event for good

The mapping from these classes to HTTP statuses lives in one table, in
``_statuses.py``; ``deadmanctl`` turns every one of them into exit code 2.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AlertError",
    "ConfigurationError",
    "DeadLetterError",
    "DeadmanError",
    "DevicesRejectedError",
    "DevicesUnavailableError",
    "EventError",
    "InfluxDBUnavailableError",
    "InvalidDeviceCodeError",
    "KapacitorError",
    "KapacitorRejectedError",
    "KapacitorUnavailableError",
    "MalformedAlertError",
    "MalformedEventError",
    "SinkError",
    "SinkRejectedError",
    "SinkUnavailableError",
    "TaskAlreadyExistsError",
    "TaskMissingError",
    "TooManyDevicesError",
    "TopicReadError",
    "UnauthorizedError",
    "UnknownTemplateError",
]


class DeadmanError(Exception):
    """Base class of every error this package raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(DeadmanError, ValueError):
    """The environment does not describe a usable configuration."""


class EventError(DeadmanError, ValueError):
    """The lifecycle event cannot be applied, now or ever (a retry cannot help)."""


class MalformedEventError(EventError):
    """The request is not a lifecycle CloudEvent this function can read."""


class InvalidDeviceCodeError(EventError):
    """A device code cannot become a Kapacitor task id or an InfluxQL identifier."""

    def __init__(self, device_code: str, reason: str) -> None:
        super().__init__(f"invalid device code {device_code!r}: {reason}")
        self.device_code = device_code
        self.reason = reason


class TooManyDevicesError(EventError):
    """One event names more devices than a single delivery may safely apply."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            f"event names {count} devices; the limit is {limit} (MAX_DEVICES_PER_EVENT)"
        )
        self.count = count
        self.limit = limit


class DevicesRejectedError(EventError):
    """Devices of the event failed permanently; the others were applied."""

    def __init__(self, event_id: str, failures: Sequence[tuple[str, str]]) -> None:
        super().__init__(f"{len(failures)} device(s) of event {event_id} cannot be applied")
        self.event_id = event_id
        self.failures = tuple(failures)


class DevicesUnavailableError(DeadmanError, ConnectionError):
    """Devices of the event failed for a reason that may pass; a redelivery is safe."""

    def __init__(self, event_id: str, failures: Sequence[tuple[str, str]]) -> None:
        super().__init__(f"{len(failures)} device(s) of event {event_id} could not be applied now")
        self.event_id = event_id
        self.failures = tuple(failures)


class AlertError(DeadmanError, ValueError):
    """The alert POST cannot be turned into a CloudEvent."""


class MalformedAlertError(AlertError):
    """The body is not a Kapacitor alert."""


class UnauthorizedError(AlertError, PermissionError):
    """The caller did not present the configured callback token."""


class KapacitorError(DeadmanError):
    """Kapacitor refused a call, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status_code = status_code


class KapacitorRejectedError(KapacitorError, ValueError):
    """Kapacitor answered with an error that the same call would get again."""


class UnknownTemplateError(KapacitorRejectedError):
    """The TICKscript template the tasks are made from is not installed."""


class TaskAlreadyExistsError(KapacitorRejectedError):
    """Create answered ``task X already exists`` (another delivery won the race)."""


class TaskMissingError(KapacitorRejectedError):
    """PATCH answered ``task does not exist, cannot update``."""


class KapacitorUnavailableError(KapacitorError, ConnectionError):
    """Kapacitor did not answer usefully (refused, timed out, 5xx); retry later."""


class InfluxDBUnavailableError(DeadmanError, ConnectionError):
    """InfluxDB did not answer usefully (refused, timed out, an error): the data-path
    check cannot tell now; retry later."""


class TopicReadError(DeadmanError, ConnectionError):
    """A topic the operator tools read (dead letters, lifecycle) could not be read."""


class DeadLetterError(DeadmanError, ConnectionError):
    """Replayed dead letters could not be written to their topic."""


class SinkError(DeadmanError):
    """The alert event could not be handed to its sink."""

    def __init__(self, message: str, *, event_id: str = "", subject: str = "") -> None:
        super().__init__(message)
        self.event_id = event_id
        self.subject = subject


class SinkUnavailableError(SinkError, ConnectionError):
    """The sink did not acknowledge the event within the deadline."""


class SinkRejectedError(SinkError, ValueError):
    """The sink refused the event with a status that a retry would not change."""
