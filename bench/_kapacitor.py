"""Kapacitor for the benchmarks: the bare client that creates tasks as the
functions do, and a real Kapacitor 1.5.7 with InfluxDB started fresh.

The bare client is the floor the function is compared with and what measures a
server's creation rate: for each task a GET (404) and then a POST of the create
body the rules send, from ``in_flight`` threads, each over one keep-alive
``http.client`` connection. It works the same against the emulator and the real
server.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from _common import (
    BASE_TIME,
    KAPACITOR_DB,
    TASK_SUFFIX,
    TEMPLATE_FILE,
    TEMPLATE_ID,
    SinkReceiver,
    check,
    machine,
    memory_mb,
    rounded,
    say,
    timed,
)

from deadman import EVENT_ID_VAR, EventStamp
from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint
from deadman_local.real_kapacitor import (
    Binaries,
    KapacitorNotFoundError,
    RealKapacitor,
    find_binaries,
)

API = "/kapacitor/v1"
# The bulk event's time (seconds after BASE_TIME) and its outbox record's offset.
EVENT_SECONDS = 2
EVENT_OFFSET = 1


def task_body(device: str, extra_vars: dict[str, Any] | None = None) -> bytes:
    """The create body the rules send for ``device`` on the bulk event (all vars, its
    stamp and id included; tests/bench/test_bare_client.py holds them to it)."""
    task_id = device + TASK_SUFFIX
    stamp = EventStamp(BASE_TIME + timedelta(seconds=EVENT_SECONDS))
    variables = {
        "name": {"type": "string", "value": task_id},
        "measurement": {"type": "string", "value": device},
        "db": {"type": "string", "value": KAPACITOR_DB},
        "rp": {"type": "string", "value": "autogen"},
        **(extra_vars or {}),
        **stamp.task_vars(),
        EVENT_ID_VAR: {"type": "string", "value": f"bench-device-enabled-{EVENT_OFFSET}"},
    }
    body = {
        "id": task_id,
        "template-id": TEMPLATE_ID,
        "dbrps": [{"db": KAPACITOR_DB, "rp": "autogen"}],
        "vars": variables,
        "status": "enabled",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def per_second(count: int, seconds: float) -> float:
    """A rate for the tables: ``count / seconds``, one decimal."""
    check(seconds > 0, f"a rate over {seconds} s")
    return rounded(count / seconds, 1)


class BareClient:
    """A GET (404) then a POST create per task, one keep-alive connection per thread."""

    def __init__(self, url: str, extra_vars: dict[str, Any] | None = None) -> None:
        address = urlsplit(url)
        self._host = address.hostname or "127.0.0.1"
        self._port = address.port
        self._extra_vars = extra_vars
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        if not hasattr(self._local, "connection"):
            self._local.connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        made: http.client.HTTPConnection = self._local.connection
        return made

    def create(self, device: str, body: bytes | None = None) -> float:
        """Make ``device``'s task as the rules do; the seconds it took."""
        body = body or task_body(device, self._extra_vars)
        api = self._connection()
        started = time.perf_counter()
        api.request("GET", f"{API}/tasks/{device}{TASK_SUFFIX}?script-format=raw")
        found = api.getresponse()
        found.read()
        check(found.status == 404, f"GET {device}: answered {found.status}")
        api.request("POST", f"{API}/tasks", body, {"Content-Type": "application/json"})
        created = api.getresponse()
        answer = created.read()
        check(created.status == 200, f"POST {device}: answered {created.status}: {answer[:300]!r}")
        return time.perf_counter() - started

    def create_all(self, devices: Sequence[str], in_flight: int) -> float:
        """Every device's task, ``in_flight`` at a time (bodies built beforehand); seconds."""
        bodies = {device: task_body(device, self._extra_vars) for device in devices}
        with ThreadPoolExecutor(in_flight) as pool, timed() as elapsed:
            list(pool.map(lambda device: self.create(device, bodies[device]), devices))
        return elapsed[0]

    def create_for(self, prefix: str, in_flight: int, seconds: float) -> dict[str, Any]:
        """Tasks ``<prefix>-0``, ``-1``, ... from ``in_flight`` threads until ``seconds``
        have passed (a call started before then finishes): how many, how fast."""
        numbers = itertools.count()  # next() on it is atomic under the GIL
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        def loop() -> None:
            while time.perf_counter() < deadline:
                latencies.append(self.create(f"{prefix}-{next(numbers)}"))

        with ThreadPoolExecutor(in_flight) as pool, timed() as elapsed:
            list(pool.map(lambda _: loop(), range(in_flight)))
        ordered = sorted(latencies)
        return {
            "in_flight": in_flight,
            "tasks": len(ordered),
            "seconds": rounded(elapsed[0]),
            "tasks_per_second": per_second(len(ordered), elapsed[0]),
            "p50_ms_per_task": rounded(ordered[len(ordered) // 2] * 1000, 1),
            "max_ms_per_task": rounded(ordered[-1] * 1000, 1),
        }


# -- a real Kapacitor --------------------------------------------------------------


def real_binaries() -> tuple[Binaries | None, str]:
    """The real servers, or None and the one-line reason they are not there."""
    try:
        return find_binaries(), ""
    except KapacitorNotFoundError as error:
        return None, str(error)


def skipped(reason: str) -> dict[str, Any]:
    """What a real-server benchmark records when there is no real server."""
    say(f"real Kapacitor: skipped ({reason})")
    return {"available": False, "reason": reason}


def server_facts(binaries: Binaries) -> dict[str, Any]:
    """The versions and the machine the real-server figures were measured on."""
    influxd = subprocess.run(
        [str(binaries.influxd), "version"], capture_output=True, text=True, check=False
    )
    box = machine()
    return {
        "available": True,
        "kapacitor_version": binaries.kapacitor_version(),
        "influxdb_version": influxd.stdout.strip(),
        "found_by": binaries.found_by,
        "cpu_model": box["cpu_model"],
        "nproc": box["nproc"],
        "memory_gib": box["memory_gib"],
    }


def server_line(real: dict[str, Any]) -> str:
    """The versions and the machine, for a table's heading."""
    return (
        f"{real['kapacitor_version']}, {real['influxdb_version']}; "
        f"{real['cpu_model']}, nproc {real['nproc']}"
    )


def kapacitor_memory(real: RealKapacitor) -> dict[str, float]:
    """kapacitord's VmRSS, and Go's heap in use just after a collection (HeapAlloc
    from /debug/vars once the heap profile's ``gc=1`` has run one), in MiB."""
    pid = real.kapacitor_pid()
    assert pid is not None
    url = real.kapacitor_url
    collected = httpx.get(f"{url}{API}/debug/pprof/heap", params={"gc": "1"}, timeout=60)
    check(collected.status_code == 200, f"pprof heap answered {collected.status_code}")
    stats = httpx.get(f"{url}{API}/debug/vars", timeout=30).json()["memstats"]
    return {
        "rss_mb": rounded(memory_mb(pid)["rss_mb"], 1),
        "go_heap_mb": rounded(stats["HeapAlloc"] / 1024 / 1024, 1),
    }


@dataclass
class RealServer:
    """A started RealKapacitor with the template installed, and its alert receiver."""

    real: RealKapacitor
    alerts: SinkReceiver  # the template's ``benthos`` endpoint

    @property
    def url(self) -> str:
        return self.real.kapacitor_url

    def memory(self) -> dict[str, float]:
        return kapacitor_memory(self.real)

    def tasks(self, pattern: str) -> dict[str, dict[str, Any]]:
        """``{id: {status, executing, error}}`` of the tasks whose id matches ``pattern``."""
        response = httpx.get(
            f"{self.url}{API}/tasks",
            params=[
                ("pattern", pattern),
                ("fields", "status"),
                ("fields", "executing"),
                ("fields", "error"),
                ("limit", "1000000"),
            ],
            timeout=120,
        )
        response.raise_for_status()
        return {task["id"]: task for task in response.json()["tasks"]}

    def check_running(self, pattern: str, devices: Iterable[str]) -> None:
        """Every device's task exists, enabled, executing and without an error."""
        tasks = self.tasks(pattern)
        wanted = [device + TASK_SUFFIX for device in devices]
        missing = [task_id for task_id in wanted if task_id not in tasks]
        check(not missing, f"real Kapacitor: {len(missing)} tasks missing, e.g. {missing[:3]}")
        wrong = [
            task_id
            for task_id in wanted
            if tasks[task_id]["status"] != "enabled"
            or not tasks[task_id]["executing"]
            or tasks[task_id].get("error")
        ]
        check(not wrong, f"real Kapacitor: {len(wrong)} tasks not running, e.g. {wrong[:3]}")


@contextlib.contextmanager
def real_server(binaries: Binaries) -> Iterator[RealServer]:
    """A fresh InfluxDB and Kapacitor, the template's ``benthos`` endpoint answering
    200, and the project's template installed, until the block ends."""
    with (
        SinkReceiver(status=200) as alerts,
        RealKapacitor(
            binaries, db=KAPACITOR_DB, endpoints=[HttpPostEndpoint(TEMPLATE_ENDPOINT, alerts.url)]
        ) as real,
    ):
        template = {"id": TEMPLATE_ID, "type": "batch", "script": TEMPLATE_FILE.read_text()}
        installed = httpx.post(f"{real.kapacitor_url}{API}/templates", json=template, timeout=30)
        check(installed.status_code == 200, f"template install answered {installed.text[:300]}")
        yield RealServer(real, alerts)
