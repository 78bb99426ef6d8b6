"""Deadman alert firing: the ``alert.Data`` body Kapacitor POSTs to an
``[[httppost]]`` endpoint, or writes to Kafka with its Kafka event handler,
built from the task's running definition.

The emulator processes no data, so the caller decides when a device is silent and
fires CRITICAL, then OK. The rest follows Kapacitor (and the captures in
``../shared/kapacitor-captures``): body shape and key order, the script's
``.id()``/``.message()`` templates, ``duration``/``previousLevel`` tracked per
alert id, the endpoint's headers and basic auth, one POST without retry and a
30 s timeout; for Kafka, a record keyed by the alert id, without headers, whose
value is the same body plus a newline. Two choices are the emulator's own: it
waits for the broker's acknowledgement before ``fire`` returns (Kapacitor writes
asynchronously and only counts failures), and it lets librdkafka's partitioner
spread the keys (Kapacitor hashes the alert id itself: one id, one partition,
either way). Only ``.post().endpoint(...)`` handlers are emulated, not
``.post(url)``; without ``.id()`` the alert id is the task id, not Kapacitor's
default (which names the node).
"""

from __future__ import annotations

import base64
import functools
import ssl
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from ..kapacitor_config import HttpPostEndpoint, KafkaCluster
from ._gofmt import JSONValue, go_duration, go_time, html_escape, marshal, render, rfc3339nano
from ._model import ENABLED, Task, Var
from ._script import Script, read_script

__all__ = ["LEVELS", "AlertFirer", "AlertResult", "HttpPostEndpoint", "KafkaCluster"]

LEVELS = ("OK", "INFO", "WARNING", "CRITICAL")


@dataclass(frozen=True)
class AlertResult:
    """What happened to one fired alert. ``status`` is the receiver's HTTP status;
    ``error`` explains a refusal (task missing/disabled, no endpoint) or a transport
    failure. ``body`` is the alert as posted (``None`` if nothing was built)."""

    task_id: str
    level: str
    alert_id: str | None = None
    url: str | None = None
    status: int | None = None
    error: str | None = None
    body: Mapping[str, JSONValue] | None = None
    topic: str | None = None  # the Kafka handler's topic, once the broker acknowledged

    @property
    def ok(self) -> bool:
        if self.topic is not None:
            return self.error is None
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, JSONValue]:
        fields = {key: value for key, value in asdict(self).items() if key != "task_id"}
        return {"task": self.task_id, **fields, "ok": self.ok}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, built once: loading the CA bundle takes ~20 ms,
    more than a POST on the loopback, which Kapacitor does not pay per alert."""
    return httpx.create_ssl_context()


def running_definition(task: Task) -> tuple[Script, dict[str, Var]]:
    """The task's script and vars as it runs them (as it was started)."""
    if task.running_script is None:
        script = read_script(task.script)
        return script, script.env(task.vars)
    script = read_script(task.running_script)
    return script, script.env(task.running_vars)


class AlertFirer:
    def __init__(
        self,
        endpoints: Iterable[HttpPostEndpoint] = (),
        kafka_clusters: Iterable[KafkaCluster] = (),
        timeout: float = 30.0,
    ) -> None:
        self._lock = threading.Lock()
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._clusters = {cluster.id: cluster for cluster in kafka_clusters}
        self._producers: dict[str, Any] = {}
        # Per (task, alert id): the level and when the non-OK episode began.
        self._episodes: dict[tuple[str, str], tuple[str, int]] = {}
        self._delivery_locks: dict[str, threading.Lock] = {}
        self.timeout = timeout
        self.server_info: dict[str, JSONValue] = {
            "Hostname": "localhost",
            "ClusterID": str(uuid.uuid4()),
            "ServerID": str(uuid.uuid4()),
        }

    def set_endpoint(self, endpoint: HttpPostEndpoint) -> None:
        with self._lock:
            self._endpoints[endpoint.name] = endpoint

    def forget(self, task_id: str) -> None:
        """Drop a deleted task's alert state (Kapacitor's delete hook)."""
        with self._lock:
            for key in [key for key in self._episodes if key[0] == task_id]:
                del self._episodes[key]

    def reset(self) -> None:
        with self._lock:
            self._episodes.clear()

    def _advance(self, key: tuple[str, str], level: str, now: int) -> tuple[str, int]:
        """Record the event; return (previousLevel, duration ns)."""
        with self._lock:
            previous, start = self._episodes.get(key, ("OK", now))
            start = start if previous != "OK" else now
            self._episodes[key] = (level, start)
            return previous, now - start

    def build(
        self, task: Task, level: str, time_ns: int, emitted: float
    ) -> tuple[Script, dict[str, Var], dict[str, JSONValue]]:
        """The alert body, with the script and vars whose handler delivers it. The
        deadman's group is always the empty one (``nil``, no tags): the shipped
        templates group by nothing."""
        script, env = running_definition(task)
        fields: dict[str, JSONValue] = {"emitted": float(emitted)}
        data: dict[str, object] = {"Name": "stats", "TaskName": task.id, "Group": "nil"}
        data |= {"Tags": {}, "Fields": fields, "Level": level, "Time": go_time(time_ns)}
        alert_id = render(script.text("id", env) or task.id, data)
        previous, duration = self._advance((task.id, alert_id), level, time_ns)
        data["ID"] = alert_id
        template = script.text("message", env)
        if template is None:  # the deadman's own message, as in the Kafka capture
            state = "alive" if level == "OK" else "dead"
            interval = go_duration(script.interval_ns(env))
            template = f"{alert_id} is {state}: {float(emitted):.3f} points/{interval}."
        message = render(template, data)
        details: dict[str, JSONValue] = {
            "Name": "stats",
            "TaskName": task.id,
            "Group": "nil",
            "Tags": None,
            "ServerInfo": self.server_info,
            "ID": alert_id,
            "Fields": fields,
            "Level": level,
            "Time": rfc3339nano(time_ns),
            "Duration": duration,
            "Message": message,
        }
        row: dict[str, JSONValue] = {
            "name": "stats",
            "columns": ["time", "emitted"],
            "values": [[rfc3339nano(time_ns), fields["emitted"]]],
        }
        # Kapacitor's default details are the alert as JSON, through html/template;
        # a script's own (the heartbeat's names its shard) renders its {{.Field}}
        # actions (the project's scripts give literal text).
        own_details = script.text("details", env)
        body: dict[str, JSONValue] = {
            "id": alert_id,
            "message": message,
            "details": (
                html_escape(marshal(details, indent=False).decode() + "\n")
                if own_details is None
                else render(own_details, data)
            ),
            "time": rfc3339nano(time_ns),
            "duration": duration,
            "level": level,
            "data": {"series": [row]},
            "previousLevel": previous,
            "recoverable": script.recoverable,
        }
        return script, env, body

    def fire(self, task: Task, level: str, time_ns: int, emitted: float = 0.0) -> AlertResult:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        if task.status != ENABLED or not task.executing:
            reason = "is disabled" if task.status != ENABLED else f"is not executing ({task.error})"
            return AlertResult(task.id, level, error=f"task {task.id} {reason}: it cannot alert")
        with self._lock:
            delivery = self._delivery_locks.setdefault(task.id, threading.Lock())
        # One FIFO per task, as Kapacitor's per-handler queue: alerts of one task
        # are delivered in order, a slow receiver delays the next one.
        with delivery:
            script, env, body = self.build(task, level, time_ns, emitted)
            if script.writes_kafka:
                cluster, topic = script.text("cluster", env), script.text("kafkaTopic", env)
                return self._produce(task, level, cluster or "", topic or "", body)
            if not script.posts:
                error = f"task {task.id} has no .post() alert handler"
                return AlertResult(task.id, level, str(body["id"]), body=body, error=error)
            return self._post(task, level, script.text("endpoint", env) or "", body)

    def close(self) -> None:
        with self._lock:
            producers, self._producers = self._producers, {}
        for producer in producers.values():
            producer.flush(5)

    def _produce(
        self, task: Task, level: str, cluster_id: str, topic: str, body: dict[str, JSONValue]
    ) -> AlertResult:
        alert_id = str(body["id"])
        cluster = self._clusters.get(cluster_id)
        if cluster is None or not topic:
            missing = f"no [[kafka]] cluster {cluster_id!r}" if cluster is None else ""
            error = missing or "the task's .kafka() handler names no topic"
            return AlertResult(task.id, level, alert_id, body=body, error=error)
        outcome: list[Any] = []
        delivered = threading.Event()

        def on_delivery(error: Any, _message: Any) -> None:
            outcome.append(error)
            delivered.set()

        payload = marshal(body, indent=False) + b"\n"
        producer = self._producer(cluster)
        producer.produce(topic, key=alert_id.encode(), value=payload, on_delivery=on_delivery)
        # Its own record's report (served by the producer's poller), not a flush of
        # everything in flight: many alerts at once must not each drain the queue.
        delivered.wait(self.timeout)
        if not outcome or outcome[0] is not None:
            reason = outcome[0] if outcome else "no acknowledgement in time"
            return AlertResult(task.id, level, alert_id, body=body, error=f"kafka: {reason}")
        return AlertResult(task.id, level, alert_id, body=body, topic=topic)

    def _producer(self, cluster: KafkaCluster) -> Any:
        with self._lock:
            producer = self._producers.get(cluster.id)
            if producer is None:
                from confluent_kafka import Producer

                producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
                self._producers[cluster.id] = producer
                threading.Thread(
                    target=self._serve_reports,
                    args=(cluster.id, producer),
                    name=f"kapacitor-emulator-kafka-{cluster.id}",
                    daemon=True,
                ).start()
            return producer

    def _serve_reports(self, cluster_id: str, producer: Any) -> None:
        """Delivery reports of one producer, until ``close`` lets it go."""
        while self._in_use(cluster_id, producer):
            producer.poll(0.05)

    def _in_use(self, cluster_id: str, producer: object) -> bool:
        with self._lock:
            return self._producers.get(cluster_id) is producer

    def _post(self, task: Task, level: str, name: str, body: dict[str, JSONValue]) -> AlertResult:
        alert_id = str(body["id"])
        with self._lock:
            endpoint = self._endpoints.get(name)
        if endpoint is None:
            error = f"no [[httppost]] endpoint named {name!r}"
            return AlertResult(task.id, level, alert_id, body=body, error=error)
        # Go's http.Client headers, not httpx's, then the endpoint's own.
        headers = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}
        headers |= {**endpoint.headers, "Content-Type": "application/json"}
        if endpoint.basic_auth and all(endpoint.basic_auth):
            token = base64.b64encode(":".join(endpoint.basic_auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            with httpx.Client(timeout=self.timeout, verify=_tls_context()) as client:
                request = client.build_request(
                    "POST", endpoint.url, content=marshal(body, indent=False) + b"\n"
                )
                for header in ("Accept", "Connection"):
                    request.headers.pop(header, None)
                request.headers.update(headers)
                status = client.send(request).status_code
        except httpx.HTTPError as exc:
            error = f"failed to POST alert data: {exc}"
            return AlertResult(task.id, level, alert_id, endpoint.url, body=body, error=error)
        return AlertResult(task.id, level, alert_id, endpoint.url, status=status, body=body)
