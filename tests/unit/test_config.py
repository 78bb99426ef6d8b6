"""Settings: defaults, readable startup errors, secrets from files, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from deadman import AlertSettings, ConfigurationError, LifecycleSettings, TaskIds, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAPACITOR_DB",
        "KAPACITOR_URL",
        "K_SINK",
        "KAFKA_BOOTSTRAP_SERVERS",
        "SECRETS_DIR",
        "KAPACITOR_PASSWORD",
        "KAPACITOR_USERNAME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_load_settings_lifecycle_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    settings = load_settings(LifecycleSettings)
    assert settings.kapacitor_url == "http://127.0.0.1:9092"
    assert settings.kapacitor_rp == "autogen"
    assert settings.kapacitor_template_id == "measurement_series_not_fed_template"
    assert settings.task_id_suffix == "_not_fed"
    assert settings.bulk_concurrency == 8


def test_load_settings_missing_db_is_readable() -> None:
    with pytest.raises(ConfigurationError, match=r"KAPACITOR_DB: Field required"):
        load_settings(LifecycleSettings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KAPACITOR_URL", "kapacitor:9092", "http"),
        ("KAPACITOR_URL", "http://admin:pw@kapacitor:9092", "not in the URL"),
        ("BULK_CONCURRENCY", "0", "BULK_CONCURRENCY"),
        ("TASK_CREATE_STATUS", "paused", "TASK_CREATE_STATUS"),
        ("TASK_EXTRA_VARS", '{"name": {"type": "string", "value": "x"}}', "set by the functions"),
        ("TASK_EXTRA_VARS", '{"period": {"type": "duration", "value": "soon"}}', "duration"),
        ("KAPACITOR_USERNAME", "admin", "go together"),
    ],
)
def test_load_settings_rejects(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(LifecycleSettings)


def test_load_settings_extra_duration_vars_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    monkeypatch.setenv("TASK_EXTRA_VARS", '{"period": {"type": "duration", "value": "1m30s"}}')
    settings = load_settings(LifecycleSettings)
    assert settings.task_extra_vars == {"period": {"type": "duration", "value": 90_000_000_000}}


def test_load_settings_secrets_from_mounted_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "KAPACITOR_USERNAME").write_text("admin")
    (tmp_path / "KAPACITOR_PASSWORD").write_text("from-a-file")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    settings = load_settings(LifecycleSettings)
    assert settings.kapacitor_password is not None
    assert settings.kapacitor_password.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(settings)
    assert "from-a-file" not in str(settings.model_dump())


def test_load_settings_alerts_need_a_sink() -> None:
    with pytest.raises(ConfigurationError, match="K_SINK"):
        load_settings(AlertSettings)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("TASK_ID_SUFFIX", "_not_fed", True),
        ("TASK_ID_SUFFIX", "", True),
        ("TASK_ID_SUFFIX", "-dé.1", True),
        ("TASK_ID_SUFFIX", "_not fed", False),
        # Kapacitor's rule takes ASCII digits only; Python's \w would take these.
        ("TASK_ID_SUFFIX", "_٣", False),
        ("HEARTBEAT_TASK_ID", "deadman_heartbeat", True),
        ("HEARTBEAT_TASK_ID", "..", False),
        ("HEARTBEAT_TASK_ID", "hb/1", False),
    ],
)
def test_load_settings_task_ids_follow_kapacitors_rule(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepted: bool
) -> None:
    monkeypatch.setenv("KAPACITOR_DB", "iot")
    monkeypatch.setenv(name, value)
    if accepted:
        assert load_settings(LifecycleSettings)
    else:
        with pytest.raises(ConfigurationError, match=name):
            load_settings(LifecycleSettings)


def test_task_ids_device_of_task_id_both_ways() -> None:
    """The callback and the audit read a device back from a task id."""
    ids = TaskIds("_not_fed", reserved=frozenset({"deadman_heartbeat"}))
    assert ids.device_of(ids.task_id("dev-1")) == "dev-1"
    assert ids.device_of("_not_fed") is None  # the suffix alone names no device
    assert ids.device_of("other_task") is None  # not ours
    assert TaskIds("").device_of("dev-1") == "dev-1"
    assert (
        TaskIds("", reserved=frozenset({"deadman_heartbeat"})).device_of("deadman_heartbeat")
        is None
    )
