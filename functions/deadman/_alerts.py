"""Kapacitor alert POSTs and the historicization CloudEvents made from them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._config import AlertSettings
from ._exceptions import MalformedAlertError

__all__ = ["AlertMapper", "KapacitorAlert", "alert_event_id", "parse_alert"]

Level = Literal["OK", "INFO", "WARNING", "CRITICAL"]
# Fixed so that the same alert always gets the same CloudEvent id, in every
# process and release: downstream consumers deduplicate on it.
_ID_NAMESPACE = uuid.UUID("4f6c7a1e-2b0e-5d8e-9a57-6b1f0d3c9e21")


class KapacitorAlert(BaseModel):
    """The body of Kapacitor's alert POST (``alert.Data``); unknown keys are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)

    id: str = Field(min_length=1, max_length=1024)
    message: str = ""
    details: str = ""
    time: datetime
    duration: int = Field(default=0, ge=0)
    level: Level
    data: dict[str, Any] = Field(default_factory=dict)
    previousLevel: Level = "OK"
    recoverable: bool = True


def parse_alert(body: bytes | str | dict[str, Any]) -> KapacitorAlert:
    """Validate an alert body; ``MalformedAlertError`` names what is wrong."""
    try:
        if isinstance(body, dict):
            return KapacitorAlert.model_validate(body)
        return KapacitorAlert.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        raise MalformedAlertError(f"not a Kapacitor alert: {problems}") from None


@dataclass(frozen=True)
class AlertMapper:
    """Turns an alert into the CloudEvent downstream consumers read, or None."""

    source: str
    types: dict[str, str]
    suffix: str

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> AlertMapper:
        types = {
            "CRITICAL": settings.alert_type_critical,
            "OK": settings.alert_type_ok,
            "WARNING": settings.alert_type_warning or "",
            "INFO": settings.alert_type_info or "",
        }
        return cls(
            source=settings.alert_event_source,
            types={level: kind for level, kind in types.items() if kind},
            suffix=settings.task_id_suffix,
        )

    def device_code(self, alert: KapacitorAlert) -> str:
        # The template's alert id is the task id: the device code plus the suffix.
        if self.suffix and alert.id.endswith(self.suffix) and alert.id != self.suffix:
            return alert.id[: -len(self.suffix)]
        return alert.id

    def to_event(self, alert: KapacitorAlert) -> CloudEvent | None:
        event_type = self.types.get(alert.level)
        if event_type is None:
            return None
        device = self.device_code(alert)
        time = alert.time.astimezone(UTC) if alert.time.tzinfo else alert.time.replace(tzinfo=UTC)
        attributes = {
            "id": alert_event_id(alert),
            "source": self.source,
            "type": event_type,
            "subject": device,
            "time": time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "partitionkey": device,
        }
        data = {
            "deviceCode": device,
            "taskId": alert.id,
            "level": alert.level,
            "previousLevel": alert.previousLevel,
            "duration": alert.duration,
            "durationSeconds": alert.duration / 1e9,
            "message": alert.message,
            "time": attributes["time"],
        }
        return CloudEvent(attributes, data)


def alert_event_id(alert: KapacitorAlert) -> str:
    """Deterministic id from (alert id, time, level): a re-sent alert gets the same id."""
    time = alert.time.astimezone(UTC) if alert.time.tzinfo else alert.time
    key = json.dumps([alert.id, time.isoformat(), alert.level])
    return str(uuid.uuid5(_ID_NAMESPACE, key))
