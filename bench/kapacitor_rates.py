"""Task creation rate of a real Kapacitor 1.5.7, idle and busy, one call at a time
and 8 in flight.

A task is made as the functions make one for a new device: a GET (404) and a POST
of the rules' create body from the project's template
(``measurement_series_not_fed_template``), by ``_kapacitor.BareClient``. Each mode
creates tasks for a fixed time and counts them:

* **idle**: a fresh InfluxDB and Kapacitor with only the template, for each mode;
* **busy**: one fresh server that first gets 1,000 enabled tasks with a 20 s
  period whose devices are fed a point every quarter period (so they query
  InfluxDB every period and stay OK), then one period to settle (and until the
  tasks looked at have all queried), then the two modes, each for one period (so
  each spans one of the fleet's query bursts); the tasks the first mode makes
  stay for the second.

For information, kapacitord's VmRSS and live Go heap (after a GC) on the fresh server
and after the 1,000 tasks, with the growth per task (likewise around each idle
mode), and how fast the 1,000 were made (BULK_CONCURRENCY in flight). The
machine and both servers' versions go with the figures (``server``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from _common import BULK_CONCURRENCY, TASK_SUFFIX, check, rounded, say
from _kapacitor import (
    API,
    BareClient,
    RealServer,
    per_second,
    real_binaries,
    real_server,
    server_facts,
    server_line,
    skipped,
)

from deadman_local.real_kapacitor import Binaries

IN_FLIGHT = (1, 8)
BUSY_TASKS = 1_000
BUSY_PERIOD_S = 20
IDLE_SECONDS = 10.0
# How many of the busy tasks are looked at to confirm they query InfluxDB.
SAMPLED = 20


def busy_vars(period_s: float) -> dict[str, Any]:
    return {"period": {"type": "duration", "value": f"{period_s:g}s"}}


@contextlib.contextmanager
def feeding(server: RealServer, devices: Sequence[str], every: float) -> Iterator[None]:
    """Write one point for each device every ``every`` seconds while the block runs."""
    lines = [f"{device},ty=F value=1" for device in devices]
    stop = threading.Event()

    def feed() -> None:
        while True:
            server.real.write(lines)
            if stop.wait(every):
                return

    feeder = threading.Thread(target=feed, name="feeder", daemon=True)
    server.real.write(lines)
    feeder.start()
    try:
        yield
    finally:
        stop.set()
        feeder.join(timeout=30)


def queried(server: RealServer, devices: Sequence[str], timeout: float) -> int:
    """How many of ``devices``' tasks have run their InfluxDB query at least once,
    waiting up to ``timeout`` seconds for all of them."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"{server.url}{API}/tasks/", timeout=30) as client:

        def ran(device: str) -> bool:
            stats = client.get(device + TASK_SUFFIX).json()["stats"]["node-stats"]
            return int(stats["query1"]["batches_queried"]) >= 1

        while True:
            done = sum(ran(device) for device in devices)
            if done == len(devices) or time.monotonic() > deadline:
                return done
            time.sleep(1.0)


def memory_growth(fresh: dict[str, float], after: dict[str, float], tasks: int) -> dict[str, float]:
    """``<figure>_fresh``, ``<figure>_after`` and the growth per task in KiB, of each
    figure of ``RealServer.memory()`` (``rss_mb`` gives ``rss_kib_per_task``)."""
    grown: dict[str, float] = {}
    for name, before in fresh.items():
        grown[f"{name}_fresh"] = before
        grown[f"{name}_after"] = after[name]
        per_task = (after[name] - before) * 1024 / tasks
        grown[f"{name.removesuffix('_mb')}_kib_per_task"] = rounded(per_task, 1)
    return grown


def idle(binaries: Binaries, in_flight: int, seconds: float) -> dict[str, Any]:
    with real_server(binaries) as server:
        client = BareClient(server.url)
        fresh = server.memory()
        client.create("idle-warm-up")
        outcome = client.create_for(f"idle{in_flight}", in_flight, seconds)
        made = [f"idle{in_flight}-{i}" for i in range(outcome["tasks"])]
        server.check_running(f"idle{in_flight}-*", made)
        outcome |= memory_growth(fresh, server.memory(), len(made) + 1)
    say(f"kapacitor rates: idle, {in_flight} in flight: {outcome['tasks_per_second']} tasks/s")
    return outcome


def busy(
    binaries: Binaries, tasks: int, period_s: float, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The busy server's rates, and what it took to make it busy."""
    devices = [f"busy-{i}" for i in range(tasks)]
    with real_server(binaries) as server, feeding(server, devices, period_s / 4):
        client = BareClient(server.url)
        fresh = server.memory()
        setup_s = BareClient(server.url, busy_vars(period_s)).create_all(devices, BULK_CONCURRENCY)
        say(f"kapacitor rates: {tasks} busy tasks made in {setup_s:.1f} s; settling {period_s} s")
        time.sleep(period_s)
        server.check_running("busy-*", devices)
        sample = sorted({*devices[:: max(1, tasks // SAMPLED)], devices[-1]})
        ran = queried(server, sample, 2 * period_s)
        check(ran == len(sample), f"only {ran} of {len(sample)} busy tasks queried InfluxDB")
        with_tasks = server.memory()
        client.create("busy-warm-up")
        modes = {}
        for in_flight in IN_FLIGHT:
            modes[str(in_flight)] = client.create_for(f"load{in_flight}", in_flight, seconds)
            say(
                f"kapacitor rates: busy, {in_flight} in flight: "
                f"{modes[str(in_flight)]['tasks_per_second']} tasks/s"
            )
        alerts = server.alerts.received
    setup = {
        "tasks": tasks,
        "period_s": period_s,
        "feed_every_s": period_s / 4,
        "setup_seconds": rounded(setup_s),
        "setup_tasks_per_second": per_second(tasks, setup_s),
        "sampled_tasks_that_queried": ran,
        "alerts_received": alerts,
        **memory_growth(fresh, with_tasks, tasks),
    }
    return modes, setup


def run(
    busy_tasks: int = BUSY_TASKS,
    busy_period_s: float = BUSY_PERIOD_S,
    idle_seconds: float = IDLE_SECONDS,
) -> dict[str, Any]:
    binaries, reason = real_binaries()
    if binaries is None:
        return skipped(reason)
    result = server_facts(binaries)
    result["idle"] = {str(n): idle(binaries, n, idle_seconds) for n in IN_FLIGHT}
    result["busy"], result["busy_setup"] = busy(binaries, busy_tasks, busy_period_s, busy_period_s)
    result["idle_seconds"] = idle_seconds
    result["busy_seconds"] = busy_period_s
    return result


def markdown(rates: dict[str, Any]) -> list[str]:
    """results.md's section."""
    if not rates["available"]:
        return ["## Task creation on a real Kapacitor", "", f"Skipped: {rates['reason']}.", ""]
    setup = rates["busy_setup"]
    busy = f"busy ({setup['tasks']:,} tasks, {setup['period_s']:g} s period)"
    rows = [("idle (fresh)", mode) for mode in rates["idle"].values()]
    rows += [(busy, mode) for mode in rates["busy"].values()]
    lines = [
        "## Task creation on a real Kapacitor",
        "",
        f"{server_line(rates)}. A task is a GET (404) and a POST from the template, as the "
        f"functions make one; idle for {rates['idle_seconds']:g} s, busy for "
        f"{rates['busy_seconds']:g} s per mode.",
        "",
        "| server | in flight | tasks | seconds | tasks/s | p50 ms per task | max ms per task |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {server} | {m['in_flight']} | {m['tasks']:,} | {m['seconds']:.2f} | "
        f"{m['tasks_per_second']:.1f} | {m['p50_ms_per_task']:.1f} | {m['max_ms_per_task']:.1f} |"
        for server, m in rows
    ]
    idle_memory = "; ".join(
        f"{m['tasks'] + 1:,} tasks made {m['in_flight']} in flight: {_memory(m)}"
        for m in rates["idle"].values()
    )
    return [
        *lines,
        "",
        f"kapacitord memory (information), fresh to after the tasks: idle, {idle_memory}; busy, "
        f"the {setup['tasks']:,} tasks: {_memory(setup)}. The {setup['tasks']:,} were made at "
        f"{setup['setup_tasks_per_second']} tasks/s ({BULK_CONCURRENCY} in flight); "
        f"{setup['alerts_received']} alerts reached the endpoint while busy. No target.",
        "",
    ]


def _memory(m: dict[str, Any]) -> str:
    return (
        f"VmRSS {m['rss_mb_fresh']} to {m['rss_mb_after']} MB ({m['rss_kib_per_task']} KiB per "
        f"task), live Go heap {m['go_heap_mb_fresh']} to {m['go_heap_mb_after']} MB "
        f"({m['go_heap_kib_per_task']} KiB per task)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--busy-tasks", type=int, default=BUSY_TASKS)
    parser.add_argument(
        "--busy-period", type=float, default=BUSY_PERIOD_S, help="seconds; also each busy mode's"
    )
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args()
    print(json.dumps(run(args.busy_tasks, args.busy_period, args.idle_seconds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
