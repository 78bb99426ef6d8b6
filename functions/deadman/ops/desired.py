"""The audit's desired state: every device's newest lifecycle event on the topics.

The lifecycle topics are read from the start of every partition to its end (the
high watermark the fetch reports when the reader catches up: librdkafka's
partition EOF, which also passes transaction markers), with partitions assigned
directly: no consumer group joins and nothing is committed, so reading leaves no
trace and never moves the KafkaSources' offsets.

Each record is read as the KafkaSource would deliver it (``deadman.binding``): a
record without CloudEvent headers (what Debezium writes) is wrapped like the
source wraps it, a binary (``ce_*`` headers) or structured (``content-type:
application/cloudevents+json``) record is the event itself; then
``parse_lifecycle_event`` reads it exactly like the functions do. Per device
the newest event wins by the functions' own order (``EventStamp``: the binlog
position where two are comparable, else time); events that order leaves equal
are broken by the order of the topics given, then partition, then offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._events import parse_lifecycle_event as _parse
from .._exceptions import EventError
from .._lifecycle_types import Action, EventTypes
from .._ordering import EventStamp, rfc3339
from .._task_ids import TaskIds
from ..binding import read_record, wrapped_attributes
from .topics import RawRecord

__all__ = ["SAMPLE_LIMIT", "DesiredState", "NewestEvent", "Problem", "delivered_form"]

# Problems kept with their details (all of them are counted).
SAMPLE_LIMIT = 50


@dataclass(frozen=True)
class NewestEvent:
    """The newest lifecycle event naming a device, and where it was read."""

    action: Action
    event_id: str
    stamp: EventStamp
    topic: str
    partition: int
    offset: int
    # Where the record was read (topic index, partition, offset): the last word
    # when two events' stamps say neither is newer.
    read_order: tuple[int, int, int]

    @property
    def time(self) -> datetime:
        return self.stamp.time

    def newer_than(self, other: NewestEvent) -> bool:
        if self.stamp.newer_than(other.stamp):
            return True
        return not other.stamp.newer_than(self.stamp) and self.read_order > other.read_order

    def as_json(self) -> dict[str, Any]:
        found = {
            "id": self.event_id,
            "time": rfc3339(self.time),
            "action": self.action.value,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }
        if self.stamp.position is not None:
            found["binlog_position"] = str(self.stamp.position)
        return found


@dataclass(frozen=True)
class Problem:
    """A record that could not be read, or a device code that cannot be a task id."""

    topic: str
    partition: int
    offset: int
    reason: str
    event_id: str = ""
    device: str = ""

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
        }
        if self.event_id:
            found["event_id"] = self.event_id
        if self.device:
            found["device"] = self.device
        return found


@dataclass
class DesiredState:
    """What the topics say, device by device."""

    topics: Sequence[str]
    types: EventTypes
    max_devices: int
    ids: TaskIds
    newest: dict[str, NewestEvent] = field(default_factory=dict)
    records: int = 0
    events: int = 0
    ignored: int = 0
    unparseable: int = 0
    invalid_devices: int = 0
    problems: list[Problem] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    @property
    def history_complete(self) -> bool:
        """No partition lost records to retention: a device without events never had one."""
        return not self.truncated

    def add(self, record: RawRecord) -> None:
        """Fold one record into the state."""
        self.records += 1
        attributes, data = delivered_form(record)
        try:
            event = _parse(attributes, data, self.types, self.max_devices)
        except EventError as error:
            self.unparseable += 1
            self._keep(Problem(record.topic, record.partition, record.offset, error.message))
            return
        if event.action is None:
            self.ignored += 1  # the functions answer 200 and change nothing
            return
        self.events += 1
        read_order = (self.topics.index(record.topic), record.partition, record.offset)
        for device in event.devices:
            try:
                self.ids.check(device)
            except EventError as error:
                self.invalid_devices += 1
                self._keep(
                    Problem(
                        record.topic,
                        record.partition,
                        record.offset,
                        error.message,
                        event_id=event.id,
                        device=device,
                    )
                )
                continue
            candidate = NewestEvent(
                event.action,
                event.id,
                event.stamp,
                record.topic,
                record.partition,
                record.offset,
                read_order,
            )
            known = self.newest.get(device)
            if known is None or candidate.newer_than(known):
                self.newest[device] = candidate

    def _keep(self, problem: Problem) -> None:
        if len(self.problems) < SAMPLE_LIMIT:
            self.problems.append(problem)


def delivered_form(record: RawRecord) -> tuple[dict[str, Any], Any]:
    """The CloudEvent attributes and data a KafkaSource would POST for this record."""
    event = read_record(record.headers, record.value)
    if event.encoding != "raw":
        return dict(event.attributes), event.data
    # Not a CloudEvent to Knative: the source wraps the record value.
    attributes = wrapped_attributes(record.partition, record.offset, record.key, record.headers)
    return attributes, record.value
