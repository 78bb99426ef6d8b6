"""``KapacitorEmulator``: the state, the knobs and the test-facing methods."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from ._alerts import LEVELS, AlertFirer, AlertResult, HttpPostEndpoint, KafkaCluster
from ._app import RequestRecord, handle_wsgi
from ._auth import AuthConfig
from ._faults import CapacityGate, Fault, FaultInjector
from ._fleet import TimedAlert, fire_concurrently
from ._model import Task, Template
from ._request import TemplateRequest
from ._scheduler import SilentScheduler
from ._store import Store
from ._templates import create_template

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ._server import RunningEmulator

__all__ = ["DEFAULT_VERSION", "KapacitorEmulator", "RequestRecord"]

DEFAULT_VERSION = "1.7.7-emulator"
_TASK_API = r"^/kapacitor/v1/(tasks|templates)(/|$)"


class KapacitorEmulator:
    """An emulator of Kapacitor's HTTP API for tests and local runs (not a Kapacitor).

    It is a WSGI application. ``username``/``password`` turn on basic auth,
    ``bearer_token`` accepts one static bearer token. ``service_time``
    and ``concurrency`` set the capacity model. ``endpoints`` are the
    ``[[httppost]]`` targets alerts are posted to, ``kafka_clusters`` the
    ``[[kafka]]`` sections its Kafka event handler writes to. Tasks whose
    ``measurement`` var is in ``silent_measurements`` fire on their own, every
    deadman interval, while served (``_scheduler``). ``version`` is reported in
    ``X-Kapacitor-Version`` and chooses where 1.5, 1.6 and 1.7 answer differently
    (``_versions``). ``request_log`` is called with every request handled.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        service_time: float = 0.0,
        concurrency: int | None = None,
        endpoints: Iterable[HttpPostEndpoint] = (),
        kafka_clusters: Iterable[KafkaCluster] = (),
        silent_measurements: Iterable[str] = (),
        version: str = DEFAULT_VERSION,
        request_log: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        self.version = version
        self.auth = AuthConfig(username, password, bearer_token)
        self.faults = FaultInjector()
        self.capacity = CapacityGate(service_time, concurrency)
        self.alerts = AlertFirer(endpoints, kafka_clusters)
        self.store = Store(forget=self.alerts.forget)
        self.request_log = request_log
        # Set by serve(): tests stop and resume it (Kapacitor down or restarting).
        self.listener: RunningEmulator | None = None
        self._initial_capacity = (service_time, concurrency)
        self._calls: Counter[tuple[str, str]] = Counter()
        self._calls_lock = threading.Lock()
        self.scheduler = SilentScheduler(
            frozenset(silent_measurements), self._stored_tasks, self.alerts
        )

    def _stored_tasks(self) -> list[Task]:
        # Frozen objects, read only: no copy (the scheduler looks ten times a second).
        with self.store.lock:
            return list(self.store.tasks.values())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return handle_wsgi(self, environ, start_response)

    # -- call accounting -------------------------------------------------------------
    def count_call(self, method: str, kind: str) -> None:
        with self._calls_lock:
            self._calls[(method, kind)] += 1

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        """A copy of the per-(method, route kind) counters, e.g. ``("POST", "tasks")``.
        Kinds: ping, tasks (list and items), templates, unknown. Every request
        that reaches the Kapacitor API is counted, including failed ones."""
        with self._calls_lock:
            return Counter(self._calls)

    # -- state inspection ------------------------------------------------------------
    def tasks(self) -> dict[str, Task]:
        """Snapshot of every task (frozen objects with copied var maps)."""
        with self.store.lock:
            return {task_id: _copy(task) for task_id, task in sorted(self.store.tasks.items())}

    def task(self, task_id: str) -> Task | None:
        """Snapshot of one task (a lookup: cheap enough to poll in a loop)."""
        with self.store.lock:
            task = self.store.tasks.get(task_id)
            return None if task is None else _copy(task)

    def add_template(self, template_id: str, script: str) -> Template:
        """Seed a template without HTTP (same checks as ``POST /templates``)."""
        return create_template(self.store, TemplateRequest(template_id, script))

    def reset(self) -> None:
        """Forget tasks, templates, faults, counters and alert state; restore the
        constructor's capacity settings."""
        self.store.clear()
        self.faults.clear()
        self.alerts.reset()
        self.capacity.configure(*self._initial_capacity)
        self.capacity.reset_counters()
        with self._calls_lock:
            self._calls.clear()

    def close(self) -> None:
        """Stop what runs beside the API: the deadman scheduler, calls held by hang
        faults, and the Kafka producers with their delivery-report threads."""
        self.faults.clear()
        self.scheduler.stop()
        self.alerts.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- knobs -----------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> int:
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def _fault(self, method: str | None, path: str, times: int | None, **effect: Any) -> int:
        methods = frozenset({method}) if method else frozenset()
        return self.add_fault(Fault(methods=methods, path_prefix=path, times=times, **effect))

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path: str = "",
        message: str = "emulated failure",
    ) -> int:
        """Answer the next ``times`` matching calls with ``status``."""
        return self._fault(method, path, times, status=status, message=message)

    def add_latency(
        self, seconds: float, *, method: str | None = None, path: str = "", times: int | None = None
    ) -> int:
        return self._fault(method, path, times, delay=seconds)

    def fail_after_store(
        self, times: int = 1, status: int = 500, *, message: str = "emulated failure after store"
    ) -> int:
        """Creates store the task, then answer ``status`` (an enabled one is left
        not executing with ``error`` set): Kapacitor's "500 but stored"."""
        effect = {"status": status, "message": message, "store_then_fail": True}
        return self._fault("POST", "", times, path_regex=r"^/kapacitor/v1/tasks$", **effect)

    def flap(
        self, every: int = 2, status: int = 503, *, path: str = "", times: int | None = None
    ) -> int:
        """Fail every ``every``-th matching call, starting with the next one."""
        effect = {"status": status, "fail_every": every, "message": "emulated flapping failure"}
        return self._fault(None, path, times, **effect)

    def wedge(self) -> int:
        """Hang every task and template call until the fault is removed, while
        ``/ping`` still answers: Kapacitor's start/stop deadlock (kapacitor#1829)."""
        return self.add_fault(Fault(path_regex=_TASK_API, hang=True))

    def dribble(self, interval: float, *, path: str = "") -> int:
        """Send matching answers' bodies one byte every ``interval`` seconds."""
        return self._fault(None, path, None, dribble=interval)

    def set_capacity(self, service_time: float, concurrency: int | None) -> None:
        self.capacity.configure(service_time, concurrency)

    def set_endpoint(
        self,
        name: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.alerts.set_endpoint(HttpPostEndpoint(name, url, dict(headers or {}), basic_auth))

    # -- alerts ----------------------------------------------------------------------
    def fire_deadman(
        self,
        task_id: str,
        level: str = "CRITICAL",
        time: datetime | None = None,
        emitted: float = 0,
    ) -> AlertResult:
        """Fire the task's deadman alert once, delivered through the task's handler
        (a POST to its endpoint, or a record from its Kafka handler).

        ``time`` defaults to now (whole seconds, UTC). Only an enabled, executing
        task can fire; otherwise the result carries an ``error`` and nothing is sent.
        """
        time_ns = _time_ns(time)
        task = self.task(task_id)
        if task is None:
            return AlertResult(task_id, level, error=f"no task exists: {task_id}")
        return self.alerts.fire(task, level, time_ns, emitted)

    def fire_many(
        self,
        task_ids: Sequence[str],
        level: str = "CRITICAL",
        time: datetime | None = None,
        emitted: float = 0,
        *,
        concurrency: int | None = None,
    ) -> list[TimedAlert]:
        """Fire every task's deadman at once, as a fleet-wide outage does: each
        alert delivered on its own (one POST, 30 s timeout, no retry; or one Kafka
        record), concurrently from ``concurrency`` threads (default one per task),
        all with the same ``time`` (one deadman tick; default now). Results in the
        order of ``task_ids``, each with its outcome and its delivery time.
        """
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        when = _moment(time)  # once for all: the same tick

        def fire(task_id: str) -> AlertResult:
            return self.fire_deadman(task_id, level, when, emitted)

        return fire_concurrently(fire, task_ids, level, concurrency)


def _copy(task: Task) -> Task:
    return replace(task, vars=dict(task.vars), running_vars=dict(task.running_vars))


def _moment(when: datetime | None) -> datetime:
    """An alert time: ``when`` (UTC if naive), or now in whole seconds."""
    when = when or datetime.now(UTC).replace(microsecond=0)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _time_ns(when: datetime | None) -> int:
    moment = _moment(when)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000
