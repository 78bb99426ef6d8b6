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
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from _common import (
    KAPACITOR_DB,
    TASK_SUFFIX,
    TEMPLATE_ID,
    EmulatorProcess,
    call_delta,
    check,
    children_of,
    event_time,
    lifecycle_env,
    py_spy,
    rounded,
    say,
    timed,
    wrapped_delivery,
)

from deadman_local.functions import FunctionProcess

SIZES = (200, 2_000, 20_000)
SERVICE_TIME_S = 0.010
CONCURRENCY = 8
RATIO_TARGET = 1.2
FLOOR_RATIO_TARGET = 1.15
LINEAR_GROWTH_MAX = 1.1


def _task_body(device: str) -> bytes:
    """The create body the rules send (all vars, event time and id included)."""
    task_id = device + TASK_SUFFIX
    variables = {
        "name": {"type": "string", "value": task_id},
        "measurement": {"type": "string", "value": device},
        "db": {"type": "string", "value": KAPACITOR_DB},
        "rp": {"type": "string", "value": "autogen"},
        "deadman_event_time": {"type": "string", "value": event_time(2)},
        "deadman_event_id": {"type": "string", "value": "bench-device-enabled-1"},
    }
    body = {
        "id": task_id,
        "template-id": TEMPLATE_ID,
        "dbrps": [{"db": KAPACITOR_DB, "rp": "autogen"}],
        "vars": variables,
        "status": "enabled",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def floor_seconds(devices: int) -> float:
    """The same 2N calls from a minimal client, straight to a fresh emulator."""
    names = [f"floor{devices}-{i}" for i in range(devices)]
    bodies = {name: _task_body(name) for name in [*names, "floor-warm-up"]}
    local = threading.local()
    with EmulatorProcess(SERVICE_TIME_S * 1000, CONCURRENCY) as emulator:
        address = urlsplit(emulator.url)

        def connection() -> http.client.HTTPConnection:
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection(
                    address.hostname or "127.0.0.1", address.port, timeout=60
                )
            made: http.client.HTTPConnection = local.connection
            return made

        def one(name: str) -> None:
            api = connection()
            api.request("GET", f"/kapacitor/v1/tasks/{name}{TASK_SUFFIX}?script-format=raw")
            found = api.getresponse()
            found.read()
            check(found.status == 404, f"floor: GET {name} answered {found.status}")
            api.request(
                "POST", "/kapacitor/v1/tasks", bodies[name], {"Content-Type": "application/json"}
            )
            created = api.getresponse()
            created.read()
            check(created.status == 200, f"floor: POST {name} answered {created.status}")

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            one("floor-warm-up")
            with timed() as elapsed:
                list(pool.map(one, names))
        state = emulator.state()
        missing = [n for n in names if n + TASK_SUFFIX not in state["tasks"]]
        check(not missing, f"floor: {len(missing)} tasks missing")
    return elapsed[0]


def run_one(devices: int, log_dir: Path, profile_dir: Path | None = None) -> dict[str, Any]:
    names = [f"bulk{devices}-{i}" for i in range(devices)]
    with (
        EmulatorProcess(SERVICE_TIME_S * 1000, CONCURRENCY) as emulator,
        FunctionProcess(
            "enable_alert",
            env=lifecycle_env(emulator.url),
            log_path=log_dir / f"enable_alert-{devices}.log",
        ) as function,
        httpx.Client(timeout=httpx.Timeout(600.0, connect=5.0)) as client,
    ):
        headers, body = wrapped_delivery("device-enabled", ["warm-up"], 1, 0)
        warm = client.post(function.url, headers=headers, content=body)
        check(warm.status_code == 200, f"warm-up answered {warm.status_code}: {warm.text}")
        before = EmulatorProcess.call_counts(emulator.state())

        headers, body = wrapped_delivery("device-enabled", names, 2, 1)
        assert function.pid is not None
        pids = {
            f"bulk{devices}-function-worker": children_of(function.pid)[0],
            f"bulk{devices}-emulator": emulator.pid,
        }
        with py_spy(pids, profile_dir), timed() as elapsed:
            response = client.post(function.url, headers=headers, content=body)
        seconds = elapsed[0]
        check(
            response.status_code == 200,
            f"{devices} devices: answered {response.status_code}: {response.text[:500]}",
        )

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


def run(
    sizes: tuple[int, ...] = SIZES, log_dir: Path | None = None, profile_dir: Path | None = None
) -> dict[str, Any]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    entries = [run_one(n, log_dir, profile_dir) for n in sizes]
    per_device = [e["ms_per_device"] for e in entries]
    # Linear: a device costs no more at a larger N than at the one before (10 %
    # allowed for noise); a fixed cost per event makes the smallest N dearer.
    growth = [later / earlier for earlier, later in itertools.pairwise(per_device)]
    return {
        "entries": entries,
        "service_time_s": SERVICE_TIME_S,
        "concurrency": CONCURRENCY,
        "bulk_concurrency": 8,
        "ms_per_device_spread": rounded(max(per_device) / min(per_device)),
        "ms_per_device_growth": [rounded(g) for g in growth],
        "linear": all(g <= LINEAR_GROWTH_MAX for g in growth),
        "target": {"ratio_to_limit_max": RATIO_TARGET, "ratio_to_floor_max": FLOOR_RATIO_TARGET},
        "met": all(e["ratio_to_limit"] <= RATIO_TARGET for e in entries),
        "met_floor": all(e["ratio_to_floor"] <= FLOOR_RATIO_TARGET for e in entries),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks into this folder")
    args = parser.parse_args()
    print(json.dumps(run(tuple(args.sizes), profile_dir=args.profile), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
