"""The order of lifecycle events: where MySQL's binlog put them, else their ``time``.

The binlog is written in commit order, the order in which the device table took
its changes: the ``iodebeziumfile``, ``iodebeziumpos`` and ``iodebeziumrow``
extensions (rows of one multi-row INSERT share file and position and differ by
row) on the server ``iodebeziumserverid``. Debezium's ``time`` is not that order:
without GTIDs it is the binlog event's timestamp, when the *statement* started, in
whole seconds, so a transaction that waited on a row lock commits after one whose
statement started later. With GTIDs (MySQL 8.0.1 and later) it is the commit time
in milliseconds.

An ``EventStamp`` is an event's time and, when Debezium gave it, that binlog
position. When both stamps carry comparable positions (same server id, same binlog
base name: ``binlog.000009`` comes before ``binlog.000010``), the later position is
newer, whatever the times say. Otherwise (different servers after a failover,
events without Debezium extensions) the later time is newer.

Stamps are recorded in task vars that no script declares (Kapacitor stores them
all the same): ``deadman_event_time`` and ``deadman_event_position``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EVENT_ID_VAR",
    "EVENT_POSITION_VAR",
    "EVENT_TIME_VAR",
    "BinlogPosition",
    "EventStamp",
    "format_time",
    "parse_time",
    "rfc3339",
]

EVENT_TIME_VAR = "deadman_event_time"
EVENT_POSITION_VAR = "deadman_event_position"
EVENT_ID_VAR = "deadman_event_id"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return value.astimezone(UTC)


def rfc3339(time: datetime, timespec: str = "auto") -> str:
    """``time`` in UTC as RFC 3339 with ``Z`` (``timespec`` as for ``isoformat``);
    a naive time is taken as UTC."""
    aware = time if time.tzinfo is not None else time.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def format_time(time: datetime) -> str:
    """A stamp's time in task vars: microseconds always, so that texts compare."""
    return rfc3339(time, "microseconds")


@dataclass(frozen=True)
class BinlogPosition:
    """Where a change sits in one MySQL server's binlog."""

    server_id: str
    file: str
    pos: int
    row: int

    @classmethod
    def from_extensions(cls, attributes: Mapping[str, Any]) -> BinlogPosition | None:
        """The position of a Debezium CloudEvent, or None when it carries none.

        Debezium writes int64 fields as strings and int32 ones as numbers; a
        binary-mode delivery makes every attribute a string. Both are read.
        """
        file = attributes.get("iodebeziumfile")
        pos = _integer(attributes.get("iodebeziumpos"))
        if not isinstance(file, str) or not file or pos is None:
            return None
        row = _integer(attributes.get("iodebeziumrow"))
        server = attributes.get("iodebeziumserverid")
        return cls(str(server) if server is not None else "", file, pos, row or 0)

    @classmethod
    def parse(cls, text: str) -> BinlogPosition | None:
        """Read back ``str(position)``; None when ``text`` is not one."""
        fields: dict[str, str] = {}
        for part in text.split(" "):
            name, _, value = part.partition("=")
            fields[name] = value
        pos, row = _integer(fields.get("pos")), _integer(fields.get("row"))
        if not fields.get("file") or pos is None or row is None or "server_id" not in fields:
            return None
        return cls(fields["server_id"], fields["file"], pos, row)

    def __str__(self) -> str:
        return f"server_id={self.server_id} file={self.file} pos={self.pos} row={self.row}"

    def comparable_with(self, other: BinlogPosition) -> bool:
        """Same server and same binlog base name: the positions are in one sequence."""
        return self.server_id == other.server_id and self._base() == other._base()

    def after(self, other: BinlogPosition) -> bool:
        return self.comparable_with(other) and self._key() > other._key()

    def _base(self) -> str:
        base, dot, number = self.file.rpartition(".")
        return base if dot and _digits(number) else self.file

    def _key(self) -> tuple[int, int, int]:
        # binlog.000009 < binlog.000010 < binlog.1000000: compare the number.
        _, _, number = self.file.rpartition(".")
        return (int(number) if _digits(number) else 0, self.pos, self.row)


@dataclass(frozen=True)
class EventStamp:
    """An event's time and, when known, its binlog position: what orders events."""

    time: datetime
    position: BinlogPosition | None = None

    def newer_than(self, other: EventStamp) -> bool:
        """Position first, where the two are comparable; time otherwise."""
        mine, theirs = self.position, other.position
        if mine is not None and theirs is not None and mine.comparable_with(theirs):
            return mine.after(theirs)
        return self.time > other.time

    def task_vars(self) -> dict[str, dict[str, Any]]:
        """The vars that record this stamp on a task."""
        variables: dict[str, dict[str, Any]] = {
            EVENT_TIME_VAR: {"type": "string", "value": format_time(self.time)}
        }
        if self.position is not None:
            variables[EVENT_POSITION_VAR] = {"type": "string", "value": str(self.position)}
        return variables

    @classmethod
    def recorded(cls, variables: Mapping[str, Any]) -> EventStamp | None:
        """The stamp a task's vars record, or None (never written, or unreadable)."""
        time_text = _var_value(variables.get(EVENT_TIME_VAR))
        if time_text is None:
            return None
        try:
            time = parse_time(time_text)
        except ValueError:
            return None
        position_text = _var_value(variables.get(EVENT_POSITION_VAR))
        position = BinlogPosition.parse(position_text) if position_text else None
        return cls(time, position)

    def describe(self) -> str:
        text = format_time(self.time)
        return f"{text} at {self.position}" if self.position is not None else text


def _var_value(var: Any) -> str | None:
    value = var.get("value") if isinstance(var, Mapping) else None
    return value if isinstance(value, str) else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _digits(value):
        return int(value)
    return None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
