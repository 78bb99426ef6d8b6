"""The ordered layout's throughput on a real Kapacitor 1.5.7: one event at a time.

``device_lifecycle`` runs under gunicorn as its Knative Service does, against a
fresh real Kapacitor and InfluxDB with the project's template. Events are POSTed
as an ordered KafkaSource delivers one partition: each only once the previous one
was answered.

* **single-device events**: N ``device-created`` (a new task each), then N
  ``device-disabled``, N ``device-enabled`` and N ``device-deleted``: events per
  second of each kind;
* **one bulk event** naming M new devices: tasks per second (the event's devices
  are spread over ``BULK_CONCURRENCY`` calls in flight).

Baseline from the same run, on another fresh server: the bare client making the
same N creates one at a time (a GET 404 and a POST each, no function in between);
``created_ratio_to_bare`` is what the function and the ordered delivery add.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import httpx
from _common import BULK_CONCURRENCY, check, lifecycle_env, rounded, say, timed, wrapped_delivery
from _kapacitor import BareClient, per_second, real_binaries, real_server, server_facts, skipped

from deadman_local.functions import FunctionProcess
from deadman_local.real_kapacitor import Binaries

SINGLE_EVENTS = 200
BULK_DEVICES = 500
KINDS = ("device-created", "device-disabled", "device-enabled", "device-deleted")


def _one_at_a_time(function: FunctionProcess, kind: str, devices: list[str], offset: int) -> float:
    """Seconds to deliver one ``kind`` event per device, each after the previous answer."""
    with httpx.Client(timeout=600) as client, timed() as elapsed:
        for number, device in enumerate(devices):
            headers, body = wrapped_delivery(kind, [device], offset + number, offset + number)
            answer = client.post(function.url, headers=headers, content=body)
            check(answer.status_code == 200, f"{kind} {device}: {answer.status_code} {answer.text}")
    return elapsed[0]


def _function(binaries: Binaries, single: int, bulk: int) -> dict[str, Any]:
    devices = [f"ord-{n:04d}" for n in range(single)]
    with (
        real_server(binaries) as server,
        FunctionProcess(
            "device_lifecycle", env=lifecycle_env(server.url), stdout=subprocess.DEVNULL
        ) as function,
    ):
        kinds: dict[str, Any] = {}
        for index, kind in enumerate(KINDS):
            seconds = _one_at_a_time(function, kind, devices, index * single)
            kinds[kind] = {
                "events": single,
                "seconds": rounded(seconds),
                "events_per_second": per_second(single, seconds),
            }
            if kind == "device-created":
                server.check_running("ord-*", devices)
        check(not server.tasks("ord-*"), "the deleted devices' tasks are still there")
        many = [f"bulk-{n:05d}" for n in range(bulk)]
        headers, body = wrapped_delivery("device-created", many, 10 * single, 10 * single)
        with httpx.Client(timeout=600) as client, timed() as elapsed:
            answer = client.post(function.url, headers=headers, content=body)
        check(answer.status_code == 200, f"bulk event: {answer.status_code} {answer.text[:300]}")
        server.check_running("bulk-*", many)
    return {
        "single": kinds,
        "bulk": {
            "devices": bulk,
            "seconds": rounded(elapsed[0]),
            "tasks_per_second": per_second(bulk, elapsed[0]),
        },
    }


def run(single: int = SINGLE_EVENTS, bulk: int = BULK_DEVICES) -> dict[str, Any]:
    binaries, reason = real_binaries()
    if binaries is None:
        return skipped(reason)
    result = server_facts(binaries)
    say(f"ordered lifecycle: {single} events of each kind one at a time, then {bulk} in one")
    result.update(_function(binaries, single, bulk))
    with real_server(binaries) as server:
        bare = BareClient(server.url).create_all([f"bare-{n:04d}" for n in range(single)], 1)
    created = result["single"]["device-created"]
    result["bare_created"] = {"seconds": rounded(bare), "per_second": per_second(single, bare)}
    result["created_ratio_to_bare"] = rounded(created["seconds"] / bare)
    result["bulk_concurrency"] = BULK_CONCURRENCY
    say(
        f"ordered lifecycle: created {created['events_per_second']}/s "
        f"(bare client {result['bare_created']['per_second']}/s, "
        f"ratio {result['created_ratio_to_bare']}); bulk {result['bulk']['tasks_per_second']}/s"
    )
    return result


def markdown(ordered: dict[str, Any]) -> list[str]:
    """results.md's section."""
    title = "## Ordered lifecycle on a real Kapacitor (one event at a time)"
    if not ordered["available"]:
        return [title, "", f"Skipped: {ordered['reason']}.", ""]
    lines = [
        title,
        "",
        "| events | count | seconds | per second |",
        "|---|---:|---:|---:|",
    ]
    for kind, figures in ordered["single"].items():
        lines.append(
            f"| {kind}, one device each | {figures['events']} | {figures['seconds']:.2f} | "
            f"{figures['events_per_second']} |"
        )
    bulk = ordered["bulk"]
    lines += [
        f"| one device-created naming {bulk['devices']} devices | 1 | {bulk['seconds']:.2f} | "
        f"{bulk['tasks_per_second']} tasks |",
        "",
        f"Bare client, the same creates one at a time: {ordered['bare_created']['per_second']}/s; "
        f"created events take {ordered['created_ratio_to_bare']}x its time.",
        "",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=SINGLE_EVENTS)
    parser.add_argument("--bulk", type=int, default=BULK_DEVICES)
    args = parser.parse_args()
    print(json.dumps(run(args.single, args.bulk), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
