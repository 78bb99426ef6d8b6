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
* ``import_ratio_to_minimal``: per target, ``functions_framework.create_app`` in a
  fresh interpreter (imports functions-framework, Flask, ``functions/main.py`` and
  the ``deadman`` package, validates the settings) divided by the same for a
  minimal function of the same signature (``bench/floor/minimal.py``); medians of
  ``IMPORT_RUNS`` runs that alternate target, minimal function and settings floor.
  ``import_ratio_to_settings_floor`` divides by ``bench/floor/with_settings.py``,
  the minimal function plus one pydantic-settings class validated at import: what
  any function of this stack pays to fail fast on a bad configuration.
* ``import_attribution``: the same create_app under ``python -X importtime``,
  its time charged by library (``import_profile``: framework, pydantic,
  pydantic-settings, project, outside imports), for the targets and the minimal
  functions, medians of ``ATTRIBUTION_RUNS`` alternating runs; with
  ``ratio_without_settings_libraries``, the target's time less pydantic and
  pydantic-settings over the minimal function's. The per-module tree of
  ``enable_alert`` is kept in ``bench/profiles/cold_start_importtime.txt``.
* ``otel``: the same first-2xx launches for ``enable_alert`` and ``alert_callback``
  with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (a receiver answering 2xx): the SDK is
  imported in the worker on the first request, never by ``create_app``.
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
import import_profile
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
    kapacitor_url: str, bootstrap: str, k_sink: str, otlp: str, launches: int, log_dir: Path
) -> dict[str, dict[str, Any]]:
    targets: dict[str, dict[str, Any]] = {}
    names = [t for t, _ in LIFECYCLE] + ["alert_callback", "alert_callback_k_sink"]
    names += ["enable_alert_otel", "alert_callback_otel"]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
    for launch in range(launches):
        device = f"cold-{launch}"
        for step, (target, event_type) in enumerate(LIFECYCLE):
            headers, body = wrapped_delivery(event_type, [device], 10 * launch + step + 1, step)
            function = FunctionProcess(
                target, env=lifecycle_env(kapacitor_url), log_path=log_dir / f"{target}.log"
            )
            samples[target].append(_first_response(function, headers, body))
            if target == "enable_alert":
                # The same event once more, now traced: it answers 2xx unchanged.
                traced = FunctionProcess(
                    target,
                    env=lifecycle_env(kapacitor_url, **otel),
                    log_path=log_dir / f"{target}_otel.log",
                )
                samples[f"{target}_otel"].append(_first_response(traced, headers, body))
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
        traced_callback = FunctionProcess(
            "alert_callback",
            env=callback_env(bootstrap, TOPIC, **otel),
            log_path=log_dir / "alert_callback_otel.log",
        )
        samples["alert_callback_otel"].append(
            _first_response(traced_callback, ALERT_HEADERS, alert_body(700_000 + launch))
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


FLOOR_DIR = Path(__file__).resolve().parent / "floor"
MINIMAL_SOURCE = FLOOR_DIR / "minimal.py"
SETTINGS_FLOOR_SOURCE = FLOOR_DIR / "with_settings.py"
# The minimal function of each target's signature.
SIGNATURE = {**dict.fromkeys((t for t, _ in LIFECYCLE), "event"), "alert_callback": "http"}
IMPORT_RUNS = 7
IMPORT_RATIO_TARGET = 1.3
ATTRIBUTION_RUNS = 5


def import_ms(env: dict[str, str], target: str, source: Path = FUNCTIONS_SOURCE) -> float:
    """Milliseconds of ``create_app(target, source)`` in a fresh interpreter."""
    output = subprocess.run(
        [sys.executable, "-c", import_profile.PROBE, target, str(source)],
        env={**os.environ, **env, "FUNCTION_TARGET": target},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return float(output.strip().splitlines()[-1])


def import_ratios(envs: dict[str, dict[str, str]], runs: int) -> dict[str, dict[str, float]]:
    """Per target: create_app against the minimal function and the settings floor
    of the same signature, measured in turn so that drift hits all three alike."""
    samples: dict[str, dict[str, list[float]]] = {
        target: {"target": [], "minimal": [], "settings_floor": []} for target in envs
    }
    for _ in range(runs):
        for target, env in envs.items():
            signature = SIGNATURE[target]
            samples[target]["minimal"].append(import_ms({}, signature, MINIMAL_SOURCE))
            samples[target]["target"].append(import_ms(env, target))
            floor = import_ms({}, signature, SETTINGS_FLOOR_SOURCE)
            samples[target]["settings_floor"].append(floor)
    figures = {}
    for target, runs_of in samples.items():
        ms = {name: median(values) for name, values in runs_of.items()}
        figures[target] = {
            "import_ms": rounded(ms["target"], 1),
            "minimal_ms": rounded(ms["minimal"], 1),
            "settings_floor_ms": rounded(ms["settings_floor"], 1),
            "import_ratio_to_minimal": rounded(ms["target"] / ms["minimal"]),
            "import_ratio_to_settings_floor": rounded(ms["target"] / ms["settings_floor"]),
        }
    return figures


def import_attributions(envs: dict[str, dict[str, str]], runs: int) -> dict[str, Any]:
    """Per target and per minimal function: create_app's ms by library (import_profile),
    and the import ratio the target would have without pydantic and pydantic-settings.
    Runs alternate minimal functions and targets, as for the import ratios."""
    signatures = sorted(set(SIGNATURE.values()))
    minimal_runs: dict[str, list[dict[str, float]]] = {s: [] for s in signatures}
    target_runs: dict[str, list[dict[str, float]]] = {t: [] for t in envs}
    for _ in range(runs):
        for signature in signatures:
            minimal_runs[signature].append(
                import_profile.sample(signature, MINIMAL_SOURCE, {}, ROOT)
            )
        for target, env in envs.items():
            target_runs[target].append(import_profile.sample(target, FUNCTIONS_SOURCE, env, ROOT))
    minimal = {s: import_profile.medians(values) for s, values in minimal_runs.items()}
    targets = {}
    for target, values in target_runs.items():
        figures: dict[str, float] = import_profile.medians(values)
        floor = minimal[SIGNATURE[target]]["total_ms"]
        figures["ratio_to_minimal"] = round(figures["total_ms"] / floor, 3)
        figures["ratio_without_settings_libraries"] = (
            import_profile.without_settings_libraries_ratio(figures, floor)
        )
        targets[target] = figures
    return {"targets": targets, "minimal": minimal, "runs": runs}


def write_import_tree(env: dict[str, str], target: str, out: Path) -> None:
    total_ms, roots = import_profile.profile_once(target, FUNCTIONS_SOURCE, env, ROOT)
    import_profile.write_tree(target, total_ms, roots, out)


def worker_memory(
    target: str, env: dict[str, str], make_request: Callable[[int], tuple[dict[str, str], bytes]]
) -> dict[str, float]:
    """Memory of the gunicorn worker after REQUESTS_FOR_RSS requests (4 clients)."""
    with FunctionProcess(target, env=env, stdout=subprocess.DEVNULL) as function:
        assert function.pid is not None
        # Gunicorn's master listens before it forks the worker: ask it for an
        # answer first, then the worker that gave it is there to be found.
        headers, body = make_request(REQUESTS_FOR_RSS)
        with httpx.Client(timeout=30.0) as first:
            post_until_answered(first, function.url, headers, body)
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
        SinkReceiver() as collector,
    ):
        create_topics(broker.bootstrap_servers, [TOPIC], partitions=3)
        targets = cold_starts(
            emulator.url, broker.bootstrap_servers, receiver.url, collector.url, launches, log_dir
        )
        check(receiver.received == launches, f"K_SINK got {receiver.received} of {launches}")
        # Each traced process flushed its spans and metrics when it stopped.
        exports = collector.received
        check(exports >= 2 * launches, f"OTLP receiver got {exports} exports for {launches}")
        tasks = emulator.state()["tasks"]
        # The last step of every launch deleted the device's task.
        check(not any(t.startswith("cold-") for t in tasks), f"tasks left behind: {sorted(tasks)}")
        alerts_sent = topic_size(broker.bootstrap_servers, TOPIC)
        wanted = 2 * launches  # the Kafka emitter's and the traced one's
        check(alerts_sent == wanted, f"{alerts_sent} of {wanted} cold-start alerts on topic")

        say("cold start: launches done; import times")
        env = lifecycle_env(emulator.url)
        envs = {target: env for target, _ in LIFECYCLE}
        envs["alert_callback"] = callback_env(broker.bootstrap_servers, TOPIC)
        imports = import_ratios(envs, IMPORT_RUNS)
        PROFILES_DIR.mkdir(parents=True, exist_ok=True)
        attributions = import_attributions(envs, ATTRIBUTION_RUNS)
        write_import_tree(env, "enable_alert", PROFILES_DIR / "cold_start_importtime.txt")

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
        wanted = REQUESTS_FOR_RSS + 1  # and the first request's, which found the worker
        check(
            len(created) == wanted and all(t.endswith(TASK_SUFFIX) for t in created),
            f"{len(created)} of {wanted} tasks made by the memory run",
        )

    # The five targets of the benchmark; the K_SINK variant is reported beside them.
    worst_first = max(t["first_response_s"] for n, t in targets.items() if n in FIVE)
    worst_rss = max(m["rss_mb"] for m in memory.values())
    worst_ratio = max(i["import_ratio_to_minimal"] for i in imports.values())
    result = {
        "targets": targets,
        "launches_per_target": launches,
        "import_ratio_to_minimal": {t: i["import_ratio_to_minimal"] for t, i in imports.items()},
        "import_ratio_to_settings_floor": {
            t: i["import_ratio_to_settings_floor"] for t, i in imports.items()
        },
        "imports": imports,
        "import_attribution": attributions,
        "import_runs": IMPORT_RUNS,
        "worker_rss_mb": worst_rss,
        "worker_memory_by_target": memory,
        "requests_before_rss": REQUESTS_FOR_RSS,
        "target": {
            "first_response_s_max": FIRST_RESPONSE_TARGET_S,
            "worker_rss_mb_max": RSS_TARGET_MB,
            "import_ratio_to_minimal_max": IMPORT_RATIO_TARGET,
        },
        "met": worst_first <= FIRST_RESPONSE_TARGET_S
        and worst_rss <= RSS_TARGET_MB
        and worst_ratio <= IMPORT_RATIO_TARGET,
    }
    say(
        f"cold start: worst first 2xx {worst_first:.3f} s, worst import ratio {worst_ratio}, "
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
