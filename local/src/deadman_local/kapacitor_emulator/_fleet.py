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
from dataclasses import dataclass

from ._alerts import AlertResult
from ._gojson import JSONValue

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

    def to_json(self, *, body: bool = False) -> dict[str, JSONValue]:
        data = self.result.to_json()
        if not body:
            del data["body"]
        data["started_ms"] = round(self.started * 1000, 3)
        data["latency_ms"] = round(self.latency * 1000, 3)
        return data


def fire_concurrently(
    fire: Callable[[str], AlertResult],
    task_ids: Sequence[str],
    level: str,
    concurrency: int | None = None,
) -> list[TimedAlert]:
    """``fire(task_id)`` for every task from ``concurrency`` threads (default: one
    per task); results in the order of ``task_ids``. An exception in ``fire``
    becomes that alert's ``error``."""
    count = len(task_ids)
    if count == 0:
        return []
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    threads = count if concurrency is None else min(concurrency, count)
    results: list[TimedAlert | None] = [None] * count
    pending = iter(range(count))
    lock = threading.Lock()
    origin: list[float] = []
    # Every thread exists before the first alert goes: they go out together.
    gate = threading.Barrier(threads, action=lambda: origin.append(time.perf_counter()))

    def work() -> None:
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            return  # a thread could not be started: nothing is fired
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            task_id = task_ids[index]
            started = time.perf_counter()
            try:
                result = fire(task_id)
            except Exception as exc:  # noqa: BLE001 - recorded as the alert's outcome
                result = AlertResult(task_id, level, error=f"{type(exc).__name__}: {exc}")
            latency = time.perf_counter() - started
            results[index] = TimedAlert(result, started - origin[0], latency)

    workers = [
        threading.Thread(target=work, name=f"kapacitor-emulator-fire-{n}", daemon=True)
        for n in range(threads)
    ]
    try:
        for worker in workers:
            worker.start()
    except RuntimeError:
        gate.abort()
        raise
    for worker in workers:
        worker.join()
    return [timed for timed in results if timed is not None]
