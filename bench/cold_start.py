"""Cold start: process launch to first 2xx, import time, worker memory.

* ``first_response_s``: from ``FunctionProcess.start()`` (gunicorn's master
  imports ``functions/main.py``, forks its worker) to the first 2xx answer, for
  each of the five targets; the lifecycle targets get one valid wrapped event for
  one device against the Kapacitor emulator (create, enable, disable and delete
  of the same device, in that order, so each one writes), the callback one alert
  with the Kafka emitter of the local run (its first alert also makes the Kafka
  producer). Median of a few launches; ``listening_s`` is the part until gunicorn
  accepts connections. ``alert_callback_k_sink`` is the callback as deployed
  (``K_SINK``, a binary CloudEvent POSTed to a receiver answering 202 like a
  KafkaSink), reported beside the five.
* ``import_ms``: ``functions_framework.create_app`` for a target in a fresh
  interpreter (imports functions-framework, Flask, ``functions/main.py`` and the
  ``deadman`` package, validates the settings); ``python -X importtime`` gives the
  per-module breakdown kept under ``bench/profiles/``.
* ``worker_rss_mb``: VmRSS of the gunicorn worker (the child of the master)
  after 1,000 requests, for ``enable_alert`` (1,000 one-device events, each
  creating a task) and ``alert_callback`` (1,000 alerts to Kafka); the figure is
  the larger. PSS (shared pages split with the master) is given beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _common import (
    PROFILES_DIR,
    ROOT,
    TASK_SUFFIX,
    EmulatorProcess,
    SinkReceiver,
    alert_body,
    callback_env,
    check,
    children_of,
    lifecycle_env,
    median,
    memory_mb,
    post_until_answered,
    rounded,
    say,
    wrapped_delivery,
)

from deadman_local.broker import EmbeddedBroker, create_topics, topic_size
from deadman_local.functions import FUNCTIONS_SOURCE, FunctionProcess

LIFECYCLE = (
    ("create_alert", "device-created"),
    ("enable_alert", "device-enabled"),
    ("disable_alert", "device-disabled"),
    ("delete_alert", "device-deleted"),
)
FIVE = ("create_alert", "enable_alert", "disable_alert", "delete_alert", "alert_callback")
TOPIC = "bench.cold-start-alerts"
FIRST_RESPONSE_TARGET_S = 1.0
RSS_TARGET_MB = 60.0
REQUESTS_FOR_RSS = 1_000
ALERT_HEADERS = {"Content-Type": "application/json"}


def _first_response(
    function: FunctionProcess, headers: dict[str, str], body: bytes
) -> tuple[float, float]:
    """Seconds from launch to listening and to the first 2xx answer to one POST."""
    try:
        with httpx.Client(timeout=30.0) as client:
            started = time.perf_counter()
            function.start()
            listening = time.perf_counter() - started
            response = post_until_answered(client, function.url, headers, body)
            elapsed = time.perf_counter() - started
    finally:
        # After the client closed its connection: gunicorn lingers on open ones.
        function.stop()
    check(
        200 <= response.status_code < 300,
        f"{function.target}: first answer {response.status_code}: {response.text[:300]}",
    )
    return listening, elapsed


def cold_starts(
    kapacitor_url: str, bootstrap: str, k_sink: str, launches: int, log_dir: Path
) -> dict[str, dict[str, Any]]:
    targets: dict[str, dict[str, Any]] = {}
    names = [t for t, _ in LIFECYCLE] + ["alert_callback", "alert_callback_k_sink"]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for launch in range(launches):
        device = f"cold-{launch}"
        for step, (target, event_type) in enumerate(LIFECYCLE):
            headers, body = wrapped_delivery(event_type, [device], 10 * launch + step + 1, step)
            function = FunctionProcess(
                target, env=lifecycle_env(kapacitor_url), log_path=log_dir / f"{target}.log"
            )
            samples[target].append(_first_response(function, headers, body))
        kafka = FunctionProcess(
            "alert_callback",
            env=callback_env(bootstrap, TOPIC),
            log_path=log_dir / "alert_callback.log",
        )
        samples["alert_callback"].append(
            _first_response(kafka, ALERT_HEADERS, alert_body(500_000 + launch))
        )
        http_sink = FunctionProcess(
            "alert_callback",
            env={"K_SINK": k_sink, "WORKERS": "1", "THREADS": "20"},
            log_path=log_dir / "alert_callback_k_sink.log",
        )
        samples["alert_callback_k_sink"].append(
            _first_response(http_sink, ALERT_HEADERS, alert_body(600_000 + launch))
        )
    for target, values in samples.items():
        firsts = [first for _listening, first in values]
        targets[target] = {
            "first_response_s": rounded(median(firsts)),
            "listening_s": rounded(median([listening for listening, _first in values])),
            "max_s": rounded(max(firsts)),
            "samples_s": [rounded(v) for v in firsts],
        }
    return targets


_IMPORT_PROBE = """
import sys, time
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app(sys.argv[1], sys.argv[2])
print(round((time.perf_counter() - started) * 1000, 1))
"""


def import_times(env: dict[str, str], target: str, runs: int) -> list[float]:
    values = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, target, str(FUNCTIONS_SOURCE)],
            env={**os.environ, **env, "FUNCTION_TARGET": target},
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        values.append(float(output.strip().splitlines()[-1]))
    return values


def import_profile(env: dict[str, str], target: str, out: Path, top: int = 30) -> None:
    """``python -X importtime`` of create_app, the heaviest modules first."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _IMPORT_PROBE, target, str(FUNCTIONS_SOURCE)],
        env={**os.environ, **env, "FUNCTION_TARGET": target},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|", 2)
        # One space after the bar, then two more per level of nesting.
        rows.append((int(cumulative), int(own), name[1:].rstrip()))
    total_ms = float(result.stdout.strip().splitlines()[-1])
    top_level = sorted((r for r in rows if not r[2].startswith(" ")), reverse=True)
    lines = [
        f"# python -X importtime: create_app({target!r}) in a fresh interpreter",
        f"create_app total: {total_ms} ms (this run, importtime's own overhead included)",
        "",
        "## top-level imports by cumulative time (us)",
        *(f"{c:9d} {o:9d}  {n}" for c, o, n in top_level[:top]),
        "",
        "## every module by own time (us)",
        *(f"{o:9d} {c:9d}  {n.strip()}" for c, o, n in sorted(rows, key=lambda r: -r[1])[:top]),
    ]
    out.write_text("\n".join(lines) + "\n")


def worker_memory(
    target: str, env: dict[str, str], make_request: Callable[[int], tuple[dict[str, str], bytes]]
) -> dict[str, float]:
    """Memory of the gunicorn worker after REQUESTS_FOR_RSS requests (4 clients)."""
    with FunctionProcess(target, env=env, stdout=subprocess.DEVNULL) as function:
        assert function.pid is not None
        workers = children_of(function.pid)
        check(len(workers) == 1, f"{target}: expected one gunicorn worker, found {workers}")

        local = threading.local()
        clients: list[httpx.Client] = []

        def send(index: int) -> int:
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=30.0)
                clients.append(local.client)
            headers, body = make_request(index)
            response = local.client.post(function.url, headers=headers, content=body)
            return int(response.status_code)

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(send, range(REQUESTS_FOR_RSS)))
        for client in clients:
            client.close()
        bad = [s for s in statuses if not 200 <= s < 300]
        check(not bad, f"{target}: {len(bad)} of {REQUESTS_FOR_RSS} requests failed: {bad[:5]}")
        figures = memory_mb(workers[0])
        master = memory_mb(function.pid)
    return {
        "rss_mb": rounded(figures["rss_mb"], 1),
        "pss_mb": rounded(figures.get("pss_mb", 0.0), 1),
        "master_rss_mb": rounded(master["rss_mb"], 1),
    }


def run(launches: int = 3, log_dir: Path | None = None) -> dict[str, Any]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-cold-"))
    with (
        EmulatorProcess() as emulator,
        EmbeddedBroker(log_path=log_dir / "tansu.log") as broker,
        SinkReceiver() as receiver,
    ):
        create_topics(broker.bootstrap_servers, [TOPIC], partitions=3)
        targets = cold_starts(
            emulator.url, broker.bootstrap_servers, receiver.url, launches, log_dir
        )
        check(receiver.received == launches, f"K_SINK got {receiver.received} of {launches}")
        tasks = emulator.state()["tasks"]
        # The last step of every launch deleted the device's task.
        check(not any(t.startswith("cold-") for t in tasks), f"tasks left behind: {sorted(tasks)}")
        alerts_sent = topic_size(broker.bootstrap_servers, TOPIC)
        check(alerts_sent == launches, f"{alerts_sent} of {launches} cold-start alerts on topic")

        say("cold start: launches done; import times")
        env = lifecycle_env(emulator.url)
        import_ms = {
            "enable_alert": median(import_times(env, "enable_alert", 5)),
            "alert_callback": median(
                import_times(callback_env(broker.bootstrap_servers, TOPIC), "alert_callback", 5)
            ),
        }
        PROFILES_DIR.mkdir(parents=True, exist_ok=True)
        import_profile(env, "enable_alert", PROFILES_DIR / "cold_start_importtime.txt")

        def lifecycle_request(index: int) -> tuple[dict[str, str], bytes]:
            return wrapped_delivery("device-enabled", [f"rss-{index}"], 100 + index, index)

        def alert_request(index: int) -> tuple[dict[str, str], bytes]:
            return ALERT_HEADERS, alert_body(index)

        say("cold start: worker memory after 1,000 requests")
        memory = {
            "enable_alert": worker_memory("enable_alert", env, lifecycle_request),
            "alert_callback": worker_memory(
                "alert_callback", callback_env(broker.bootstrap_servers, TOPIC), alert_request
            ),
        }
        created = [t for t in emulator.state()["tasks"] if t.startswith("rss-")]
        check(
            len(created) == REQUESTS_FOR_RSS and all(t.endswith(TASK_SUFFIX) for t in created),
            f"{len(created)} of {REQUESTS_FOR_RSS} tasks made by the memory run",
        )

    # The five targets of the benchmark; the K_SINK variant is reported beside them.
    worst_first = max(t["first_response_s"] for n, t in targets.items() if n in FIVE)
    worst_rss = max(m["rss_mb"] for m in memory.values())
    result = {
        "targets": targets,
        "launches_per_target": launches,
        "import_ms": rounded(import_ms["enable_alert"], 1),
        "import_ms_by_target": {k: rounded(v, 1) for k, v in import_ms.items()},
        "worker_rss_mb": worst_rss,
        "worker_memory_by_target": memory,
        "requests_before_rss": REQUESTS_FOR_RSS,
        "target": {"first_response_s_max": FIRST_RESPONSE_TARGET_S, "worker_rss_mb_max": 60.0},
        "met": worst_first <= FIRST_RESPONSE_TARGET_S and worst_rss <= RSS_TARGET_MB,
    }
    say(
        f"cold start: worst first 2xx {worst_first:.3f} s, import {result['import_ms']} ms, "
        f"worker RSS {worst_rss} MB"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.launches), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
