"""A bulk enable event through the lifecycle function on one real Kapacitor and on
three (``KAPACITOR_URLS``), each shard with its own InfluxDB, all fresh.

The function process is the one the bulk benchmark runs (``enable_alert`` under
gunicorn, ``BULK_CONCURRENCY`` calls in flight per shard); the event names the same
number of devices both times. After each run every device's task must be on its
own shard (rendezvous hashing, ``deadman.shard_of``) and on no other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import BULK_CONCURRENCY, TASK_SUFFIX, check, lifecycle_env, rounded, say
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


def bulk(binaries: Binaries, count: int, devices: int, log_dir: Path) -> dict[str, Any]:
    names = [f"shard{count}-{i}" for i in range(devices)]
    with servers(binaries, count) as shards:
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
            seconds = deliver(function.url, client, names)
        placed = parse_shard_urls(urls)
        keys = [shard.key for shard in placed]
        by_url = {server.url: server for server in shards}
        for shard in placed:
            mine = [d for d in names if shard_of(d, keys) == shard.key]
            found = by_url[shard.url].tasks(f"shard{count}-*")
            check(
                sorted(found) == sorted(d + TASK_SUFFIX for d in mine),
                f"{shard.url}: {len(found)} tasks where {len(mine)} belong",
            )
    say(f"shards: {devices} devices over {count}: {seconds:.2f} s")
    return {
        "shards": count,
        "seconds": rounded(seconds),
        "tasks_per_second": per_second(devices, seconds),
    }


def run(binaries: Binaries, devices: int, log_dir: Path) -> dict[str, Any]:
    runs = {str(count): bulk(binaries, count, devices, log_dir) for count in SHARD_COUNTS}
    one, three = runs["1"]["seconds"], runs["3"]["seconds"]
    return {
        "devices": devices,
        "bulk_concurrency_per_shard": BULK_CONCURRENCY,
        "runs": runs,
        "speed_up_3_over_1": rounded(one / three, 2),
    }


def markdown(shards: dict[str, Any]) -> list[str]:
    runs = shards["runs"]
    lines = [
        f"## Shards: a bulk enable of {shards['devices']:,} devices through the function",
        "",
        "| shards | seconds | tasks/s |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {r['shards']} | {r['seconds']:.2f} | {r['tasks_per_second']:g} |" for r in runs.values()
    ]
    return [
        *lines,
        "",
        f"Three shards over one: {shards['speed_up_3_over_1']}x "
        f"({shards['bulk_concurrency_per_shard']} calls in flight per shard; every shard "
        "with its own InfluxDB, all on this machine).",
        "",
    ]
