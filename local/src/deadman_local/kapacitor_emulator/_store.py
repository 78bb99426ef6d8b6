"""The emulator's state: tasks and templates behind one lock, plus a clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._model import Task, Template

__all__ = ["Store"]


class Store:
    """Tasks and templates keyed by id. Callers hold ``lock`` while they mutate.

    ``forget`` drops a deleted task's alert state, as Kapacitor's delete hook does.
    """

    def __init__(self, forget: Callable[[str], None] = lambda task_id: None) -> None:
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.templates: dict[str, Template] = {}
        self.forget = forget
        self._last_ns = 0

    def now(self) -> int:
        """Wall-clock nanoseconds, strictly increasing so ``modified`` always moves."""
        with self.lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            return self._last_ns

    def clear(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.templates.clear()
