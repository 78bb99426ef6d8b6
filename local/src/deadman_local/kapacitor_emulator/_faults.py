"""Fault injection and the capacity model, both thread-safe: what a real
Kapacitor cannot be made to do on demand (see ``KapacitorEmulator``'s knobs)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ._gofmt import JSONValue

__all__ = ["CapacityGate", "Fault", "FaultInjector", "FaultOutcome"]


@dataclass(frozen=True)
class Fault:
    """One injected fault on Kapacitor API calls.

    Matching: ``methods`` (any when empty), ``path_prefix`` and ``path_regex``
    (``re.search``) on the request path. Effect on an affected call: sleep ``delay``
    seconds, then answer ``status`` with a Kapacitor error body carrying ``message``
    (no status: latency only). With ``store_then_fail`` the call is handled first,
    so its state change sticks (a create stores the task), and only the answer is
    replaced by the error; this is Kapacitor's "500 but stored" (contract §1.5 row
    13). ``fail_every=k`` affects matching calls 1, 1+k, 1+2k... (k=2 flaps).
    ``times`` bounds the affected calls; ``None`` keeps the fault until cleared.

    ``hang`` holds an affected call, unanswered, until the fault is removed or
    cleared (a wedged Kapacitor: task calls hang while ``/ping`` answers).
    ``dribble`` sends the affected call's body one byte every ``dribble`` seconds
    (its head at once), as a slow server or proxy would.
    """

    methods: frozenset[str] = frozenset()
    path_prefix: str = ""
    path_regex: str = ""
    status: int | None = None
    message: str = "emulated failure"
    delay: float = 0.0
    times: int | None = None
    fail_every: int = 1
    store_then_fail: bool = False
    hang: bool = False
    dribble: float = 0.0

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.delay < 0 or self.dribble < 0:
            raise ValueError("delay and dribble must be >= 0")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or null")
        if self.fail_every < 1:
            raise ValueError("fail_every must be >= 1")
        if self.store_then_fail and self.status is None:
            raise ValueError("store_then_fail needs a status")
        try:
            re.compile(self.path_regex)  # fail early on a bad pattern
        except re.error as exc:
            raise ValueError(f"path_regex: {exc}") from None
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def matches(self, method: str, path: str) -> bool:
        return (
            (not self.methods or method.upper() in self.methods)
            and path.startswith(self.path_prefix)
            and (not self.path_regex or re.search(self.path_regex, path) is not None)
        )


@dataclass(frozen=True)
class FaultOutcome:
    delay: float = 0.0
    status: int | None = None
    message: str = ""
    store_then_fail: bool = False
    hang: frozenset[int] = frozenset()  # ids of the hang faults holding the call
    dribble: float = 0.0


@dataclass
class _Active:
    fault: Fault
    matched: int = 0
    affected: int = 0


@dataclass
class FaultInjector:
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _faults: dict[int, _Active] = field(default_factory=dict)
    # Hang faults hold their calls until removed, even once ``times`` ran out.
    _holding: set[int] = field(default_factory=set)
    _next_id: int = 1

    def add(self, fault: Fault) -> int:
        with self._lock:
            fault_id = self._next_id
            self._next_id += 1
            self._faults[fault_id] = _Active(fault)
            return fault_id

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            held = fault_id in self._holding
            self._holding.discard(fault_id)
            self._lock.notify_all()
            return self._faults.pop(fault_id, None) is not None or held

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._holding.clear()
            self._lock.notify_all()

    def hold(self, fault_ids: frozenset[int]) -> None:
        """Block until none of ``fault_ids`` holds calls any more."""
        with self._lock:
            while fault_ids & self._holding:
                self._lock.wait()

    def snapshot(self) -> list[dict[str, JSONValue]]:
        """The faults still active: id, and the calls each matched and affected."""
        with self._lock:
            return [
                {"id": fault_id, "matched": active.matched, "affected": active.affected}
                for fault_id, active in self._faults.items()
            ]

    def decide(self, method: str, path: str) -> FaultOutcome:
        """Count this call against every matching fault and combine their effects:
        delays add up, the first failing fault sets the answer."""
        delay, dribble, chosen = 0.0, 0.0, None
        hang: set[int] = set()
        with self._lock:
            for fault_id, active in list(self._faults.items()):
                fault = active.fault
                if not fault.matches(method, path):
                    continue
                active.matched += 1
                if (active.matched - 1) % fault.fail_every:
                    continue
                active.affected += 1
                delay += fault.delay
                dribble = max(dribble, fault.dribble)
                if fault.hang:
                    self._holding.add(fault_id)
                    hang.add(fault_id)
                if chosen is None and fault.status is not None:
                    chosen = fault
                if fault.times is not None and active.affected >= fault.times:
                    del self._faults[fault_id]
        status, message, store = (
            (chosen.status, chosen.message, chosen.store_then_fail) if chosen else (None, "", False)
        )
        return FaultOutcome(delay, status, message, store, frozenset(hang), dribble)


class CapacityGate:
    """Every admitted call holds one of ``concurrency`` slots for ``service_time``
    seconds; the others queue. ``concurrency=None`` means no limit.

    The service time includes the emulator's own work on the call: the handler
    runs once the slot is taken and the call then waits out what is left of
    ``service_time``, so a call holds its slot for ``max(service_time, handler
    time)``, not their sum, and figures measured against the model are not
    inflated by the emulator's own Python overhead."""

    def __init__(self, service_time: float = 0.0, concurrency: int | None = None) -> None:
        self._cond = threading.Condition()
        self.service_time = 0.0
        self.concurrency: int | None = None
        self.configure(service_time, concurrency)
        self.in_flight = 0
        self.peak = 0
        self.served = 0

    def configure(self, service_time: float, concurrency: int | None) -> None:
        if service_time < 0:
            raise ValueError("service_time must be >= 0")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be >= 1 or None")
        with self._cond:
            self.service_time, self.concurrency = service_time, concurrency
            self._cond.notify_all()  # a raised limit admits queued calls at once

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self.concurrency is not None and self.in_flight >= self.concurrency:
                self._cond.wait()
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            service_time = self.service_time
        started = time.monotonic()
        try:
            yield
        finally:
            # The modelled cost of the call itself, the handler's own time included.
            remaining = service_time - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            with self._cond:
                self.in_flight -= 1
                self.served += 1
                self._cond.notify()

    def snapshot(self) -> dict[str, JSONValue]:
        with self._cond:
            return {
                "service_time": self.service_time,
                "concurrency": self.concurrency,
                "in_flight": self.in_flight,
                "peak": self.peak,
                "served": self.served,
            }

    def reset_counters(self) -> None:
        with self._cond:
            self.peak, self.served = self.in_flight, 0
