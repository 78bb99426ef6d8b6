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
from ._ordering import rfc3339
from ._shards import SHARD_EXTENSION, heartbeat_shard
from ._task_ids import TaskIds

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
    """Turns an alert into the CloudEvent downstream consumers read, or None.

    The heartbeat task's alerts (``heartbeat_id``) become ``heartbeat_type`` events
    whatever their level, never historicization events.
    """

    source: str
    types: dict[str, str]
    ids: TaskIds
    heartbeat_id: str = ""
    heartbeat_type: str = ""

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
            ids=settings.task_ids,
            heartbeat_id=settings.heartbeat_task_id,
            heartbeat_type=settings.alert_type_heartbeat,
        )

    def is_heartbeat(self, alert: KapacitorAlert) -> bool:
        return bool(self.heartbeat_id) and alert.id == self.heartbeat_id

    def device_code(self, alert: KapacitorAlert) -> str:
        # The template's alert id is the task id: the device code plus the suffix.
        return self.ids.device_of(alert.id) or alert.id

    def to_event(self, alert: KapacitorAlert) -> CloudEvent | None:
        if self.is_heartbeat(alert):
            return self._heartbeat_event(alert)
        event_type = self.types.get(alert.level)
        if event_type is None:
            return None
        device = self.device_code(alert)
        attributes = self._attributes(alert, event_type, device)
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

    def _heartbeat_event(self, alert: KapacitorAlert) -> CloudEvent:
        attributes = self._attributes(alert, self.heartbeat_type, alert.id)
        data = {
            "taskId": alert.id,
            "level": alert.level,
            "duration": alert.duration,
            "message": alert.message,
            "time": attributes["time"],
        }
        shard = heartbeat_shard(alert.details)
        if shard:
            # Every shard's heartbeat fires at the same aligned instant: the shard
            # tells them apart, in the id too (consumers deduplicate on it).
            attributes["id"] = alert_event_id(alert, shard)
            attributes[SHARD_EXTENSION] = data["shard"] = shard
        return CloudEvent(attributes, data)

    def event(
        self, alert: KapacitorAlert, event_type: str, subject: str, data: dict[str, Any]
    ) -> CloudEvent:
        """An event of ``event_type`` about ``subject``, with every emitted event's
        conventions (id deterministic from the alert, source, time, partition key)."""
        return CloudEvent(self._attributes(alert, event_type, subject), data)

    def _attributes(self, alert: KapacitorAlert, event_type: str, subject: str) -> dict[str, str]:
        return {
            "id": alert_event_id(alert),
            "source": self.source,
            "type": event_type,
            "subject": subject,
            "time": rfc3339(alert.time),
            "datacontenttype": "application/json",
            # The record key on Kafka: one device's (or the heartbeat's) events in order.
            "partitionkey": subject,
        }


def alert_event_id(alert: KapacitorAlert, shard: str = "") -> str:
    """Deterministic id from (alert id, time, level), and the Kapacitor shard of a
    heartbeat: a re-sent alert gets the same id."""
    time = alert.time.astimezone(UTC) if alert.time.tzinfo else alert.time
    parts = [alert.id, time.isoformat(), alert.level, *([shard] if shard else [])]
    return str(uuid.uuid5(_ID_NAMESPACE, json.dumps(parts)))
