"""Deadman ticks for measurements that never receive data.

The emulator processes no data, so by default nothing fires on its own. A
measurement named in ``silent_measurements`` is one that never receives a point:
like a real Kapacitor (captured facts), a batch deadman on it with ``groupBy([])``
fires CRITICAL once per interval, at wall-clock multiples of the interval, and
again every interval unless the task has ``.stateChangesOnly()``. This is what
the heartbeat task relies on (the zero-install ``make run``); device tasks are
fired by hand (``fire_deadman``, ``fire_many``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from ._alerts import AlertFirer, running_definition
from ._model import ENABLED, Task

__all__ = ["SilentScheduler"]

_POLL_SECONDS = 0.1


class SilentScheduler:
    """A thread that fires the deadman of every running task on a silent measurement."""

    def __init__(
        self, measurements: Collection[str], tasks: Callable[[], list[Task]], firer: AlertFirer
    ) -> None:
        self.measurements = frozenset(measurements)
        self._tasks = tasks
        self._firer = firer
        self._due: dict[str, int] = {}
        self._fired_once: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.measurements:
            self._thread = threading.Thread(
                target=self._run, name="kapacitor-emulator-deadman", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            now = time.time_ns()
            for task in self._tasks():
                if task.status != ENABLED or not task.executing:
                    self._due.pop(task.id, None)
                    continue
                self._tick(task, now)

    def _tick(self, task: Task, now: int) -> None:
        measurement = task.running_vars.get("measurement")
        if measurement is None or measurement.value not in self.measurements:
            return
        script, env = running_definition(task)
        interval = script.interval_ns(env)
        due = self._due.get(task.id)
        if due is None:
            # Kapacitor evaluates at wall-clock multiples of the interval.
            self._due[task.id] = (now // interval + 1) * interval
            return
        if now < due:
            return
        self._due[task.id] = (now // interval + 1) * interval
        if script.state_changes_only and task.id in self._fired_once:
            return
        self._fired_once.add(task.id)
        # Whole seconds, as the alert times of a real Kapacitor's deadman.
        self._firer.fire(task, "CRITICAL", due - due % 1_000_000_000)
