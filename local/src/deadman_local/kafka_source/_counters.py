"""Delivery counters the stand-in keeps per source, for tests and the local run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["CounterSnapshot", "Counters"]


@dataclass(frozen=True)
class CounterSnapshot:
    """Counts at one instant.

    ``attempts`` counts HTTP attempts at the sink; ``retries`` the attempts that
    were followed by another; ``delivered`` events the sink accepted (2xx);
    ``dead_lettered`` events the dead-letter sink took; ``dead_letter_failed``
    events it did not take (the offset is committed anyway, as the data plane
    does); ``dropped`` failed events with no dead-letter sink configured;
    ``committed`` records whose offsets the consumer group has committed.
    """

    attempts: int = 0
    retries: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    dead_letter_failed: int = 0
    dropped: int = 0
    committed: int = 0

    def __add__(self, other: CounterSnapshot) -> CounterSnapshot:
        return CounterSnapshot(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def outcomes(self) -> int:
        """Events that reached an outcome (and may have their offset committed)."""
        return self.delivered + self.dead_lettered + self.dead_letter_failed + self.dropped


class Counters:
    """Thread-safe counters; every change notifies ``changed``."""

    def __init__(self, changed: threading.Condition) -> None:
        self.changed = changed
        self._values = {f.name: 0 for f in fields(CounterSnapshot)}

    def add(self, name: str, amount: int = 1) -> None:
        with self.changed:
            self._values[name] += amount
            self.changed.notify_all()

    def snapshot(self) -> CounterSnapshot:
        with self.changed:
            return CounterSnapshot(**self._values)
