"""How the functions reach the servers: the Kapacitors (``KAPACITOR_URL``, or the
shards of ``KAPACITOR_URLS``) with their credentials, template and alert delivery,
and the InfluxDB of the data-path check."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ._settings_base import _TOPIC_NAME, HeartbeatSettings, _Base
from ._shards import Shard, parse_shard_url, parse_shard_urls

__all__ = ["KapacitorSettings"]


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
