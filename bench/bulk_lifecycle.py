"""Bulk lifecycle: one device-enabled event naming N devices, against a Kapacitor
that serves at most C calls at once, each taking S.

The event is delivered as a KafkaSource delivers it (wrapped, binary mode) to
``enable_alert`` under gunicorn. The Kapacitor API emulator runs in its own process
with S = 10 ms and C = 8. No task exists beforehand, so the rules need one GET
(404) and one POST per device: ``calls_needed = 2N`` and the limit is
``2N x S / C``. A warm-up event for one other device goes first, so the figure
is the bulk path, not the worker's first request.

Beside it, in the same run, the harness floor: the same 2N calls (GET 404, then
POST of the same task body) from 8 threads over keep-alive ``http.client``
connections, straight to a fresh emulator with the same S and C, with no function
in between. The floor is what the emulator, the loopback and a minimal Python
client cost on this machine at this moment; ``ratio_to_floor`` is what the
function adds on top of it (gunicorn, the event, the rules, httpx, the logs).

When ``deadman_local.real_kapacitor.find_binaries()`` finds them, the same event
(200 and 1,000 devices: a real server makes tens of tasks a second) also goes to
a fresh real Kapacitor 1.5.7 with InfluxDB and the project's template, and the
floor is the same bare client against another fresh real server. There is no
limit there (the server's capacity is what is measured), only tasks/s and the
ratio to the floor. Without the binaries one line says why and only the emulator
runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BULK_CONCURRENCY,
    TASK_SUFFIX,
    EmulatorProcess,
    call_delta,
    check,
    children_of,
    lifecycle_env,
    py_spy,
    rounded,
    say,
    timed,
    wrapped_delivery,
)
from _kapacitor import (
    EVENT_OFFSET,
    EVENT_SECONDS,
    BareClient,
    per_second,
    real_binaries,
    real_server,
    server_facts,
    server_line,
    skipped,
)

from deadman_local.functions import FunctionProcess
from deadman_local.real_kapacitor import Binaries

SIZES = (200, 2_000, 20_000)
REAL_SIZES = (200, 1_000)
BACKENDS = ("emulator", "real")
SERVICE_TIME_S = 0.010
CONCURRENCY = 8
RATIO_TARGET = 1.2
FLOOR_RATIO_TARGET = 1.15
LINEAR_GROWTH_MAX = 1.1


def floor_seconds(devices: int) -> float:
    """The same 2N calls from a minimal client, straight to a fresh emulator."""
    names = [f"floor{devices}-{i}" for i in range(devices)]
    with EmulatorProcess(SERVICE_TIME_S * 1000, CONCURRENCY) as emulator:
        client = BareClient(emulator.url)
        client.create("floor-warm-up")
        seconds = client.create_all(names, CONCURRENCY)
        state = emulator.state()
        missing = [n for n in names if n + TASK_SUFFIX not in state["tasks"]]
        check(not missing, f"floor: {len(missing)} tasks missing")
    return seconds


def deliver(function_url: str, client: httpx.Client, devices: list[str]) -> float:
    """The bulk event for ``devices`` to the function; seconds until its 200."""
    headers, body = wrapped_delivery("device-enabled", devices, EVENT_SECONDS, EVENT_OFFSET)
    with timed() as elapsed:
        response = client.post(function_url, headers=headers, content=body)
    check(
        response.status_code == 200,
        f"{len(devices)} devices: answered {response.status_code}: {response.text[:500]}",
    )
    return elapsed[0]


def warm_up(function_url: str, client: httpx.Client) -> None:
    headers, body = wrapped_delivery("device-enabled", ["warm-up"], 1, 0)
    warm = client.post(function_url, headers=headers, content=body)
    check(warm.status_code == 200, f"warm-up answered {warm.status_code}: {warm.text}")


def _client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(600.0, connect=5.0))


def run_one(devices: int, log_dir: Path, profile_dir: Path | None = None) -> dict[str, Any]:
    names = [f"bulk{devices}-{i}" for i in range(devices)]
    with (
        EmulatorProcess(SERVICE_TIME_S * 1000, CONCURRENCY) as emulator,
        FunctionProcess(
            "enable_alert",
            env=lifecycle_env(emulator.url),
            log_path=log_dir / f"enable_alert-{devices}.log",
        ) as function,
        _client() as client,
    ):
        warm_up(function.url, client)
        before = EmulatorProcess.call_counts(emulator.state())
        assert function.pid is not None
        pids = {
            f"bulk{devices}-function-worker": children_of(function.pid)[0],
            f"bulk{devices}-emulator": emulator.pid,
        }
        with py_spy(pids, profile_dir):
            seconds = deliver(function.url, client, names)

        state = emulator.state()
        calls = call_delta(before, EmulatorProcess.call_counts(state))
        tasks = state["tasks"]
        missing = [n for n in names if n + TASK_SUFFIX not in tasks]
        check(not missing, f"{len(missing)} of {devices} tasks missing, e.g. {missing[:3]}")
        wrong = [
            n
            for n in names
            if tasks[n + TASK_SUFFIX]["status"] != "enabled"
            or not tasks[n + TASK_SUFFIX]["executing"]
        ]
        check(not wrong, f"{len(wrong)} of {devices} tasks not enabled and running: {wrong[:3]}")
        capacity = state["capacity"]
        check(
            capacity["peak"] <= CONCURRENCY,
            f"the emulator served {capacity['peak']} calls at once (C = {CONCURRENCY})",
        )

    floor = floor_seconds(devices)
    total_calls = sum(calls.values())
    calls_needed = 2 * devices
    limit = calls_needed * SERVICE_TIME_S / CONCURRENCY
    entry = {
        "devices": devices,
        "seconds": rounded(seconds),
        "calls": total_calls,
        "calls_by_kind": calls,
        "calls_needed": calls_needed,
        "limit_seconds": rounded(limit),
        "ratio_to_limit": rounded(seconds / limit),
        "ms_per_device": rounded(seconds / devices * 1000),
        "devices_per_second": rounded(devices / seconds, 1),
        "floor_seconds": rounded(floor),
        "floor_ratio_to_limit": rounded(floor / limit),
        "ratio_to_floor": rounded(seconds / floor),
    }
    say(
        f"bulk {devices}: {seconds:.2f} s, {total_calls} calls, limit {limit:.2f} s, "
        f"ratio {seconds / limit:.3f}; floor {floor:.2f} s (ratio {floor / limit:.3f})"
    )
    return entry


def run_one_real(devices: int, binaries: Binaries, log_dir: Path) -> dict[str, Any]:
    """The bulk event to the function on a fresh real server, and the floor on another."""
    names = [f"real{devices}-{i}" for i in range(devices)]
    with (
        real_server(binaries) as server,
        FunctionProcess(
            "enable_alert",
            env=lifecycle_env(server.url),
            log_path=log_dir / f"enable_alert-real-{devices}.log",
        ) as function,
        _client() as client,
    ):
        warm_up(function.url, client)
        seconds = deliver(function.url, client, names)
        server.check_running(f"real{devices}-*", names)
    floor_names = [f"floor{devices}-{i}" for i in range(devices)]
    with real_server(binaries) as server:
        bare = BareClient(server.url)
        bare.create("floor-warm-up")
        floor = bare.create_all(floor_names, BULK_CONCURRENCY)
        server.check_running(f"floor{devices}-*", floor_names)
    say(
        f"bulk {devices} on real Kapacitor: {seconds:.2f} s ({devices / seconds:.1f} tasks/s); "
        f"floor {floor:.2f} s, ratio {seconds / floor:.3f}"
    )
    return {
        "devices": devices,
        "seconds": rounded(seconds),
        "tasks_per_second": per_second(devices, seconds),
        "ms_per_device": rounded(seconds / devices * 1000),
        "floor_seconds": rounded(floor),
        "floor_tasks_per_second": per_second(devices, floor),
        "ratio_to_floor": rounded(seconds / floor),
    }


def run_real(sizes: tuple[int, ...], log_dir: Path) -> dict[str, Any]:
    """The real-server half, or why there is none."""
    binaries, reason = real_binaries()
    if binaries is None:
        return skipped(reason)
    facts = server_facts(binaries)
    entries = [run_one_real(n, binaries, log_dir) for n in sizes]
    return {**facts, "bulk_concurrency": BULK_CONCURRENCY, "entries": entries}


def run_emulator(
    sizes: tuple[int, ...], log_dir: Path, profile_dir: Path | None = None
) -> dict[str, Any]:
    entries = [run_one(n, log_dir, profile_dir) for n in sizes]
    per_device = [e["ms_per_device"] for e in entries]
    # Linear: a device costs no more at a larger N than at the one before (10 %
    # allowed for noise); a fixed cost per event makes the smallest N dearer.
    growth = [later / earlier for earlier, later in itertools.pairwise(per_device)]
    return {
        "entries": entries,
        "service_time_s": SERVICE_TIME_S,
        "concurrency": CONCURRENCY,
        "bulk_concurrency": BULK_CONCURRENCY,
        "ms_per_device_spread": rounded(max(per_device) / min(per_device)),
        "ms_per_device_growth": [rounded(g) for g in growth],
        "linear": all(g <= LINEAR_GROWTH_MAX for g in growth),
        "target": {"ratio_to_limit_max": RATIO_TARGET, "ratio_to_floor_max": FLOOR_RATIO_TARGET},
        "met": all(e["ratio_to_limit"] <= RATIO_TARGET for e in entries),
        "met_floor": all(e["ratio_to_floor"] <= FLOOR_RATIO_TARGET for e in entries),
    }


def run(
    sizes: tuple[int, ...] = SIZES,
    log_dir: Path | None = None,
    profile_dir: Path | None = None,
    real_sizes: tuple[int, ...] = REAL_SIZES,
    backends: tuple[str, ...] = BACKENDS,
) -> dict[str, Any]:
    """The emulator's figures at the top level (as before), the real server's in ``real``."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    result = run_emulator(sizes, log_dir, profile_dir) if "emulator" in backends else {}
    if "real" in backends:
        result["real"] = run_real(real_sizes, log_dir)
    return result


def real_markdown(real: dict[str, Any], emulator: list[dict[str, Any]] | None) -> list[str]:
    """results.md's table of the real server, and the ratio to floor per backend."""
    if not real["available"]:
        return ["## Bulk lifecycle on a real Kapacitor", "", f"Skipped: {real['reason']}.", ""]
    lines = [
        f"## Bulk lifecycle on a real Kapacitor (enable, BULK_CONCURRENCY = "
        f"{real['bulk_concurrency']})",
        "",
        f"{server_line(real)}. Fresh servers for the function and for the floor.",
        "",
        "| devices | seconds | tasks/s | ms per device | floor (s) | floor tasks/s "
        "| ratio to floor |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {e['devices']:,} | {e['seconds']:.2f} | {e['tasks_per_second']:.1f} | "
        f"{e['ms_per_device']:.2f} | {e['floor_seconds']:.2f} | "
        f"{e['floor_tasks_per_second']:.1f} | {e['ratio_to_floor']:.3f} |"
        for e in real["entries"]
    ]
    by_backend = {"real Kapacitor": real["entries"]}
    if emulator:
        by_backend = {"emulator": emulator, **by_backend}
    spans = [
        f"{name} {min(e['ratio_to_floor'] for e in entries):.3f}"
        f" to {max(e['ratio_to_floor'] for e in entries):.3f}"
        for name, entries in by_backend.items()
    ]
    return [*lines, "", f"Ratio to floor per backend: {', '.join(spans)}.", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="emulator")
    parser.add_argument("--real-sizes", type=int, nargs="+", default=list(REAL_SIZES))
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks into this folder")
    args = parser.parse_args()
    result = run(
        tuple(args.sizes),
        profile_dir=args.profile,
        real_sizes=tuple(args.real_sizes),
        backends=tuple(args.backend),
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
