"""Values computed once per key while every other thread asking waits for them.

An InfluxDB outage fires every device's deadman at one instant: thousands of
alerts reach the callback's threads together, and each asks the same questions
(does InfluxDB answer now? what was the verdict at this tick?). One thread per
key asks InfluxDB; the others wait for its answer, which is then kept for as long
as the asking thread said.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Slot(Generic[V]):
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: V | None = None
    expires: float = float("-inf")


class SingleFlight(Generic[K, V]):
    """``get(key, compute)``: the kept value of ``key``, or ``compute()``'s, run by
    one thread at a time per key; ``compute`` returns the value and how many
    seconds to keep it. At most ``max_keys`` keys are kept (the oldest go first)."""

    def __init__(self, *, max_keys: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[K, _Slot[V]] = {}

    def get(self, key: K, compute: Callable[[], tuple[V, float]]) -> V:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
                for old in list(self._slots)[: max(0, len(self._slots) - self._max_keys)]:
                    del self._slots[old]
        with slot.lock:
            if self._clock() < slot.expires:
                return slot.value  # type: ignore[return-value]
            value, keep_seconds = compute()
            slot.value, slot.expires = value, self._clock() + keep_seconds
            return value
