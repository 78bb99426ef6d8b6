"""Settings, read from the environment and validated once at startup: one class
per function or command, made of the parts it needs. The shared base and the
heartbeat's settings are ``_settings_base``'s; how the servers are reached,
``_server_settings``'s; both are re-exported here.

Secrets (Kapacitor password or token, the callback token) may also come from files
in ``SECRETS_DIR``, one file per setting named like its environment variable, which
is how a Kubernetes Secret mounted as a volume looks.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from ._exceptions import ConfigurationError
from ._lifecycle_types import Action, EventTypes
from ._server_settings import KapacitorSettings, _InfluxDBSettings, _KapacitorUrlSettings
from ._settings_base import (
    _TOPIC_NAME,
    HeartbeatSettings,
    _Base,
    influxql_duration_ns,
    load_settings,
)
from ._task_ids import DATAPATH_TASK_ID, TaskIds, task_id_problem

__all__ = [
    "DEFAULT_DATAPATH_CANARY",
    "DEFAULT_EVENTS_TOPIC",
    "DEFAULT_TOPIC_PREFIX",
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
]

# Debezium's outbox EventRouter routes each event type to <prefix><type>.
DEFAULT_TOPIC_PREFIX = "kapacitor-alerts-connector."
# Where the callback publishes alert and heartbeat events (a KafkaSink's topic).
DEFAULT_EVENTS_TOPIC = "kapacitor-alerts-connector.events"
_EXTRA_VAR_TYPES = {"string", "int", "float", "bool", "duration"}
_RESERVED_VARS = {"name", "measurement", "db", "rp"}
# InfluxDB's own monitor statistics ([monitor] store-enabled, every 10 s by default).
DEFAULT_DATAPATH_CANARY = '"_internal"."monitor"."runtime"'
# Three double-quoted names: spliced into InfluxQL and into a TICKscript string.
_CANARY = re.compile(r'^"[^"\'\\]+"\."[^"\'\\]+"\."[^"\'\\]+"$')


class _TaskVarsSettings(_Base):
    """Vars every device task gets beside the template's own (the installer reads
    them too: the data-path task checks at the devices' ``period``)."""

    # Extra template vars for every task, as JSON:
    # {"period": {"type": "duration", "value": "30s"}}
    task_extra_vars: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("task_extra_vars")
    @classmethod
    def _extra_vars_are_simple(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        normalised: dict[str, dict[str, Any]] = {}
        for name, var in value.items():
            if name in _RESERVED_VARS or name.startswith("deadman_"):
                raise ValueError(f"var {name!r} is set by the functions themselves")
            kind = var.get("type")
            if kind not in _EXTRA_VAR_TYPES or "value" not in var:
                raise ValueError(
                    f"var {name!r} needs a type among {sorted(_EXTRA_VAR_TYPES)} and a value"
                )
            raw = var["value"]
            if kind == "duration" and isinstance(raw, str):
                raw = influxql_duration_ns(raw)
            normalised[name] = {"type": kind, "value": raw}
        return normalised


class InstallerSettings(KapacitorSettings, _InfluxDBSettings, _TaskVarsSettings):
    """Settings of ``deadmanctl install-template``: the template, the heartbeat task
    and, with ``INFLUXDB_URL``, the data-path task."""

    heartbeat_enabled: bool = True
    # The heartbeat queries a measurement of this database that never gets data.
    kapacitor_db: str | None = None
    kapacitor_rp: str = Field(default="autogen", min_length=1)
    # The data-path task's canary: a series InfluxDB writes by itself, as
    # "db"."rp"."measurement" (docs/datapath.md).
    datapath_canary: str = Field(default=DEFAULT_DATAPATH_CANARY, pattern=_CANARY.pattern)

    @model_validator(mode="after")
    def _tasks_have_a_database(self) -> Self:
        if self.heartbeat_enabled and not self.kapacitor_db:
            raise ValueError(
                "the heartbeat task queries KAPACITOR_DB: set it, or HEARTBEAT_ENABLED=false"
            )
        if self.influxdb_url and not self.kapacitor_db:
            raise ValueError(
                "the data-path task (INFLUXDB_URL) records its verdicts in KAPACITOR_DB: set it"
            )
        return self


class _TaskIdSettings(HeartbeatSettings):
    """What a device's task is called: its code plus ``TASK_ID_SUFFIX``."""

    task_id_suffix: str = "_not_fed"

    @field_validator("task_id_suffix")
    @classmethod
    def _suffix_is_task_id_text(cls, value: str) -> str:
        problem = task_id_problem(value, part=True)
        if problem:
            raise ValueError(f"cannot be part of a Kapacitor task id: {problem}")
        return value

    @property
    def task_ids(self) -> TaskIds:
        """Task ids of devices; the heartbeat's and the data-path task's are no device's."""
        # Only the lifecycle functions check codes' length; the callback reads them.
        max_length = getattr(self, "device_code_max_length", TaskIds.max_code_length)
        reserved = frozenset({self.heartbeat_task_id, DATAPATH_TASK_ID})
        return TaskIds(self.task_id_suffix, max_length, reserved)


class LifecycleSettings(KapacitorSettings, _TaskIdSettings, _TaskVarsSettings):
    """Settings of the four lifecycle functions."""

    kapacitor_db: str = Field(min_length=1)
    kapacitor_rp: str = Field(default="autogen", min_length=1)
    task_create_status: Literal["enabled", "disabled"] = "enabled"
    max_devices_per_event: int = Field(default=20_000, ge=1)
    device_code_max_length: int = Field(default=128, ge=1, le=1024)
    event_type_created: str = EventTypes.created
    event_type_enabled: str = EventTypes.enabled
    event_type_disabled: str = EventTypes.disabled
    event_type_deleted: str = EventTypes.deleted

    @property
    def event_types(self) -> EventTypes:
        """The configured type of each action (``EVENT_TYPE_<ACTION>``)."""
        return EventTypes(
            **{action.value: getattr(self, f"event_type_{action.value}") for action in Action}
        )


class KafkaSettings(_Base):
    """How every ``deadmanctl`` command reaches Kafka (dead letters, audit, heartbeat)."""

    kafka_bootstrap_servers: str | None = None
    # librdkafka properties of the cluster (security.protocol, sasl.*, ssl.*), as JSON;
    # used for every consumer and producer the commands make.
    kafka_consumer_config: dict[str, str] = Field(default_factory=dict)

    def bootstrap_servers(self, override: str | None = None) -> str:
        """``override`` (a command-line flag) or KAFKA_BOOTSTRAP_SERVERS."""
        servers = override or self.kafka_bootstrap_servers
        if not servers:
            raise ConfigurationError("--bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS is required")
        return servers


class AuditSettings(LifecycleSettings, KafkaSettings):
    """Settings of ``deadmanctl audit``: the lifecycle settings plus where the events are."""

    # Comma-separated; unset: the topic of each configured event type,
    # kapacitor-alerts-connector.<EVENT_TYPE_*> (the connector's routing).
    audit_topics: str | None = None

    @field_validator("audit_topics")
    @classmethod
    def _topic_names(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names:
            raise ValueError("name at least one topic")
        for name in names:
            if not _TOPIC_NAME.match(name):
                raise ValueError(f"{name!r} is not a Kafka topic name")
        return ",".join(names)

    def lifecycle_topics(self) -> list[str]:
        """The topics to read: AUDIT_TOPICS, or one per configured event type."""
        if self.audit_topics:
            return self.audit_topics.split(",")
        types = self.event_types
        return [DEFAULT_TOPIC_PREFIX + getattr(types, action.value) for action in Action]


class AlertSettings(_TaskIdSettings, _InfluxDBSettings):
    """Settings of the alert callback function (with ``INFLUXDB_URL``, it also reads
    ``KapacitorSettings`` for the data-path sweep)."""

    k_sink: str | None = None
    kafka_bootstrap_servers: str | None = None
    alerts_topic: str = DEFAULT_EVENTS_TOPIC
    # librdkafka properties for the Kafka emitter (security.protocol, sasl.*), as JSON.
    kafka_producer_config: dict[str, str] = Field(default_factory=dict)
    alert_callback_token: SecretStr | None = None
    alert_event_source: str = "/kapacitor/deadman"
    alert_type_critical: str = "historicization-stopped"
    alert_type_ok: str = "historicization-restarted"
    alert_type_warning: str | None = None
    alert_type_info: str | None = None
    sink_timeout_seconds: float = Field(default=10.0, gt=0, le=25)
    alert_max_body_bytes: int = Field(default=65_536, ge=1_024)
    # A dead-man's-switch service (healthchecks.io style) pinged after each
    # heartbeat reached the sink.
    heartbeat_ping_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Types of the data-path task's transitions (with INFLUXDB_URL: docs/datapath.md).
    alert_type_datapath_degraded: str = "deadman-datapath-degraded"
    alert_type_datapath_restored: str = "deadman-datapath-restored"

    @model_validator(mode="after")
    def _has_a_sink(self) -> Self:
        if not self.k_sink and not self.kafka_bootstrap_servers:
            raise ValueError(
                "no sink for alert events: set K_SINK (a SinkBinding does this in the"
                " cluster) or KAFKA_BOOTSTRAP_SERVERS (local run)"
            )
        return self


class HeartbeatCheckSettings(KafkaSettings, HeartbeatSettings, _KapacitorUrlSettings):
    """Settings of ``deadmanctl heartbeat check``: where the callback publishes, and
    the shards whose heartbeats it expects."""

    alerts_topic: str = Field(default=DEFAULT_EVENTS_TOPIC, pattern=_TOPIC_NAME.pattern)
