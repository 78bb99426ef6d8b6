"""Kapacitor alert bodies and the historicization CloudEvents made from them."""

from __future__ import annotations

from typing import Any

import pytest

from deadman import AlertMapper, AlertSettings, MalformedAlertError, parse_alert
from tests.support.shared import captured_alerts


@pytest.fixture
def mapper(monkeypatch: pytest.MonkeyPatch) -> AlertMapper:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    return AlertMapper.from_settings(AlertSettings())


@pytest.fixture(params=["CRITICAL", "OK"])
def captured(request: pytest.FixtureRequest) -> dict[str, Any]:
    return next(body for body in captured_alerts() if body["level"] == request.param)


def test_parse_alert_reads_captured_posts(captured: dict[str, Any]) -> None:
    alert = parse_alert(captured)
    assert alert.id == "dev-1_not_fed"
    assert alert.level == captured["level"]
    assert alert.duration == captured["duration"]


def test_alert_mapper_critical_is_historicization_stopped(mapper: AlertMapper) -> None:
    body = next(b for b in captured_alerts() if b["level"] == "CRITICAL")
    event = mapper.to_event(parse_alert(body))
    assert event is not None
    assert event["type"] == "historicization-stopped"
    assert event["subject"] == "dev-1"
    assert event["partitionkey"] == "dev-1"
    assert event["time"] == "2026-11-21T17:47:10Z"
    assert event.data["deviceCode"] == "dev-1"
    assert event.data["previousLevel"] == "OK"


def test_alert_mapper_ok_is_historicization_restarted(mapper: AlertMapper) -> None:
    body = next(b for b in captured_alerts() if b["level"] == "OK")
    event = mapper.to_event(parse_alert(body))
    assert event is not None
    assert event["type"] == "historicization-restarted"
    assert event.data["duration"] == 20_000_000_000
    assert event.data["durationSeconds"] == 20.0


def test_alert_mapper_id_is_deterministic(mapper: AlertMapper, captured: dict[str, Any]) -> None:
    first = mapper.to_event(parse_alert(captured))
    again = mapper.to_event(parse_alert(dict(captured)))
    assert first is not None
    assert again is not None
    assert first["id"] == again["id"]


def test_alert_mapper_id_differs_by_level_and_time(mapper: AlertMapper) -> None:
    critical, ok = (parse_alert(body) for body in captured_alerts())
    ids = {
        mapper.to_event(critical)["id"],  # type: ignore[index]
        mapper.to_event(ok)["id"],  # type: ignore[index]
        mapper.to_event(critical.model_copy(update={"time": ok.time}))["id"],  # type: ignore[index]
    }
    assert len(ids) == 3


@pytest.mark.parametrize("level", ["WARNING", "INFO"])
def test_alert_mapper_other_levels_ignored_by_default(mapper: AlertMapper, level: str) -> None:
    body = {**captured_alerts()[0], "level": level}
    assert mapper.to_event(parse_alert(body)) is None


def test_alert_mapper_configured_warning_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("ALERT_TYPE_WARNING", "historicization-degraded")
    mapper = AlertMapper.from_settings(AlertSettings())
    event = mapper.to_event(parse_alert({**captured_alerts()[0], "level": "WARNING"}))
    assert event is not None
    assert event["type"] == "historicization-degraded"


def test_alert_mapper_id_without_suffix_is_the_device(mapper: AlertMapper) -> None:
    alert = parse_alert({**captured_alerts()[0], "id": "plain-device"})
    assert mapper.device_code(alert) == "plain-device"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"id": "x", "level": "CRITICAL"}', "time"),
        (b'{"id": "x", "time": "2026-11-21T17:47:10Z", "level": "PANIC"}', "level"),
        (b'{"id": "", "time": "2026-11-21T17:47:10Z", "level": "OK"}', "id"),
        (b'{"id": "x", "time": "2026-11-21T17:47:10Z", "level": "OK", "duration": -1}', "duration"),
    ],
)
def test_parse_alert_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedAlertError, match=reason):
        parse_alert(body)
