"""Settings, read from the environment and validated once at startup.

Secrets (Kapacitor password or token, the callback token) may also come from files
in ``SECRETS_DIR``, one file per setting named like its environment variable, which
is how a Kubernetes Secret mounted as a volume looks.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._exceptions import ConfigurationError
from ._lifecycle_types import Action, EventTypes
from ._shards import Shard, parse_shard_url, parse_shard_urls
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
    "load_settings",
]

# The units Kapacitor reads in a duration var (seen on a real 1.5.7: "10us" and
# "10ns" are refused with 400).
_DURATION_PART = re.compile(r"(\d+)(u|µ|ms|s|m|h|d|w)")
_NANOS = {
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
# Debezium's outbox EventRouter routes each event type to <prefix><type>.
DEFAULT_TOPIC_PREFIX = "kapacitor-alerts-connector."
# Where the callback publishes alert and heartbeat events (a KafkaSink's topic).
DEFAULT_EVENTS_TOPIC = "kapacitor-alerts-connector.events"
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_EXTRA_VAR_TYPES = {"string", "int", "float", "bool", "duration"}
_RESERVED_VARS = {"name", "measurement", "db", "rp"}
# InfluxDB's own monitor statistics ([monitor] store-enabled, every 10 s by default).
DEFAULT_DATAPATH_CANARY = '"_internal"."monitor"."runtime"'
# Three double-quoted names: spliced into InfluxQL and into a TICKscript string.
_CANARY = re.compile(r'^"[^"\'\\]+"\."[^"\'\\]+"\."[^"\'\\]+"$')


def influxql_duration_ns(text: str) -> int:
    """Nanoseconds of an InfluxQL duration such as ``10s`` or ``1h30m``.

    Kapacitor stores durations as integer nanoseconds and returns them that way,
    so extra vars are normalised before they are compared with a stored task.
    """
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 10s, 5m or 1h30m")
    return sum(int(number) * _NANOS[unit] for number, unit in parts)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        # Values such as "" for an optional secret mean "not set".
        env_ignore_empty=True,
        # A schema is built on first use, not at import: each function target
        # validates one of these classes and should not pay for the others.
        defer_build=True,
    )


class HeartbeatSettings(_Base):
    """The heartbeat task: made by the installer, recognised by the callback, the
    lifecycle functions and the audit, watched by ``deadmanctl heartbeat check``."""

    heartbeat_task_id: str = "deadman_heartbeat"
    heartbeat_period: str = "1m"
    alert_type_heartbeat: str = "deadman-heartbeat"

    @field_validator("heartbeat_task_id")
    @classmethod
    def _heartbeat_is_a_task_id(cls, value: str) -> str:
        problem = task_id_problem(value)
        if problem:
            raise ValueError(f"not a Kapacitor task id: {problem}")
        return value

    @field_validator("heartbeat_period")
    @classmethod
    def _period_is_a_duration(cls, value: str) -> str:
        if influxql_duration_ns(value) < 1_000_000_000:
            raise ValueError("must be at least 1s")
        return value

    @property
    def heartbeat_period_seconds(self) -> float:
        return influxql_duration_ns(self.heartbeat_period) / 1e9


class _KapacitorUrlSettings(_Base):
    """Which Kapacitors there are: ``KAPACITOR_URL``, or the shards of
    ``KAPACITOR_URLS`` (comma-separated; each URL may carry ``user:password@``).

    ``KAPACITOR_URLS`` is a secret because its URLs may carry credentials; a URL's
    own credentials are used for that shard, ``KAPACITOR_USERNAME``/``PASSWORD`` or
    ``KAPACITOR_TOKEN`` for every shard whose URL has none.
    """

    # A URL of KAPACITOR_URLS may carry a password: errors never echo their input.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    kapacitor_url: str = "http://127.0.0.1:9092"
    kapacitor_urls: SecretStr | None = None

    @field_validator("kapacitor_url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as http://kapacitor:9092")
        if "@" in value.split("/")[2]:
            # Credentials in the URL would end up in logs and error messages.
            raise ValueError(
                "put credentials in KAPACITOR_USERNAME/PASSWORD, not in the URL"
                " (or in the URLs of KAPACITOR_URLS, a secret)"
            )
        parse_shard_url(value)  # a placement key too (a single shard has one)
        return value.rstrip("/")

    @field_validator("kapacitor_urls")
    @classmethod
    def _urls_are_shards(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_shard_urls(value.get_secret_value())  # messages never show a password
        return value

    @model_validator(mode="after")
    def _one_list_of_kapacitors(self) -> Self:
        if self.kapacitor_urls is None or "kapacitor_url" not in self.model_fields_set:
            return self
        if [shard.key for shard in self.shards] != [parse_shard_url(self.kapacitor_url).key]:
            raise ValueError(
                "KAPACITOR_URL and KAPACITOR_URLS name different Kapacitors:"
                " set KAPACITOR_URLS alone"
            )
        return self

    @property
    def shards(self) -> tuple[Shard, ...]:
        """The Kapacitors, in the order given: those of KAPACITOR_URLS, else
        KAPACITOR_URL alone."""
        if self.kapacitor_urls is not None:
            return parse_shard_urls(self.kapacitor_urls.get_secret_value())
        return (parse_shard_url(self.kapacitor_url),)


class KapacitorSettings(HeartbeatSettings, _KapacitorUrlSettings):
    """How to reach Kapacitor, which template the deadman tasks come from and how
    their alerts leave Kapacitor (the installer renders the handler)."""

    kapacitor_username: str | None = None
    kapacitor_password: SecretStr | None = None
    kapacitor_token: SecretStr | None = None
    kapacitor_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    kapacitor_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    kapacitor_template_id: str = "measurement_series_not_fed_template"
    kapacitor_template_file: str | None = None
    bulk_concurrency: int = Field(default=8, ge=1, le=128)
    # httppost: Kapacitor POSTs each alert once to its [[httppost]] endpoint.
    # kafka: its Kafka event handler writes each alert to KAPACITOR_ALERTS_TOPIC on
    # the [[kafka]] cluster KAPACITOR_KAFKA_CLUSTER (Kapacitor 1.5.1 or later).
    alert_delivery: Literal["httppost", "kafka"] = "httppost"
    kapacitor_kafka_cluster: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]+$")
    kapacitor_alerts_topic: str = Field(
        default="kapacitor-alerts-connector.kapacitor-alerts", pattern=_TOPIC_NAME.pattern
    )

    @model_validator(mode="after")
    def _one_credential_kind(self) -> Self:
        if self.kapacitor_token is not None and self.kapacitor_username is not None:
            raise ValueError("set KAPACITOR_TOKEN or KAPACITOR_USERNAME/PASSWORD, not both")
        if (self.kapacitor_username is None) != (self.kapacitor_password is None):
            raise ValueError("KAPACITOR_USERNAME and KAPACITOR_PASSWORD go together")
        return self


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


class _InfluxDBSettings(_Base):
    """The InfluxDB the deadmen query, for the data-path check (docs/datapath.md):
    the installer adds the data-path task, the callback marks and sweeps. Unset
    ``INFLUXDB_URL``: no check, nothing of it runs."""

    influxdb_url: str | None = None
    influxdb_username: str | None = None
    influxdb_password: SecretStr | None = None
    # Each InfluxDB call (the callback's probe and reads, the installer's check).
    influxdb_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("influxdb_url")
    @classmethod
    def _influxdb_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s@]+(/|$)", value):
            # Credentials in the URL would end up in logs and error messages.
            raise ValueError(
                "must be an http(s) URL such as http://influxdb:8086, without credentials"
                " (INFLUXDB_USERNAME/PASSWORD)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _influxdb_credentials_go_together(self) -> Self:
        if (self.influxdb_username is None) != (self.influxdb_password is None):
            raise ValueError("INFLUXDB_USERNAME and INFLUXDB_PASSWORD go together")
        return self


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


_SettingsT = TypeVar("_SettingsT", bound=_Base)


def load_settings(kind: type[_SettingsT]) -> _SettingsT:
    """Build ``kind`` from the environment, or raise a readable ``ConfigurationError``."""
    secrets_dir = os.environ.get("SECRETS_DIR") or None
    try:
        return kind(_secrets_dir=secrets_dir)  # type: ignore[call-arg]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            lines.append(f"  {where}: {problem['msg']}")
        raise ConfigurationError(
            f"invalid {kind.__name__} in the environment:\n" + "\n".join(lines)
        ) from None
