"""Many tasks' alerts at once: a fleet-wide outage.

When every device goes silent together, every deadman task fires at the same
tick and Kapacitor delivers each alert on its own: one ``[[httppost]]`` POST (30 s
timeout, no retry) or one Kafka record per alert, concurrently. ``fire_concurrently``
does that with a pool of threads that are all started before the first alert is
let go, and times each delivery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ._alerts import AlertResult
from ._gofmt import JSONValue

__all__ = ["TimedAlert", "fire_concurrently"]


@dataclass(frozen=True)
class TimedAlert:
    """One alert of a concurrent firing: its outcome, when its delivery started
    (seconds after the firing began) and how long it took (seconds)."""

    result: AlertResult
    started: float
    latency: float

    @property
    def finished(self) -> float:
        return self.started + self.latency

    def to_json(self) -> dict[str, JSONValue]:
        """The outcome, without the alert's body, and the timing in milliseconds."""
        data = {key: value for key, value in self.result.to_json().items() if key != "body"}
        timing = {"started_ms": self.started * 1000, "latency_ms": self.latency * 1000}
        return data | {key: round(ms, 3) for key, ms in timing.items()}


def fire_concurrently(
    fire: Callable[[str], AlertResult],
    task_ids: Sequence[str],
    level: str,
    concurrency: int | None = None,
) -> list[TimedAlert]:
    """``fire(task_id)`` for every task from ``concurrency`` threads (default: one
    per task); results in the order of ``task_ids``. An exception in ``fire``
    becomes that alert's ``error``."""
    if not task_ids:
        return []
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    threads = len(task_ids) if concurrency is None else min(concurrency, len(task_ids))
    origin: list[float] = []
    # Every worker waits here as it starts, so that the alerts go out together; the
    # pool starts all of them at once, since none is free while the others wait.
    gate = threading.Barrier(threads, action=lambda: origin.append(time.perf_counter()))

    def timed(task_id: str) -> TimedAlert:
        started = time.perf_counter()
        try:
            result = fire(task_id)
        except Exception as exc:  # noqa: BLE001 - recorded as the alert's outcome
            result = AlertResult(task_id, level, error=f"{type(exc).__name__}: {exc}")
        return TimedAlert(result, started - origin[0], time.perf_counter() - started)

    with ThreadPoolExecutor(threads, "kapacitor-emulator-fire", initializer=gate.wait) as pool:
        return list(pool.map(timed, task_ids))
