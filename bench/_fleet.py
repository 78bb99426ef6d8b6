"""The fleet benchmark's parts (see fleet.py): an alert recorder, a point writer, a
sampler of both servers, and the stages of the ladder and of the template runs."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BULK_CONCURRENCY,
    KAPACITOR_DB,
    TASK_SUFFIX,
    TEMPLATE_FILE,
    TEMPLATE_ID,
    LoopbackServer,
    QuietHandler,
    check,
    cpu_seconds,
    median,
    rounded,
    say,
)
from _kapacitor import API, BareClient, kapacitor_memory, per_second, task_body

from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint
from deadman_local.real_kapacitor import Binaries, RealKapacitor

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The stream variant is shipped (KAPACITOR_TEMPLATE_ID); the lean one is bench-only.
STREAM_TEMPLATE_ID = "measurement_series_not_fed_stream"
FEED_EVERY_S = 10.0
SILENT = 20
NEVER_FED = 5
ONE_AT_A_TIME = 100
# A silent device alerts within 3 periods by the template's own schedule (its query
# runs every period, unaligned, over the last period; the deadman is evaluated on
# the period's wall-clock multiples): waiting 4 leaves one spare.
WAIT_PERIODS = 4
# The ladder stops before kapacitord would pass this (the machine has others to run).
MEMORY_CEILING_MB = 10_000


@dataclass(frozen=True)
class Alert:
    task: str
    level: str
    received: float  # wall clock


class AlertRecorder(LoopbackServer):
    """The template's ``[[httppost]]`` endpoint: keeps each alert's task, level and
    arrival time, answers 200."""

    def __init__(self) -> None:
        owner = self
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with owner._lock:
                    owner.alerts.append(Alert(str(body["id"]), str(body["level"]), time.time()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def received(self) -> int:
        return len(self.alerts)

    def since(self, started: float, level: str = "CRITICAL") -> dict[str, float]:
        """Each device's first alert of ``level`` received after ``started``."""
        first: dict[str, float] = {}
        with self._lock:
            for alert in self.alerts:
                if alert.level == level and alert.received >= started:
                    first.setdefault(alert.task.removesuffix(TASK_SUFFIX), alert.received)
        return first


class Feeder:
    """Writes a point for every fed device each ``every`` seconds; remembers when the
    last write that held a device ended (its last point, once silenced)."""

    def __init__(self, real: RealKapacitor, every: float) -> None:
        self.real = real
        self.every = every
        self.fed: list[str] = []
        self.last_point: dict[str, float] = {}
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def add(self, devices: Sequence[str]) -> None:
        with self._lock:
            self.fed.extend(devices)
        self._write()

    def silence(self, devices: Sequence[str]) -> None:
        gone = set(devices)
        with self._lock:
            self.fed = [device for device in self.fed if device not in gone]
            self.last_point.update(dict.fromkeys(gone, self._last_write))

    def _write(self) -> None:
        with self._lock:
            self.real.write([f"{device},ty=F value=1" for device in self.fed])
            self._last_write = time.time()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@contextlib.contextmanager
def fed_server(
    binaries: Binaries, feed_every: float, *, subscriptions: bool = False
) -> Iterator[tuple[AlertRecorder, RealKapacitor, Feeder]]:
    """A fresh real Kapacitor posting its alerts to a recorder, and a writer feeding
    it every ``feed_every`` seconds (no device yet)."""
    with (
        AlertRecorder() as recorder,
        RealKapacitor(
            binaries,
            db=KAPACITOR_DB,
            endpoints=[HttpPostEndpoint(TEMPLATE_ENDPOINT, recorder.url)],
            subscriptions=subscriptions,
        ) as real,
        Feeder(real, feed_every) as feeder,
    ):
        yield recorder, real, feeder


@dataclass
class Sampler:
    """Each second: InfluxDB's query count, and both servers' CPU time."""

    real: RealKapacitor
    per_second: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def queries(self) -> int:
        stats = httpx.get(f"{self.real.influxdb_url}/debug/vars", timeout=30).json()
        return sum(
            int(value["values"].get("queryReq", 0))
            for name, value in stats.items()
            if name.startswith("httpd")
        )

    @contextlib.contextmanager
    def measuring(self) -> Iterator[dict[str, Any]]:
        """The block's CPU (cores), queries per second (mean, busiest second)."""
        pids = {"kapacitord": self.real.kapacitor_pid(), "influxd": self.real.influxdb_pid()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        queries_before = self.queries()
        started = time.monotonic()
        thread = threading.Thread(target=self._sample, daemon=True)
        figures: dict[str, Any] = {}
        thread.start()
        try:
            yield figures
        finally:
            self._stop.set()
            thread.join()
        seconds = time.monotonic() - started
        for name, pid in pids.items():
            if pid:
                figures[f"{name}_cores"] = rounded((cpu_seconds(pid) - before[name]) / seconds)
        figures["seconds"] = rounded(seconds, 1)
        figures["queries_per_second"] = rounded((self.queries() - queries_before) / seconds, 1)
        figures["busiest_second_queries"] = max(self.per_second, default=0)

    def _sample(self) -> None:
        last = self.queries()
        while not self._stop.wait(1.0):
            now = self.queries()
            self.per_second.append(now - last)
            last = now


def install(real: RealKapacitor, template_id: str, script: str, kind: str = "batch") -> float:
    """Create or update a template; the seconds it took (an update re-renders tasks)."""
    started = time.perf_counter()
    url = f"{real.kapacitor_url}{API}/templates"
    body = {"id": template_id, "type": kind, "script": script}
    found = httpx.get(f"{url}/{template_id}", timeout=30).status_code == 200
    if found:
        answer = httpx.patch(f"{url}/{template_id}", json=body, timeout=3600)
    else:
        answer = httpx.post(url, json=body, timeout=60)
    check(answer.status_code == 200, f"template {template_id}: {answer.text[:300]}")
    return time.perf_counter() - started


def create(
    real: RealKapacitor, devices: Sequence[str], template_id: str, period_s: float | None
) -> dict[str, Any]:
    """The devices' tasks, ``ONE_AT_A_TIME`` one call at a time, the rest
    ``BULK_CONCURRENCY`` in flight; the rate of each."""
    extra = (
        None if period_s is None else {"period": {"type": "duration", "value": f"{period_s:g}s"}}
    )
    client = BareClient(real.kapacitor_url, extra)

    def body(device: str) -> bytes:
        made = json.loads(task_body(device, extra))
        made["template-id"] = template_id
        return json.dumps(made).encode()

    rates: dict[str, Any] = {}
    for in_flight, part in (
        (1, devices[:ONE_AT_A_TIME]),
        (BULK_CONCURRENCY, devices[ONE_AT_A_TIME:]),
    ):
        if not part:
            continue
        bodies = [body(device) for device in part]
        started = time.perf_counter()
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(client.create, part, bodies))
        rates[str(in_flight)] = per_second(len(part), time.perf_counter() - started)
    return rates


def silence_and_wait(
    feeder: Feeder, recorder: AlertRecorder, silent: Sequence[str], period_s: float
) -> dict[str, Any]:
    """Stop feeding ``silent``; wait for each one's CRITICAL (at most WAIT_PERIODS)."""
    started = time.time()
    feeder.silence(silent)
    deadline = time.monotonic() + WAIT_PERIODS * period_s
    while time.monotonic() < deadline:
        if all(device in recorder.since(started) for device in silent):
            break
        time.sleep(1.0)
    alerted = recorder.since(started)
    latencies = [alerted[d] - feeder.last_point[d] for d in silent if d in alerted]
    missed = [device for device in silent if device not in alerted]
    figures: dict[str, Any] = {"silent": len(silent), "missed": len(missed)}
    if latencies:
        figures |= {
            "latency_s_min": rounded(min(latencies), 1),
            "latency_s_p50": rounded(median(latencies), 1),
            "latency_s_max": rounded(max(latencies), 1),
            "latency_periods_max": rounded(max(latencies) / period_s, 2),
        }
    return figures


def false_alerts(recorder: AlertRecorder, started: float, expected: set[str]) -> list[str]:
    """Devices that sent a CRITICAL after ``started`` without being silent."""
    return sorted(set(recorder.since(started)) - expected)


def memory(real: RealKapacitor) -> dict[str, float]:
    return kapacitor_memory(real)


def stage(
    real: RealKapacitor,
    feeder: Feeder,
    recorder: AlertRecorder,
    silent: Sequence[str],
    period_s: float,
    quiet: set[str],
) -> dict[str, Any]:
    """Silence ``silent`` and measure until they alerted; ``quiet`` (devices already
    silent or never fed) may alert without being false."""
    sampler = Sampler(real)
    started = time.time()
    with sampler.measuring() as load:
        outcome = silence_and_wait(feeder, recorder, silent, period_s)
        # At least two periods of load, so that every task has queried twice.
        rest = 2 * period_s - (time.time() - started)
        if rest > 0:
            time.sleep(rest)
    wrong = false_alerts(recorder, started, quiet | set(silent))
    return {**outcome, **load, "false_alerts": len(wrong), "false_examples": wrong[:5]}


def ladder(
    binaries: Binaries, sizes: Sequence[int], periods: Sequence[int], period_s: float = 60.0
) -> dict[str, Any]:
    script = TEMPLATE_FILE.read_text()
    steps: list[dict[str, Any]] = []
    never = [f"never-{i}" for i in range(NEVER_FED)]
    with fed_server(binaries, min(FEED_EVERY_S, period_s / 3)) as (recorder, real, feeder):
        if period_s != 60.0:
            script = script.replace("var period = 1m", f"var period = {period_s:g}s")
        install(real, TEMPLATE_ID, script)
        fresh = memory(real)
        devices: list[str] = []
        quiet = set(never)
        for size in sizes:
            if steps and _projected_rss_mb(fresh, steps[-1], size) > MEMORY_CEILING_MB:
                stopped = (
                    f"{size:,} tasks would need about "
                    f"{_projected_rss_mb(fresh, steps[-1], size):,.0f} MiB of kapacitord RSS, over "
                    f"the {MEMORY_CEILING_MB:,} MiB this bench allows itself"
                )
                say(f"fleet: stopped: {stopped}")
                steps.append({"tasks": size + NEVER_FED, "stopped": stopped})
                break
            new = [f"dev-{i}" for i in range(len(devices), size)]
            feeder.add(new)
            rates = create(real, new + (never if not devices else []), TEMPLATE_ID, None)
            busy = bool(devices)
            devices += new
            say(f"fleet: {size:,} tasks ({'busy' if busy else 'idle'} creation {rates})")
            time.sleep(period_s)
            silent = [d for d in devices if d not in quiet][:: max(1, size // SILENT)][:SILENT]
            outcome = stage(real, feeder, recorder, silent, period_s, quiet)
            quiet |= set(silent)
            steps.append(
                {
                    "tasks": size + NEVER_FED,
                    "period_s": period_s,
                    "creation": {"busy" if busy else "idle": rates},
                    **outcome,
                    **memory(real),
                    "never_fed_alerted": sum(d in recorder.since(0.0) for d in never),
                }
            )
            say(f"fleet: {size:,} at {period_s:g} s: {steps[-1]}")
        for period in periods:
            changed = TEMPLATE_FILE.read_text().replace(
                "var period = 1m", f"var period = {period}s"
            )
            check(changed != script, "the template declares no `var period = 1m`")
            feeder.every = min(FEED_EVERY_S, period / 3)
            rendered = install(real, TEMPLATE_ID, changed)
            time.sleep(period)
            silent = [d for d in devices if d not in quiet][:SILENT]
            outcome = stage(real, feeder, recorder, silent, float(period), quiet)
            quiet |= set(silent)
            steps.append(
                {
                    "tasks": len(devices) + NEVER_FED,
                    "period_s": float(period),
                    "template_update_s": rounded(rendered, 1),
                    **outcome,
                    **memory(real),
                }
            )
            say(f"fleet: {len(devices):,} at {period} s: {steps[-1]}")
    return {"fresh": fresh, "steps": steps, "feed_every_s": min(FEED_EVERY_S, period_s / 3)}


def _projected_rss_mb(fresh: dict[str, float], last: dict[str, Any], size: int) -> float:
    """kapacitord's RSS at ``size`` tasks, going on at the last step's cost per task."""
    per_task = (float(last["rss_mb"]) - fresh["rss_mb"]) / int(last["tasks"])
    return fresh["rss_mb"] + per_task * (size + NEVER_FED)


VARIANTS = {
    "shipped batch": (TEMPLATE_ID, TEMPLATE_FILE, "batch"),
    "lean batch": ("deadman_lean_batch", TEMPLATES / "deadman_lean_batch.tick", "batch"),
    "stream": (STREAM_TEMPLATE_ID, TEMPLATE_FILE.with_name(f"{STREAM_TEMPLATE_ID}.tick"), "stream"),
}


def template_variants(binaries: Binaries, size: int, period_s: float = 20.0) -> dict[str, Any]:
    return {name: variant(binaries, name, size, period_s) for name in VARIANTS}


def variant(binaries: Binaries, name: str, size: int, period_s: float) -> dict[str, Any]:
    template_id, path, kind = VARIANTS[name]
    devices = [f"dev-{i}" for i in range(size)]
    never = [f"never-{i}" for i in range(NEVER_FED)]
    with fed_server(binaries, period_s / 4, subscriptions=kind == "stream") as (
        recorder,
        real,
        feeder,
    ):
        install(real, template_id, path.read_text(), kind)
        fresh = memory(real)
        feeder.add(devices)
        rates = create(real, devices + never, template_id, period_s)
        time.sleep(2 * period_s)
        silent = devices[:: size // SILENT][:SILENT]
        quiet = set(never)
        outcome = stage(real, feeder, recorder, silent, period_s, quiet)
        after = memory(real)
        quiet |= set(silent)
        # A device that goes silent as Kapacitor restarts: alerted once it is back?
        restarted = [d for d in devices if d not in quiet][:: size // 10][:10]
        feeder.silence(restarted)
        real.stop_kapacitor()
        real.start_kapacitor()
        back = time.time()
        outcome_restart = silence_and_wait(feeder, recorder, restarted, period_s)
        wrong = false_alerts(recorder, back, quiet | set(restarted))
    tasks = size + NEVER_FED
    result = {
        "template": template_id,
        "kind": kind,
        "tasks": tasks,
        "period_s": period_s,
        "creation": rates,
        **outcome,
        **{f"{key}_fresh": value for key, value in fresh.items()},
        **after,
        "rss_kib_per_task": rounded((after["rss_mb"] - fresh["rss_mb"]) * 1024 / tasks, 1),
        "go_heap_kib_per_task": rounded(
            (after["go_heap_mb"] - fresh["go_heap_mb"]) * 1024 / tasks, 1
        ),
        "never_fed_alerted": sum(d in recorder.since(0.0) for d in never),
        "silent_at_restart": len(restarted),
        "silent_at_restart_alerted": len(restarted) - outcome_restart["missed"],
        "false_alerts_after_restart": len(wrong),
    }
    say(f"fleet templates: {name}: {result}")
    return result


# -- the report ----------------------------------------------------------------------


def _periods(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def markdown(fleet: dict[str, Any]) -> str:
    server = fleet["server"]
    lines = [
        "# Fleet on real servers",
        "",
        f"{server['kapacitor_version']}, {server['influxdb_version']}; {server['cpu_model']}, "
        f"nproc {server['nproc']}, {server['memory_gib']} GiB. Run {fleet['finished_at']} "
        f"in {fleet['duration_s']:g} s.",
        "",
    ]
    if "ladder" in fleet:
        lines += [
            "## One Kapacitor, the shipped template",
            "",
            "| tasks | period | created/s (1; 8 in flight) | RSS MiB | Go heap MiB "
            "| kapacitord cores | influxd cores | queries/s (busiest s) "
            "| latency s min/p50/max | max in periods | missed | false |",
            "|---:|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
        ]
        for s in fleet["ladder"]["steps"]:
            if "stopped" in s:
                lines.append(f"| {s['tasks']:,} | not run: {s['stopped']} |")
                continue
            rates: dict[str, Any] = next(iter(s.get("creation", {}).values()), {})
            made = f"{rates.get('1', '-')}; {rates.get('8', '-')}" if rates else "-"
            lines.append(
                f"| {s['tasks']:,} | {_periods(s['period_s'])} | {made} | {s['rss_mb']:,.0f} | "
                f"{s['go_heap_mb']:,.0f} | {s['kapacitord_cores']:.2f} | {s['influxd_cores']:.2f} "
                f"| {s['queries_per_second']:g} ({s['busiest_second_queries']}) | "
                f"{s.get('latency_s_min', '-')}/{s.get('latency_s_p50', '-')}/"
                f"{s.get('latency_s_max', '-')} | {s.get('latency_periods_max', '-')} | "
                f"{s['missed']} | {s['false_alerts']} |"
            )
        lines.append("")
    if "templates" in fleet:
        lines += [
            "## The template compared (same fleet and writer, fresh server each)",
            "",
            "| template | tasks | period | created/s (1; 8) | RSS KiB/task | heap KiB/task "
            "| kapacitord cores | influxd cores | queries/s | latency max s | missed | false "
            "| never-fed alerted | silent at restart alerted |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for name, v in fleet["templates"].items():
            lines.append(
                f"| {name} | {v['tasks']:,} | {_periods(v['period_s'])} | "
                f"{v['creation'].get('1')}; {v['creation'].get('8')} | "
                f"{v['rss_kib_per_task']:,.0f} | {v['go_heap_kib_per_task']:,.0f} | "
                f"{v['kapacitord_cores']:.2f} | "
                f"{v['influxd_cores']:.2f} | {v['queries_per_second']:g} | "
                f"{v.get('latency_s_max', '-')} | {v['missed']} | {v['false_alerts']} | "
                f"{v['never_fed_alerted']} of {NEVER_FED} | "
                f"{v['silent_at_restart_alerted']} of {v['silent_at_restart']} |"
            )
        lines.append("")
    if "shards" in fleet:
        lines += fleet_shards_markdown(fleet["shards"])
    if "phases" in fleet:
        import fleet_phases

        lines += fleet_phases.markdown(fleet["phases"])
    return "\n".join(lines) + "\n"


def fleet_shards_markdown(shards: dict[str, Any]) -> list[str]:
    import fleet_shards

    return fleet_shards.markdown(shards)
