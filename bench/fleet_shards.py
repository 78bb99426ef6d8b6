"""A bulk enable event through the lifecycle function on one real Kapacitor and on
three (``KAPACITOR_URLS``), each shard with its own InfluxDB, all fresh.

The function process is the one the bulk benchmark runs (``enable_alert`` under
gunicorn, ``BULK_CONCURRENCY`` calls in flight per shard); the event names the same
number of devices both times. After each run every device's task must be on its
own shard (rendezvous hashing, ``deadman.shard_of``) and on no other.

Every process's CPU seconds over the delivery are kept (the kapacitords, the
influxds, the function's workers): on a machine whose cores are all busy with one
shard, three shards on the same machine cannot go faster, and these figures say
which process the cores went to. ``cores_busy`` is the sum over the run's wall time.

So the runs are done twice: free (every process on every core), and pinned (each
shard's kapacitord and influxd on a core of its own: one shard on one core, then as
many shards as the machine has cores), the closest this one machine comes to a
shard per machine. The function's workers are not pinned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import (
    BULK_CONCURRENCY,
    TASK_SUFFIX,
    check,
    children_of,
    cpu_of,
    cpu_since,
    lifecycle_env,
    rounded,
    say,
)
from _kapacitor import RealServer, per_second, real_server
from bulk_lifecycle import _client, deliver, warm_up

from deadman import parse_shard_urls, shard_of
from deadman_local.functions import FunctionProcess
from deadman_local.real_kapacitor import Binaries

SHARD_COUNTS = (1, 3)


@contextlib.contextmanager
def servers(binaries: Binaries, count: int) -> Iterator[list[RealServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(real_server(binaries)) for _ in range(count)]


def pin(pid: int, core: int) -> None:
    """Every thread of ``pid`` on ``core``; threads it starts later inherit it."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), {core})


def bulk(
    binaries: Binaries, count: int, devices: int, log_dir: Path, *, pinned: bool = False
) -> dict[str, Any]:
    names = [f"shard{count}{'p' if pinned else ''}-{i}" for i in range(devices)]
    with servers(binaries, count) as shards:
        if pinned:
            for core, server in enumerate(shards):
                for pid in (server.real.kapacitor_pid(), server.real.influxdb_pid()):
                    assert pid is not None
                    pin(pid, core)
        urls = ",".join(server.url for server in shards)
        env = lifecycle_env(shards[0].url, KAPACITOR_URLS=urls)
        del env["KAPACITOR_URL"]  # one list of Kapacitors, not two
        with (
            FunctionProcess(
                "enable_alert", env=env, log_path=log_dir / f"enable_alert-{count}-shards.log"
            ) as function,
            _client() as client,
        ):
            warm_up(function.url, client)
            pids = _pids(shards, function)
            before = cpu_of(pids)
            seconds = deliver(function.url, client, names)
            cpu = cpu_since(pids, before)
        placed = parse_shard_urls(urls)
        keys = [shard.key for shard in placed]
        by_url = {server.url: server for server in shards}
        for shard in placed:
            mine = [d for d in names if shard_of(d, keys) == shard.key]
            found = by_url[shard.url].tasks(names[0].split("-")[0] + "-*")
            check(
                sorted(found) == sorted(d + TASK_SUFFIX for d in mine),
                f"{shard.url}: {len(found)} tasks where {len(mine)} belong",
            )
    say(f"shards: {devices} devices over {count}{' pinned' if pinned else ''}: {seconds:.2f} s")
    by_role: dict[str, float] = {}
    for name, used in cpu.items():
        role = name.split("-")[0]
        by_role[role] = rounded(by_role.get(role, 0.0) + used, 2)
    return {
        "shards": count,
        "pinned": pinned,
        "seconds": rounded(seconds),
        "tasks_per_second": per_second(devices, seconds),
        "cpu_seconds": by_role,
        "cores_busy": rounded(sum(cpu.values()) / seconds, 2),
        "kapacitord_cpu_ms_per_task": rounded(1000 * by_role["kapacitord"] / devices, 1),
    }


def _pids(shards: list[RealServer], function: FunctionProcess) -> dict[str, int]:
    """The processes that work during a delivery, named ``<role>-<n>``."""
    assert function.pid is not None
    pids = {f"function-{n}": pid for n, pid in enumerate(children_of(function.pid))}
    for n, server in enumerate(shards):
        kapacitord, influxd = server.real.kapacitor_pid(), server.real.influxdb_pid()
        assert kapacitord is not None
        assert influxd is not None
        pids[f"kapacitord-{n}"], pids[f"influxd-{n}"] = kapacitord, influxd
    return pids


def run(binaries: Binaries, devices: int, log_dir: Path) -> dict[str, Any]:
    runs = {str(count): bulk(binaries, count, devices, log_dir) for count in SHARD_COUNTS}
    cores = len(os.sched_getaffinity(0))
    for count in sorted({1, cores}):
        runs[f"{count}_pinned"] = bulk(binaries, count, devices, log_dir, pinned=True)
    one, three = runs["1"]["seconds"], runs["3"]["seconds"]
    return {
        "devices": devices,
        "bulk_concurrency_per_shard": BULK_CONCURRENCY,
        "cores": cores,
        "runs": runs,
        "speed_up_3_over_1": rounded(one / three, 2),
        # A shard per core over one shard on one core.
        "speed_up_pinned": rounded(
            runs["1_pinned"]["seconds"] / runs[f"{cores}_pinned"]["seconds"], 2
        ),
    }


def markdown(shards: dict[str, Any]) -> list[str]:
    runs = shards["runs"]
    lines = [
        f"## Shards: a bulk enable of {shards['devices']:,} devices through the function",
        "",
        "| shards | pinned | seconds | tasks/s | kapacitord CPU s | influxd CPU s | function CPU s "
        "| cores busy | kapacitord CPU ms/task |",
        "|---:|:--|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['shards']} | {'a core each' if r['pinned'] else 'no'} | {r['seconds']:.2f} "
        f"| {r['tasks_per_second']:g} "
        f"| {r['cpu_seconds']['kapacitord']:g} | {r['cpu_seconds']['influxd']:g} "
        f"| {r['cpu_seconds'].get('function', 0):g} | {r['cores_busy']:g} "
        f"| {r['kapacitord_cpu_ms_per_task']:g} |"
        for r in runs.values()
    ]
    return [
        *lines,
        "",
        f"Three shards over one, all on this machine's {shards['cores']} cores: "
        f"{shards['speed_up_3_over_1']}x; a shard per core over one shard on one core: "
        f"{shards['speed_up_pinned']}x ({shards['bulk_concurrency_per_shard']} calls in "
        "flight per shard; every shard with its own InfluxDB).",
        "",
    ]
