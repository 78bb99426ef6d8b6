"""Shared helpers of the benchmarks: processes, requests, percentiles, machine facts.

The benchmarks are scripts, not a package: ``bench/run.py`` puts this folder on
``sys.path`` and imports the others by module name.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import http.server
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from deadman_local.kafka_source import KafkaRecord, SourceConfig, event_from_record, http_request
from deadman_local.net import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
PROFILES_DIR = BENCH_DIR / "profiles"
SHARED = ROOT.parent / "shared"
ALERT_CAPTURES = SHARED / "kapacitor-captures" / "deadman-alert-posts.json"
TEMPLATE_ID = "measurement_series_not_fed_template"
TEMPLATE_FILE = ROOT / "functions" / "deadman" / "templates" / f"{TEMPLATE_ID}.tick"
TASK_SUFFIX = "_not_fed"
KAPACITOR_DB = "iot"
# Kapacitor calls in flight per function process (BULK_CONCURRENCY, as deployed).
BULK_CONCURRENCY = 8
# A fixed base keeps event times (and so the work) the same from run to run.
BASE_TIME = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)

# Which KafkaSource (kafka-sources/kafka-sources.yaml) feeds which function.
SOURCE_OF_TYPE = {
    "device-created": "create-alert",
    "device-enabled": "enable-alert",
    "device-disabled": "disable-alert",
    "device-deleted": "delete-alert",
}


class BenchError(RuntimeError):
    """What a benchmark measured was wrong (lost records, missing tasks): fail loudly."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- figures -----------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    check(bool(values), "percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)


# -- the machine -------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The facts BENCHMARKS.md quotes with the figures."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count() or 0,
        # What ``nproc`` prints: the cores this process may run on.
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def merged_run(
    earlier: dict[str, Any],
    measured: dict[str, Any],
    context: dict[str, Any],
    *,
    parts: Iterable[str],
    partial: bool,
    started: float,
) -> dict[str, Any]:
    """The results to write. A full run's stand alone: ``context`` (where they were
    measured: ``machine``, the servers), the figures, the run's time. A partial run's
    figures go over ``earlier`` (a full run's), whose context and time stay; each
    re-run part says its own context and time under ``partial_runs``."""
    finished = {
        "duration_s": round(time.monotonic() - started, 1),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if not partial or "finished_at" not in earlier:
        return {**context, **measured, **finished}
    runs = earlier.get("partial_runs", {}) | {part: {**context, **finished} for part in parts}
    return {**earlier, **measured, "partial_runs": runs}


# -- processes ---------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers of a FunctionProcess)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return sorted(set(found))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """``cpu_seconds`` of each named process, now."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_since(pids: dict[str, int], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each named process used since ``before`` (from ``cpu_of``)."""
    return {name: rounded(cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()}


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS from /proc/<pid>/status and Pss from smaps_rollup, in MiB."""
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            figures["rss_mb"] = int(line.split()[1]) / 1024
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                figures["pss_mb"] = int(line.split()[1]) / 1024
    return figures


@dataclass
class EmulatorProcess:
    """The Kapacitor API emulator in its own process (its own GIL, as a real
    Kapacitor would be), seeded with the project's template."""

    service_time_ms: float = 0.0
    concurrency: int | None = None
    log_path: Path | None = None
    template_file: Path = TEMPLATE_FILE
    # More command-line options (--alert-endpoint, --kafka-cluster, ...).
    args: tuple[str, ...] = ()
    url: str = ""
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def start(self, timeout: float = 20.0) -> EmulatorProcess:
        command = [
            sys.executable,
            "-m",
            "deadman_local.kapacitor_emulator",
            "--port",
            "0",
            "--service-time-ms",
            str(self.service_time_ms),
            "--template",
            f"{TEMPLATE_ID}={self.template_file}",
            "--quiet",
            *self.args,
        ]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        assert self._process.stderr is not None
        deadline = time.monotonic() + timeout
        # --quiet: the only lines are "listening" (or an error) and, at the end, "stopped".
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line:
                break
            entry = json.loads(line)
            if entry.get("event") == "listening":
                self.url = str(entry["url"])
                return self
            if entry.get("event") == "error":
                break
        self.stop()
        raise BenchError("the Kapacitor emulator did not start")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/emulator/state", timeout=120)
        response.raise_for_status()
        return dict(response.json())

    @staticmethod
    def call_counts(state: dict[str, Any]) -> dict[str, int]:
        """``{"GET tasks": n, ...}`` from a state snapshot (Kapacitor API calls only)."""
        return {f"{c['method']} {c['kind']}": int(c["count"]) for c in state["calls"]}

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process, timeout=10)
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def call_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = sorted(set(before) | set(after))
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in keys}
    return {key: count for key, count in delta.items() if count}


def lifecycle_env(kapacitor_url: str, **extra: str) -> dict[str, str]:
    """Environment of a lifecycle function pointed at ``kapacitor_url``; as the
    Knative Services (knative/services.yaml): one worker, four threads."""
    return {
        "KAPACITOR_URL": kapacitor_url,
        "KAPACITOR_DB": KAPACITOR_DB,
        "BULK_CONCURRENCY": str(BULK_CONCURRENCY),
        "MAX_DEVICES_PER_EVENT": "20000",
        "WORKERS": "1",
        "THREADS": "4",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def callback_env(bootstrap_servers: str, topic: str, **extra: str) -> dict[str, str]:
    """Environment of the alert callback; WORKERS/THREADS as its Knative Service
    (containerConcurrency 20: one worker with 20 threads)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "ALERTS_TOPIC": topic,
        "WORKERS": "1",
        "THREADS": "20",
        "LOG_LEVEL": "INFO",
        **extra,
    }


# -- lifecycle events --------------------------------------------------------------


def event_time(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def outbox_record(event_type: str, devices: Sequence[str], seconds: float, event_id: str) -> bytes:
    """Debezium's structured CloudEvent for an outbox row (the Kafka record value)."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/debezium/mysql/cfg",
            "type": event_type,
            "time": event_time(seconds),
            "datacontenttype": "application/json",
            "iodebeziumop": "c",
            "data": {"devicescode": list(devices)},
        },
        separators=(",", ":"),
    ).encode()


def wrapped_delivery(
    event_type: str, devices: Sequence[str], seconds: float, offset: int
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the binary-mode ``dev.knative.kafka.event`` a KafkaSource
    POSTs for an outbox record without a content-type header (the stand-in's code)."""
    name = SOURCE_OF_TYPE[event_type]
    topic = f"kapacitor-alerts-connector.{event_type}"
    source = SourceConfig(
        name=name,
        namespace="deadman",
        topics=(topic,),
        consumer_group=f"deadman-{name}",
        sink_url="http://unused",
    )
    record = KafkaRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp_ms=int(time.time() * 1000),
        key=b"outbox",
        value=outbox_record(event_type, devices, seconds, f"bench-{event_type}-{offset}"),
    )
    return http_request(event_from_record(record, source))


# -- alerts ------------------------------------------------------------------------


@functools.cache
def _captured_alert(level: str) -> dict[str, Any]:
    check(ALERT_CAPTURES.exists(), f"{ALERT_CAPTURES} is missing (shared/ beside the repo)")
    captures = json.loads(ALERT_CAPTURES.read_text())
    return dict(next(c["body"] for c in captures if c["body"]["level"] == level))


def alert_body(index: int, level: str = "CRITICAL") -> bytes:
    """A captured deadman alert POST for device ``dev-<index>``, at its own time."""
    return _alert_from(_captured_alert(level), index)


def alert_bodies(count: int, level: str = "CRITICAL") -> list[bytes]:
    return [_alert_from(_captured_alert(level), index) for index in range(count)]


def _alert_from(template: dict[str, Any], index: int) -> bytes:
    captured_id = template["id"]
    captured_time = datetime.fromisoformat(template["time"].replace("Z", "+00:00"))
    when = captured_time + timedelta(seconds=index)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    spaced = when.strftime("%Y-%m-%d %H:%M:%S")
    task_id = f"dev-{index}{TASK_SUFFIX}"
    body = copy.deepcopy(template)

    def swap(text: str) -> str:
        text = text.replace(captured_id, task_id)
        text = text.replace(captured_time.strftime("%Y-%m-%dT%H:%M:%SZ"), iso)
        return text.replace(captured_time.strftime("%Y-%m-%d %H:%M:%S"), spaced)

    body["id"] = task_id
    body["time"] = iso
    body["message"] = swap(body["message"])
    body["details"] = swap(body["details"])
    for series in body["data"]["series"]:
        series["values"] = [[iso, *row[1:]] for row in series["values"]]
    # Go's json.Encoder, as Kapacitor's [[httppost]] sends it: compact, <, > and &
    # escaped, a final newline (1333 bytes for the capture itself, as captured).
    text = json.dumps(body, separators=(",", ":"))
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.encode() + b"\n"


# -- HTTP --------------------------------------------------------------------------


def post_until_answered(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout: float = 30.0,
) -> httpx.Response:
    """POST, retrying refused connections only (a process that is still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.post(url, headers=headers, content=body)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as elapsed: ...`` then ``elapsed[0]`` is the wall time in s."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


# -- profiling ---------------------------------------------------------------------


@contextlib.contextmanager
def py_spy(pids: dict[str, int], out_dir: Path | None, rate: int = 250) -> Iterator[None]:
    """Sample each named process with ``py-spy record`` while the block runs (nothing
    when ``out_dir`` is None); raw collapsed stacks go to ``out_dir/<name>.txt``.
    Only samples of the thread holding the GIL are kept: where the CPU goes."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    recorders = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--threads",
                "--gil",
                "--nonblocking",
                "--output",
                str(out_dir / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=30)


# -- a Knative sink stand-in -------------------------------------------------------


class LoopbackServer:
    """An HTTP server on a free loopback port, serving ``handler`` on daemon threads
    while in a ``with`` block; ``url`` ends with ``/``."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Keep-alive, and no line on stderr per request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return


class SinkReceiver(LoopbackServer):
    """Answers 202 to every POST, as a KafkaSink's ingress does (for ``K_SINK``);
    ``status=200`` makes it an ``[[httppost]]`` endpoint for a real Kapacitor."""

    def __init__(self, status: int = 202) -> None:
        owner = self
        self.received = 0
        self._lock = threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    owner.received += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)
