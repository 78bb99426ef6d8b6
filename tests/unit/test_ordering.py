"""Event order: the binlog position Debezium gives where two are comparable, else time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cloudevents.http import from_http

from deadman import (
    EVENT_POSITION_VAR,
    EVENT_TIME_VAR,
    BinlogPosition,
    EventStamp,
    EventTypes,
    MalformedEventError,
    parse_lifecycle_event,
)
from tests.support.events import DELIVERIES, inner_event

T = datetime(2026, 11, 21, 17, 45, 1, tzinfo=UTC)


def at(file: str, pos: int, row: int = 0, server: str = "1") -> BinlogPosition:
    return BinlogPosition(server, file, pos, row)


@pytest.mark.parametrize(
    ("later", "earlier"),
    [
        (at("binlog.000003", 2000), at("binlog.000003", 1547)),
        (at("binlog.000003", 1547, 1), at("binlog.000003", 1547, 0)),
        (at("binlog.000004", 4), at("binlog.000003", 90_000)),
        # The sequence number is compared as a number, past six digits too.
        (at("binlog.1000000", 4), at("binlog.999999", 4)),
    ],
)
def test_event_stamp_equal_times_ordered_by_binlog_position(
    later: BinlogPosition, earlier: BinlogPosition
) -> None:
    assert EventStamp(T, later).newer_than(EventStamp(T, earlier))
    assert not EventStamp(T, earlier).newer_than(EventStamp(T, later))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (at("binlog.000003", 2000, server="1"), at("binlog.000003", 1547, server="2")),
        (at("mysql-bin.000003", 2000), at("binlog.000003", 1547)),
        (at("binlog.000003", 2000), None),
        (None, None),
    ],
)
def test_event_stamp_equal_times_without_comparable_positions_are_equal(
    one: BinlogPosition | None, other: BinlogPosition | None
) -> None:
    """Another server's binlog (a failover) or no Debezium extensions: time alone."""
    assert not EventStamp(T, one).newer_than(EventStamp(T, other))
    assert not EventStamp(T, other).newer_than(EventStamp(T, one))


@pytest.mark.parametrize("seconds", [1, 60, -1, -60])
def test_event_stamp_comparable_position_wins_over_time(seconds: int) -> None:
    """Without GTIDs time is when the statement started: a transaction that waited
    on a row lock commits later (further on in the binlog) with an earlier time."""
    later = EventStamp(T, at("binlog.000003", 2000))
    earlier = EventStamp(T + timedelta(seconds=seconds), at("binlog.000003", 1547))
    assert later.newer_than(earlier)
    assert not earlier.newer_than(later)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (at("binlog.000001", 4, server="2"), at("binlog.000009", 999_999, server="1")),
        (at("mysql-bin.000001", 4), at("binlog.000009", 999_999)),
        (at("binlog.000001", 4), None),
        (None, None),
    ],
)
def test_event_stamp_time_decides_without_comparable_positions(
    one: BinlogPosition | None, other: BinlogPosition | None
) -> None:
    """Across servers (a failover), binlog names or producers: the later time wins."""
    newer = EventStamp(T + timedelta(milliseconds=1), one)
    older = EventStamp(T, other)
    assert newer.newer_than(older)
    assert not older.newer_than(newer)


def test_event_stamp_same_position_is_not_newer() -> None:
    """A redelivery of one event, even with another time: not newer, a duplicate."""
    one = EventStamp(T, at("binlog.000003", 1547, 1))
    assert not one.newer_than(EventStamp(T - timedelta(seconds=5), at("binlog.000003", 1547, 1)))


def test_event_stamp_task_vars_round_trip() -> None:
    stamp = EventStamp(T, at("binlog.000003", 1547, 2))
    variables = stamp.task_vars()
    assert set(variables) == {EVENT_TIME_VAR, EVENT_POSITION_VAR}
    assert EventStamp.recorded(variables) == stamp
    assert EventStamp.recorded(EventStamp(T).task_vars()) == EventStamp(T)


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {EVENT_TIME_VAR: {"type": "string", "value": "yesterday"}},
        {EVENT_TIME_VAR: {"type": "int", "value": 3}},
    ],
)
def test_event_stamp_recorded_unreadable_is_none(variables: dict[str, Any]) -> None:
    assert EventStamp.recorded(variables) is None


def test_event_stamp_recorded_unreadable_position_keeps_time() -> None:
    variables = {
        **EventStamp(T).task_vars(),
        EVENT_POSITION_VAR: {"type": "string", "value": "somewhere"},
    }
    assert EventStamp.recorded(variables) == EventStamp(T)


@pytest.mark.parametrize("form", sorted(DELIVERIES))
def test_parse_lifecycle_event_reads_binlog_position_in_every_form(form: str) -> None:
    """Binary mode turns the numeric row into a string; both parse the same."""
    delivery = DELIVERIES[form](inner_event(binlog=("binlog.000003", 1547, 2)))
    event = from_http(delivery.headers, delivery.body)
    parsed = parse_lifecycle_event(event.get_attributes(), event.get_data(), EventTypes(), 10)
    assert parsed.position == at("binlog.000003", 1547, 2)
    assert parsed.log_fields()["binlog_position"] == str(parsed.position)


def test_parse_lifecycle_event_without_debezium_extensions_has_no_position() -> None:
    inner = inner_event()
    parsed = parse_lifecycle_event(inner, inner["data"], EventTypes(), 10)
    assert parsed.position is None
    assert "binlog_position" not in parsed.log_fields()


def test_parse_lifecycle_event_schema_envelope_names_the_converter_setting() -> None:
    inner = inner_event()
    inner["data"] = {"schema": {"type": "struct", "fields": []}, "payload": inner["data"]}
    with pytest.raises(MalformedEventError, match=r"value\.converter\.json\.schemas\.enable=false"):
        parse_lifecycle_event(inner, inner["data"], EventTypes(), 10)
