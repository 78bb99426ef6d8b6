"""One Kapacitor as a test sees it: the emulator, or a real Kapacitor 1.5.7.

Both sit behind the same small proxy, which counts the calls the product makes
(per method and route kind, as ``("POST", "tasks")``) and can answer the next
calls with an error status in Kapacitor's error shape. Proxies given one
``CallJournal`` also write every call into it, in one order across them all (when
each call started and ended), so a test can tell which of two Kapacitors was
called first. Tests read a server's tasks
straight from it, past the proxy, so reading never counts as a call.

The real servers come from ``deadman_local.real_kapacitor``. Where they cannot be
found, tests on them skip with the reason; with ``REQUIRE_REAL_KAPACITOR=1`` (set
by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from deadman_local.kapacitor_emulator import KapacitorEmulator
from deadman_local.real_kapacitor import (
    Binaries,
    KapacitorNotFoundError,
    RealKapacitor,
    find_binaries,
)
from tests.support.emulator import served_emulator
from tests.support.wsgi import serve_wsgi

API = "/kapacitor/v1"
# The version of the real server the harness builds (../shared/kapacitor).
REAL = "real-1.5.7"
REQUIRE_REAL = "REQUIRE_REAL_KAPACITOR"
# Hop-by-hop, length and encoding headers the proxy must not copy across: httpx
# hands over the body decoded (a real Kapacitor gzips its answers).
_NOT_FORWARDED = {
    "host",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
}


def route_kind(path: str) -> str:
    """The counters' route name: ping, tasks, templates, alerts, config, or the path."""
    rest = path.removeprefix(API).strip("/")
    return rest.split("/", 1)[0] or "root"


@dataclass(frozen=True)
class JournalEntry:
    """One call through a journaling proxy: when it started and ended in the
    journal's one sequence, to which server, what was sent and answered."""

    started: int
    ended: int
    upstream: str
    method: str
    path: str
    status: int
    request: bytes
    response: bytes


class CallJournal:
    """The calls of every proxy that writes to it, in one order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._entries: list[JournalEntry] = []

    def tick(self) -> int:
        with self._lock:
            return next(self._sequence)

    def add(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return sorted(self._entries, key=lambda entry: entry.started)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class CountingProxy:
    """A WSGI proxy to ``upstream`` that counts calls and injects scripted errors."""

    upstream: str
    journal: CallJournal | None = None
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _faults: deque[tuple[str | None, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def fail_next(self, times: int = 1, status: int = 500, method: str | None = None) -> None:
        """Answer the next ``times`` calls (of ``method``, or any) with ``status``."""
        with self._lock:
            self._faults.extend([(method, status)] * times)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._faults.clear()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        with self._lock:
            self.calls[(request.method, route_kind(request.path))] += 1
            fault = next((f for f in self._faults if f[0] in (None, request.method)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            injected = Response(
                b'{"error":"injected by the test proxy"}', fault[1], mimetype="application/json"
            )
            return injected(environ, start_response)
        started = self.journal.tick() if self.journal is not None else 0
        upstream = self._client.request(
            request.method,
            self.upstream + request.full_path.rstrip("?"),
            headers={k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED},
            content=request.get_data(),
        )
        if self.journal is not None:
            entry = JournalEntry(
                started,
                self.journal.tick(),
                self.upstream,
                request.method,
                request.path,
                upstream.status_code,
                request.get_data(),
                upstream.content,
            )
            self.journal.add(entry)
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED]
        return Response(upstream.content, upstream.status_code, headers)(environ, start_response)


@dataclass(frozen=True)
class TaskState:
    """A task as ``GET /kapacitor/v1/tasks/<id>`` shows it, vars without their types."""

    id: str
    status: str
    executing: bool
    template_id: str
    vars: dict[str, Any]
    dbrps: list[tuple[str, str]]
    created: str
    last_enabled: str
    error: str
    script: str = ""

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> TaskState:
        return cls(
            id=body["id"],
            status=body["status"],
            executing=body["executing"],
            template_id=body.get("template-id", ""),
            vars={name: var["value"] for name, var in (body.get("vars") or {}).items()},
            dbrps=[(d["db"], d["rp"]) for d in body.get("dbrps") or []],
            created=body.get("created", ""),
            last_enabled=body.get("last-enabled", ""),
            error=body.get("error", ""),
            script=body.get("script", ""),
        )


@dataclass
class KapacitorBackend:
    """A Kapacitor (``name`` says which) behind a CountingProxy.

    ``url`` is what the product is given; ``direct_url`` the server itself.
    ``emulator`` is set on the emulator backends, ``real`` on the real one.
    """

    name: str
    url: str
    direct_url: str
    proxy: CountingProxy
    emulator: KapacitorEmulator | None = None
    real: RealKapacitor | None = None

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        return Counter(self.proxy.calls)

    def writes(self) -> int:
        """Calls that may change something (every method but GET)."""
        return sum(n for (method, _), n in self.proxy.calls.items() if method != "GET")

    def fail_next(self, times: int = 1, status: int = 500, method: str | None = None) -> None:
        self.proxy.fail_next(times, status, method)

    def tasks(self) -> dict[str, TaskState]:
        tasks: dict[str, TaskState] = {}
        with httpx.Client(base_url=self.direct_url + API, timeout=30) as client:
            while True:
                page = client.get("/tasks", params={"offset": len(tasks), "limit": 500})
                page.raise_for_status()
                listed = page.json()["tasks"]
                tasks.update((t["id"], TaskState.from_api(t)) for t in listed)
                if len(listed) < 500:
                    return tasks

    def task(self, task_id: str) -> TaskState:
        found = self.find_task(task_id)
        assert found is not None, f"no task {task_id}"
        return found

    def find_task(self, task_id: str) -> TaskState | None:
        """The task (its script as stored, not reformatted), or None on a 404."""
        response = httpx.get(
            f"{self.direct_url}{API}/tasks/{task_id}",
            params={"script-format": "raw"},
            timeout=30,
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return TaskState.from_api(response.json())

    def statuses(self) -> dict[str, str]:
        return {task_id: task.status for task_id, task in self.tasks().items()}

    def templates(self) -> list[str]:
        response = httpx.get(f"{self.direct_url}{API}/templates", timeout=30)
        response.raise_for_status()
        return [t["id"] for t in response.json()["templates"]]

    def clear(self) -> None:
        """Delete every task and template, and forget the counts and faults."""
        with httpx.Client(base_url=self.direct_url + API, timeout=60) as client:
            for task_id in self.tasks():
                client.delete(f"/tasks/{task_id}").raise_for_status()
            for template_id in self.templates():
                client.delete(f"/templates/{template_id}").raise_for_status()
        self.proxy.reset()

    def add_template(self, template_id: str, script: str) -> None:
        body = {"id": template_id, "type": "batch", "script": script}
        response = httpx.post(f"{self.direct_url}{API}/templates", json=body, timeout=30)
        assert response.status_code == 200, response.text


@contextmanager
def behind_proxy(
    upstream: str, journal: CallJournal | None = None
) -> Iterator[tuple[str, CountingProxy]]:
    """A CountingProxy to ``upstream`` on a free port (writing to ``journal``, if
    given): its URL, and itself."""
    proxy = CountingProxy(upstream, journal)
    with serve_wsgi(proxy) as url:
        try:
            yield url, proxy
        finally:
            proxy._client.close()


def real_binaries() -> Binaries:
    """The real servers' binaries, or skip (fail under REQUIRE_REAL_KAPACITOR=1)."""
    try:
        return find_binaries()
    except KapacitorNotFoundError as missing:
        reason = f"real Kapacitor not available: {missing}"
        if os.environ.get(REQUIRE_REAL) == "1":
            pytest.fail(f"{reason} ({REQUIRE_REAL}=1)", pytrace=False)
        pytest.skip(reason)


@contextmanager
def emulated_backend(name: str) -> Iterator[KapacitorBackend]:
    """The emulator answering as release ``name`` (``emulator-1.5.7``), behind a proxy."""
    version = name.removeprefix("emulator-") + "-emulator"
    with served_emulator(version=version) as running, behind_proxy(running.url) as (url, proxy):
        yield KapacitorBackend(name, url, running.url, proxy, emulator=running.emulator)
