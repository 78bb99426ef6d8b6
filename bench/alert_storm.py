"""Alert storm: a fleet-wide outage. 2,000 enabled devices go silent together and
every one of their deadman tasks fires CRITICAL at the same tick.

The Kapacitor API emulator runs in its own process with the project's template and
2,000 enabled tasks (``dev-<i>_not_fed``, made through its task API). One control
call (``POST /emulator/alerts/fire-many``) makes every task fire at once, each
alert delivered by the emulator's own handler from a thread of its own (all
started before the first alert goes), as Kapacitor delivers each alert on its own:

* ``httppost``: one POST per alert to ``alert_callback`` as deployed (one gunicorn
  worker, ``THREADS=20`` = ``containerConcurrency``, the bearer token Kapacitor
  sends, the Kafka emitter on the embedded Tansu), 30 s timeout, no retry.
  ``seconds`` is the first POST to the last answer, ``p99_ms`` the per-POST latency
  as the emulator saw it. The emulator is Python: its threads share one GIL, so
  the POSTs start over ``last_start_ms`` rather than in the same instant.
* ``kafka``: the template rendered for ``ALERT_DELIVERY=kafka``; the emulator's
  Kafka event handler writes 2,000 records to Kapacitor's alerts topic, and the
  KafkaSource stand-in, configured from the ``alert-callback`` KafkaSource of
  ``kafka-sources/components/kafka-alerts`` (ordered, retries, dead-letter sink),
  delivers them to the callback. ``seconds`` runs from the firing until the
  stand-in has every alert delivered, i.e. every event acknowledged on the topic.

The callback is warm (the Service keeps one replica, and its heartbeat passes by
every period): one alert of a warm-up task goes first on each path. Checks, by
reading the events topic: every device's ``historicization-stopped`` event is
there (``lost``), none twice (``duplicates``); nothing dead-lettered.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    KAPACITOR_DB,
    ROOT,
    TASK_SUFFIX,
    TEMPLATE_ID,
    EmulatorProcess,
    callback_env,
    check,
    children_of,
    cpu_of,
    cpu_since,
    percentile,
    rounded,
    say,
)

from deadman import KapacitorSettings
from deadman.ops.template import bundled_template, render_template
from deadman_local.broker import EmbeddedBroker, create_topics, read_topic, topic_size
from deadman_local.functions import FunctionProcess
from deadman_local.kafka_source import KafkaSourceStandIn, load_kafka_sources

ALERTS = 2_000
PARTITIONS = 3  # as the topics of kafka-sources/
EVENTS_TOPIC = "bench.storm-events-{path}"
ENDPOINT = "benthos"  # the template's .post().endpoint()
KAFKA_CLUSTER = "storm"
CALLBACK_SOURCE = "alert-callback"
SERVICES = ("create-alert", "enable-alert", "disable-alert", "delete-alert", "alert-callback")
WARM_UP = "storm-warm-up"


def task_body(device: str) -> dict[str, Any]:
    """An enabled task as the lifecycle functions create it."""
    task_id = device + TASK_SUFFIX
    values = {"name": task_id, "measurement": device, "db": KAPACITOR_DB, "rp": "autogen"}
    return {
        "id": task_id,
        "template-id": TEMPLATE_ID,
        "status": "enabled",
        "dbrps": [{"db": KAPACITOR_DB, "rp": "autogen"}],
        "vars": {name: {"type": "string", "value": value} for name, value in values.items()},
    }


def create_tasks(url: str, devices: list[str]) -> None:
    with httpx.Client(base_url=f"{url}/kapacitor/v1", timeout=30) as client:
        for device in devices:
            response = client.post("/tasks", json=task_body(device))
            check(response.status_code == 200, f"task for {device}: {response.text}")


def fire(url: str, devices: list[str], pool: int | None) -> dict[str, Any]:
    """Every device's task fires at once in the emulator; its per-alert outcomes."""
    body: dict[str, Any] = {"tasks": [d + TASK_SUFFIX for d in devices], "level": "CRITICAL"}
    if pool is not None:
        body["concurrency"] = pool
    response = httpx.post(f"{url}/emulator/alerts/fire-many", json=body, timeout=600)
    check(response.status_code == 200, f"fire-many answered {response.status_code}")
    return dict(response.json())


def warm_up(url: str) -> None:
    response = httpx.post(f"{url}/emulator/alerts/fire", json={"task": WARM_UP + TASK_SUFFIX})
    check(response.status_code == 200 and response.json()["ok"], f"warm-up: {response.text}")


def events_check(bootstrap: str, topic: str, devices: list[str]) -> dict[str, int]:
    """Read the events topic: each device's historicization-stopped, by id."""
    size = topic_size(bootstrap, topic)
    records = read_topic(bootstrap, topic, expected=size, timeout=60)
    ids: dict[str, collections.Counter[bytes]] = collections.defaultdict(collections.Counter)
    for record in records:
        if record.headers.get("ce_type") == b"historicization-stopped":
            subject = record.headers.get("ce_subject", b"").decode()
            ids[subject][record.headers.get("ce_id", b"")] += 1
    for device, seen in ids.items():  # one alert, one deterministic id
        check(len(seen) == 1, f"{device}: {len(seen)} different event ids")
    lost = sum(1 for d in devices if d not in ids)
    duplicates = sum(sum(ids[d].values()) - 1 for d in devices if d in ids)
    return {"on_topic": len(devices) - lost, "lost": lost, "duplicates": duplicates}


def timing(answer: dict[str, Any]) -> dict[str, Any]:
    alerts = answer["alerts"]
    first = min(a["started_ms"] for a in alerts)
    last = max(a["started_ms"] + a["latency_ms"] for a in alerts)
    latencies = [a["latency_ms"] for a in alerts]
    errors = collections.Counter(
        str(a["error"] or a["status"]).split(":")[0] for a in alerts if not a["ok"]
    )
    return {
        "seconds": rounded((last - first) / 1000),
        "p50_ms": rounded(percentile(latencies, 50), 1),
        "p99_ms": rounded(percentile(latencies, 99), 1),
        "max_ms": rounded(max(latencies), 1),
        "last_start_ms": rounded(max(a["started_ms"] for a in alerts), 1),
        "failed": answer["fired"] - answer["ok"],
        "errors": dict(errors),
    }


def storm_httppost(
    broker: EmbeddedBroker, devices: list[str], pool: int | None, log_dir: Path
) -> dict[str, Any]:
    bootstrap, topic = broker.bootstrap_servers, EVENTS_TOPIC.format(path="httppost")
    create_topics(bootstrap, [topic], partitions=PARTITIONS)
    token = secrets.token_urlsafe(24)
    env = callback_env(bootstrap, topic, ALERT_CALLBACK_TOKEN=token)
    callback = FunctionProcess("alert_callback", env=env, log_path=log_dir / "storm-callback.log")
    args = (
        f"--alert-endpoint={ENDPOINT}={callback.url}",
        f"--alert-header={ENDPOINT}=Authorization:Bearer {token}",
    )
    with callback, EmulatorProcess(args=args) as emulator:
        create_tasks(emulator.url, [WARM_UP, *devices])
        warm_up(emulator.url)
        assert callback.pid is not None
        assert broker._process is not None  # the broker's pid, for its CPU time
        pids = {"callback_worker": children_of(callback.pid)[0], "emulator": emulator.pid}
        pids["tansu"] = broker._process.pid
        before = cpu_of(pids)
        figures = timing(fire(emulator.url, devices, pool))
        figures["cpu_seconds"] = cpu_since(pids, before)
    figures["failed_posts"] = figures.pop("failed")
    return {"alerts": len(devices), **figures, **events_check(bootstrap, topic, devices)}


def storm_kafka(
    broker: EmbeddedBroker, devices: list[str], pool: int | None, log_dir: Path
) -> dict[str, Any]:
    bootstrap, topic = broker.bootstrap_servers, EVENTS_TOPIC.format(path="kafka")
    callback = FunctionProcess(
        "alert_callback", env=callback_env(bootstrap, topic), log_path=log_dir / "storm-k.log"
    )
    # The alert-callback KafkaSource as the kafka-alerts component makes it.
    sources = load_kafka_sources(
        ROOT / "kafka-sources",
        ROOT / "knative",
        {name: callback.url for name in SERVICES},
        components=["components/kafka-alerts"],
    )
    source = next(s for s in sources if s.name == CALLBACK_SOURCE)
    source = dataclasses.replace(source, consumer_group=f"bench-storm-{time.time_ns()}")
    dead_letters = source.delivery.dead_letter.topic if source.delivery.dead_letter else None
    check(dead_letters is not None, "the alert-callback KafkaSource has no dead-letter topic")
    [alerts_topic] = source.topics
    create_topics(bootstrap, [topic, alerts_topic, str(dead_letters)], partitions=PARTITIONS)
    settings = KapacitorSettings(
        alert_delivery="kafka",
        kapacitor_kafka_cluster=KAFKA_CLUSTER,
        kapacitor_alerts_topic=alerts_topic,
    )
    template = log_dir / "storm-kafka-template.tick"
    template.write_text(render_template(bundled_template(TEMPLATE_ID), settings))
    args = (f"--kafka-cluster={KAFKA_CLUSTER}={bootstrap}",)
    stand_in = KafkaSourceStandIn(bootstrap, sources=[source])
    with callback, EmulatorProcess(template_file=template, args=args) as emulator, stand_in:
        create_tasks(emulator.url, [WARM_UP, *devices])
        warm_up(emulator.url)
        stand_in.wait_until(lambda c: c.delivered == 1, timeout=60)
        assert callback.pid is not None
        assert broker._process is not None
        pids = {"callback_worker": children_of(callback.pid)[0], "emulator": emulator.pid}
        pids.update(tansu=broker._process.pid, stand_in=os.getpid())
        before = cpu_of(pids)
        started = time.perf_counter()
        answers: list[dict[str, Any]] = []
        firing = threading.Thread(target=lambda: answers.append(fire(emulator.url, devices, pool)))
        firing.start()
        wanted = len(devices) + 1
        done = stand_in.wait_until(lambda c: c.outcomes >= wanted, timeout=600)
        seconds = time.perf_counter() - started
        firing.join()
        cpu = cpu_since(pids, before)
        counters = stand_in.counters
    written = timing(answers[0])
    check(written["failed"] == 0, f"records not written: {written['errors']}")
    dead = counters.dead_lettered + counters.dead_letter_failed + counters.dropped
    return {
        "alerts": len(devices),
        "seconds": rounded(seconds),
        "kapacitor_write_seconds": written["seconds"],
        "kapacitor_write_p50_ms": written["p50_ms"],
        "kapacitor_write_p99_ms": written["p99_ms"],
        "delivered": done.delivered - 1,  # the warm-up alert was the first
        "retries": counters.retries,
        "dead_lettered": dead,
        "cpu_seconds": cpu,
        **events_check(bootstrap, topic, devices),
    }


def run(
    alerts: int = ALERTS, pool: int | None = None, log_dir: Path | None = None
) -> dict[str, Any]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-storm-"))
    devices = [f"dev-{i}" for i in range(alerts)]
    with EmbeddedBroker(log_path=log_dir / "storm-tansu.log") as broker:
        httppost = storm_httppost(broker, devices, pool, log_dir)
        say(
            f"storm httppost: {httppost['seconds']:.2f} s, p99 {httppost['p99_ms']} ms, "
            f"{httppost['failed_posts']} failed POSTs, {httppost['lost']} lost"
        )
        kafka = storm_kafka(broker, devices, pool, log_dir)
        say(
            f"storm kafka: {kafka['seconds']:.2f} s to the last event, "
            f"{kafka['lost']} lost, {kafka['dead_lettered']} dead-lettered"
        )
    met = httppost["lost"] == 0 and kafka["lost"] == 0 and kafka["dead_lettered"] == 0
    return {
        "alerts": alerts,
        "pool": pool or alerts,
        "httppost": httppost,
        "kafka": kafka,
        "target": {"lost": 0, "dead_lettered": 0},
        "met": met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=ALERTS)
    parser.add_argument(
        "--pool", type=int, help="the emulator's firing threads (default: one each)"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.alerts, args.pool), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
