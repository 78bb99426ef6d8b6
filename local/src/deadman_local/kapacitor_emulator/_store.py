"""The emulator's state: tasks and templates behind one lock, plus a clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._model import Task, Template

__all__ = ["Runtime", "Store"]


@dataclass(frozen=True)
class Runtime:
    """What task operations need from the rest of the emulator.

    ``start_error`` returns why a task would fail to start (``None`` if it starts);
    ``forget`` drops a deleted task's alert state, as Kapacitor's delete hook does.
    """

    start_error: Callable[[Task], str | None]
    forget: Callable[[str], None]


class Store:
    """Tasks and templates keyed by id. Callers hold ``lock`` while they mutate."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.templates: dict[str, Template] = {}
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

    def task_ids(self) -> list[str]:
        # Python orders str by code point, which is the UTF-8 byte order of bolt keys.
        with self.lock:
            return sorted(self.tasks)

    def template_ids(self) -> list[str]:
        with self.lock:
            return sorted(self.templates)
