"""Alert burst: 2,000 Kapacitor alert POSTs from 16 concurrent clients to
``alert_callback`` under gunicorn, publishing to Kafka (the embedded Tansu broker).

The callback runs as its Knative Service does: one gunicorn worker with 20
threads (``containerConcurrency: 20``), and answers only once the broker
acknowledged the record. Its baseline (the target), in the same run against the
same broker, is a minimal function (``bench/minimal_function/main.py``) under the
same gunicorn settings: the same 2,000 POSTs from 16 clients, each answered 200
once the prebuilt record the callback makes of that alert (chosen by the index in
the path) was acknowledged. The two alternate for ``ROUNDS`` rounds (minimal
function, then callback, each a fresh process warmed up with one request, each
round on topics of its own); the ratio is of the medians, so that one noisy burst
on a shared machine does not decide it. For information, a bare confluent-kafka producer
sends the same records with the callback's producer settings from 16 threads that
each wait for their own delivery report before sending the next: the same
concurrency and the same "acknowledged before the next one" contract, without HTTP.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BENCH_DIR,
    alert_bodies,
    alert_body,
    callback_env,
    check,
    children_of,
    cpu_of,
    cpu_seconds,
    cpu_since,
    median,
    percentile,
    py_spy,
    rounded,
    say,
    timed,
)
from cloudevents.kafka import to_binary as to_kafka_binary

from deadman import AlertMapper, AlertSettings, parse_alert
from deadman_local.broker import EmbeddedBroker, create_topics, read_topic, topic_size
from deadman_local.functions import FunctionProcess

ALERTS = 2_000
CLIENTS = 16
PARTITIONS = 3  # as the alerts topic of kafka-sources/topics.yaml
TOPIC = "bench.alerts"
RAW_TOPIC = "bench.alerts-raw"
MINIMAL_TOPIC = "bench.alerts-minimal"
MINIMAL_SOURCE = BENCH_DIR / "minimal_function" / "main.py"
SECONDS_TARGET = 4.0
RATIO_TARGET = 1.2  # callback seconds / minimal function seconds
# What the callback's POST looks like from Kapacitor's Go client.
ALERT_HEADERS = {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"}
WARM_UP_INDEX = 1_000_000
ROUNDS = 5


def _in_threads(threads: int, work: Callable[[int], None], count: int) -> None:
    """Run ``work(i)`` for i in range(count) on ``threads`` threads; re-raise errors."""
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while True:
                with lock:
                    index = next(counter)
                if index >= count or errors:
                    return
                work(index)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    workers = [threading.Thread(target=loop, name=f"bench-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def burst_callback(
    url: str, bodies: list[bytes], indexed: bool = False
) -> tuple[float, list[float], list[int]]:
    """POST every body from CLIENTS threads (``indexed``: body i to ``url/i``);
    (seconds, latencies in s, statuses)."""
    latencies = [0.0] * len(bodies)
    statuses = [0] * len(bodies)
    local = threading.local()
    clients: list[httpx.Client] = []
    # One TLS context for all: building one loads the CA bundle (~20 ms of CPU),
    # which 16 clients made inside the timed burst would otherwise pay.
    tls = httpx.create_ssl_context()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30.0, verify=tls)
            clients.append(local.client)
        made: httpx.Client = local.client
        return made

    def post(index: int) -> None:
        target = f"{url}/{index}" if indexed else url
        started = time.perf_counter()
        response = client().post(target, headers=ALERT_HEADERS, content=bodies[index])
        latencies[index] = time.perf_counter() - started
        statuses[index] = response.status_code

    try:
        with timed() as elapsed:
            _in_threads(CLIENTS, post, len(bodies))
    finally:
        for each in clients:
            each.close()
    return elapsed[0], latencies, statuses


def kafka_messages(bodies: list[bytes], topic: str) -> list[Any]:
    """The Kafka records the callback makes of these alerts (same mapper, same encoding)."""
    settings = AlertSettings(kafka_bootstrap_servers="unused", alerts_topic=topic)
    mapper = AlertMapper.from_settings(settings)
    messages = []
    for body in bodies:
        event = mapper.to_event(parse_alert(body))
        assert event is not None
        messages.append(to_kafka_binary(event))
    return messages


def burst_raw(bootstrap: str, topic: str, messages: list[Any]) -> float:
    """The same records from a bare producer with the callback's settings; each of
    CLIENTS threads waits for its record's delivery report before the next one."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 10_000,
            "linger.ms": 2,
        }
    )
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            producer.poll(0.05)

    poller = threading.Thread(target=poll, name="raw-delivery-reports", daemon=True)
    poller.start()

    def send(index: int) -> None:
        message = messages[index]
        done = threading.Event()
        outcome: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            outcome.append(error)
            done.set()

        producer.produce(
            topic,
            key=message.key,
            value=message.value,
            headers=list(message.headers.items()),
            on_delivery=on_delivery,
        )
        check(done.wait(11.0) and outcome[0] is None, f"raw record {index}: {outcome}")

    try:
        send(len(messages) - 1)  # warm-up: connection, idempotent producer id
        with timed() as elapsed:
            _in_threads(CLIENTS, send, len(messages))
    finally:
        stop.set()
        poller.join()
        producer.flush(10)
    return elapsed[0]


def write_records(messages: list[Any], path: Path) -> Path:
    """The records for the minimal function (MINIMAL_RECORDS), bytes in base64."""

    def text(value: str | bytes) -> str:
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()

    records = [
        {
            "key": text(m.key),
            "value": text(m.value),
            "headers": [[name, text(value)] for name, value in m.headers.items()],
        }
        for m in messages
    ]
    path.write_text(json.dumps(records))
    return path


def check_topic(bootstrap: str, topic: str, alerts: int, before: int, what: str) -> int:
    """The burst's ``alerts`` records (after one warm-up) are on the topic, one per
    device, every id distinct; returns how many the topic grew by."""
    on_topic = topic_size(bootstrap, topic) - before
    check(on_topic == alerts, f"{what}: {on_topic} of {alerts} acknowledged alerts on the topic")
    records = read_topic(bootstrap, topic, expected=alerts + 1, timeout=60)
    subjects = {
        r.headers.get("ce_subject", b"").decode()
        for r in records
        if r.headers.get("ce_type") == b"historicization-stopped"
    }
    wanted = {f"dev-{i}" for i in range(alerts)}
    check(wanted <= subjects, f"{what}: {len(wanted - subjects)} devices' alerts not on the topic")
    ids = {r.headers.get("ce_id") for r in records}
    check(len(ids) == alerts + 1, f"{what}: {len(ids)} distinct ids for {alerts + 1} alerts")
    return on_topic


def burst_function(
    function: FunctionProcess,
    bodies: list[bytes],
    warm_up: tuple[str, bytes],
    tansu: int,
    profile: tuple[str, Path | None],
    indexed: bool = False,
) -> dict[str, Any]:
    """Warm the function up with one POST, then the burst; figures and CPU seconds."""
    with function:
        path, body = warm_up
        warm = httpx.post(function.url + path, headers=ALERT_HEADERS, content=body)
        check(warm.status_code == 200, f"{function.target}: warm-up answered {warm.status_code}")
        assert function.pid is not None
        worker = children_of(function.pid)[0]
        pids = {"worker": worker, "load_generator": os.getpid(), "tansu": tansu}
        cpu_before = cpu_of(pids)
        with py_spy({profile[0]: worker}, profile[1]):
            seconds, latencies, statuses = burst_callback(function.url, bodies, indexed)
        cpu = cpu_since(pids, cpu_before)
    failed = [s for s in statuses if not 200 <= s < 300]
    check(not failed, f"{function.target}: {len(failed)} alerts not acknowledged: {failed[:5]}")
    return {"seconds": seconds, "latencies": latencies, "cpu": cpu}


def run(
    alerts: int = ALERTS,
    log_dir: Path | None = None,
    profile_dir: Path | None = None,
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-burst-"))
    bodies = alert_bodies(alerts)
    warm_body = alert_body(WARM_UP_INDEX)
    with EmbeddedBroker(log_path=log_dir / "tansu.log") as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, [TOPIC, RAW_TOPIC, MINIMAL_TOPIC], partitions=PARTITIONS)

        assert broker._process is not None  # the broker's pid, for its CPU time
        tansu = broker._process.pid
        raw_before = topic_size(bootstrap, RAW_TOPIC)
        messages = kafka_messages(bodies, RAW_TOPIC)
        raw_before_cpu = (cpu_seconds(os.getpid()), cpu_seconds(tansu))
        raw_seconds = burst_raw(bootstrap, RAW_TOPIC, messages)
        raw_cpu = {
            "producer_process": rounded(cpu_seconds(os.getpid()) - raw_before_cpu[0], 2),
            "tansu": rounded(cpu_seconds(tansu) - raw_before_cpu[1], 2),
        }
        raw_written = topic_size(bootstrap, RAW_TOPIC) - raw_before
        # The warm-up record is one of the 2,000, sent once more.
        check(raw_written == alerts + 1, f"raw producer: {raw_written} of {alerts + 1} on topic")

        # The minimal function, then the callback, in alternating rounds: the same
        # POSTs, the same gunicorn settings (one worker, 20 threads).
        minimal_runs: list[dict[str, Any]] = []
        callback_runs: list[dict[str, Any]] = []
        on_topic = 0
        for round_number in range(rounds):
            minimal_topic = f"{MINIMAL_TOPIC}-{round_number}"
            topic = f"{TOPIC}-{round_number}"
            create_topics(bootstrap, [minimal_topic, topic], partitions=PARTITIONS)
            records = write_records(
                [*messages, *kafka_messages([warm_body], minimal_topic)],
                log_dir / f"records-{round_number}.json",
            )
            minimal_env = {
                **callback_env(bootstrap, minimal_topic),
                "FUNCTION_SIGNATURE_TYPE": "http",
                "MINIMAL_RECORDS": str(records),
                "MINIMAL_TOPIC": minimal_topic,
            }
            minimal_fn = FunctionProcess(
                "minimal_function",
                env=minimal_env,
                log_path=log_dir / "minimal_function.log",
                source=MINIMAL_SOURCE,
            )
            profiled = profile_dir if round_number == 0 else None
            minimal_runs.append(
                burst_function(
                    minimal_fn,
                    bodies,
                    (f"/{alerts}", warm_body),
                    tansu,
                    ("burst-minimal-worker", profiled),
                    indexed=True,
                )
            )
            check_topic(bootstrap, minimal_topic, alerts, 1, "minimal function")

            callback_fn = FunctionProcess(
                "alert_callback",
                env=callback_env(bootstrap, topic),
                log_path=log_dir / "alert_callback.log",
            )
            callback_runs.append(
                burst_function(
                    callback_fn, bodies, ("", warm_body), tansu, ("burst-callback-worker", profiled)
                )
            )
            on_topic += check_topic(bootstrap, topic, alerts, 1, "callback")

    seconds = median([run["seconds"] for run in callback_runs])
    minimal_seconds = median([run["seconds"] for run in minimal_runs])
    latencies = [latency for run in callback_runs for latency in run["latencies"]]
    minimal_latencies = [latency for run in minimal_runs for latency in run["latencies"]]
    median_round = min(callback_runs, key=lambda run: abs(run["seconds"] - seconds))
    minimal_round = min(minimal_runs, key=lambda run: abs(run["seconds"] - minimal_seconds))
    ratio = seconds / minimal_seconds
    sent = alerts * rounds
    result = {
        "alerts": alerts,
        "clients": CLIENTS,
        "workers": 1,
        "threads": 20,
        "seconds": rounded(seconds),
        "alerts_per_second": rounded(alerts / seconds, 1),
        "p50_ms": rounded(percentile(latencies, 50) * 1000, 2),
        "p99_ms": rounded(percentile(latencies, 99) * 1000, 2),
        "max_ms": rounded(max(latencies) * 1000, 2),
        "rounds": rounds,
        "acknowledged": sent,
        "on_topic": on_topic,
        "lost": sent - on_topic,
        "seconds_by_round": [rounded(run["seconds"]) for run in callback_runs],
        "minimal_function_seconds": rounded(minimal_seconds),
        "minimal_function_seconds_by_round": [rounded(run["seconds"]) for run in minimal_runs],
        "minimal_function_p50_ms": rounded(percentile(minimal_latencies, 50) * 1000, 2),
        "minimal_function_p99_ms": rounded(percentile(minimal_latencies, 99) * 1000, 2),
        "ratio_to_minimal_function": rounded(ratio),
        # Information: the same records from a bare producer, no HTTP at all.
        "raw_producer_seconds": rounded(raw_seconds),
        "ratio_to_raw": rounded(seconds / raw_seconds),
        # Where the 2 cores went in each burst (CPU seconds, from /proc/<pid>/stat).
        # (of the round closest to the median)
        "cpu_seconds": median_round["cpu"],
        "minimal_function_cpu_seconds": minimal_round["cpu"],
        "raw_producer_cpu_seconds": raw_cpu,
        "target": {
            "lost": 0,
            "seconds_max": SECONDS_TARGET,
            "ratio_to_minimal_function_max": RATIO_TARGET,
        },
    }
    result["met"] = on_topic == sent and seconds <= SECONDS_TARGET and ratio <= RATIO_TARGET
    say(
        f"burst: {seconds:.2f} s (minimal function {minimal_seconds:.2f} s, ratio {ratio:.2f}; "
        f"raw {raw_seconds:.2f} s), p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"{on_topic} on topic"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=ALERTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks into this folder")
    args = parser.parse_args()
    result = run(args.alerts, profile_dir=args.profile, rounds=args.rounds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
