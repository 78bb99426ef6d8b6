"""Settings of the data-path check and what the installer derives from them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from deadman import (
    DATAPATH_TASK_ID,
    AlertSettings,
    ConfigurationError,
    InfluxDBClient,
    InstallerSettings,
    InvalidDeviceCodeError,
    LifecycleSettings,
    load_settings,
)
from deadman.ops.datapath import QUERIES_PER_PERIOD, datapath_body, device_period_ns
from deadman.ops.template import bundled_template
from tests.support.paths import TEMPLATE_ID


@pytest.mark.parametrize(
    "url", ["influxdb:8086", "http://admin:secret@influxdb:8086", "ftp://influxdb"]
)
def test_datapath_settings_influxdb_url_must_be_plain_http(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K_SINK", "http://sink")
    monkeypatch.setenv("INFLUXDB_URL", url)
    with pytest.raises(ConfigurationError, match="INFLUXDB_USERNAME/PASSWORD") as raised:
        load_settings(AlertSettings)
    assert "secret" not in raised.value.message


def test_datapath_settings_influxdb_url_loses_its_trailing_slash() -> None:
    settings = AlertSettings(k_sink="http://sink", influxdb_url="https://influxdb:8086/")
    assert settings.influxdb_url == "https://influxdb:8086"


def test_datapath_settings_credentials_go_together() -> None:
    with pytest.raises(ValidationError, match="go together"):
        InstallerSettings(kapacitor_db="iot", influxdb_username="reader")


@pytest.mark.parametrize(
    "canary", ["_internal.monitor.runtime", '"a"."b"', '"a"."b"."c\'"', '"a"."b"."c" OR 1=1']
)
def test_datapath_settings_canary_is_three_quoted_names(canary: str) -> None:
    with pytest.raises(ValidationError, match="datapath_canary"):
        InstallerSettings(kapacitor_db="iot", datapath_canary=canary)


def test_datapath_settings_installer_records_verdicts_in_kapacitor_db() -> None:
    with pytest.raises(ValidationError, match="KAPACITOR_DB"):
        InstallerSettings(heartbeat_enabled=False, influxdb_url="http://influxdb:8086")
    assert InstallerSettings(heartbeat_enabled=False).influxdb_url is None


def test_datapath_task_id_is_no_device() -> None:
    ids = LifecycleSettings(kapacitor_db="iot", task_id_suffix="").task_ids
    assert ids.device_of(DATAPATH_TASK_ID) is None
    with pytest.raises(InvalidDeviceCodeError, match="data-path task"):
        ids.check(DATAPATH_TASK_ID)


def test_datapath_period_is_the_devices_own() -> None:
    template = bundled_template(TEMPLATE_ID)
    extra = {"period": {"type": "duration", "value": "30s"}}
    assert device_period_ns(InstallerSettings(kapacitor_db="iot"), template) == 60_000_000_000
    settings = InstallerSettings(kapacitor_db="iot", task_extra_vars=extra)
    assert device_period_ns(settings, template) == 30_000_000_000
    with pytest.raises(ConfigurationError, match="var period"):
        device_period_ns(InstallerSettings(kapacitor_db="iot"), "var db string\n")


def test_datapath_body_queries_the_canary_six_times_a_period() -> None:
    settings = InstallerSettings(kapacitor_db="iot", datapath_canary='"stats"."week"."beat"')
    body = datapath_body(settings, 60_000_000_000)
    assert body["dbrps"] == [{"db": "stats", "rp": "week"}]
    assert body["vars"]["canary"]["value"] == '"stats"."week"."beat"'
    assert body["vars"]["every"]["value"] * QUERIES_PER_PERIOD == 60_000_000_000
    assert (body["vars"]["db"]["value"], body["vars"]["rp"]["value"]) == ("iot", "autogen")


@pytest.mark.parametrize(
    "credentials", [("reader", "p@ss:w"), None], ids=["with-credentials", "without"]
)
def test_datapath_influxdb_client_sends_basic_auth_only_when_configured(
    credentials: tuple[str, str] | None,
) -> None:
    seen: list[str | None] = []

    def influxdb(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(204)

    username, password = credentials or (None, None)
    settings = InstallerSettings(
        kapacitor_db="iot",
        influxdb_url="http://influxdb.test:8086",
        influxdb_username=username,
        influxdb_password=None if password is None else SecretStr(password),
    )
    with InfluxDBClient.from_settings(settings, transport=httpx.MockTransport(influxdb)) as client:
        client.ping()
    wanted: str | None = None
    if credentials is not None:
        # What httpx's own BasicAuth would send.
        signed = next(httpx.BasicAuth(*credentials).auth_flow(httpx.Request("GET", "/")))
        wanted = signed.headers["Authorization"]
    assert seen == [wanted]
