"""Deadman alert firing: the ``alert.Data`` body Kapacitor POSTs to an
``[[httppost]]`` endpoint (contract §5), or writes to Kafka with its Kafka event
handler (contract §7), built from the task's running definition.

The emulator processes no data, so the caller decides when a device is silent and
fires CRITICAL, then OK. Everything else follows Kapacitor: body shape and key order,
the message/id templates of the script, ``duration``/``previousLevel`` tracked per
alert id, headers, one POST without retry and a 30 s timeout; for Kafka, a record
keyed by the alert id, without headers, whose value is the same body plus a
newline (the captures of a real 1.5.7). Two choices are the emulator's own: it
waits for the broker's acknowledgement before ``fire`` returns (Kapacitor writes
asynchronously and only counts failures), and it lets librdkafka's partitioner
spread the keys (Kapacitor hashes the alert id itself: one id, one partition,
either way). Kapacitor 1.5.0 ignores ``.kafkaTopic()`` and crashes on the first
alert; an emulator answering as 1.5.0 does the same (``on_crash``).
"""

from __future__ import annotations

import base64
import functools
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..kapacitor_config import HttpPostEndpoint, KafkaCluster
from ._alertspec import AlertSpec, alert_spec, start_problem
from ._gojson import JSONValue, marshal, rfc3339nano
from ._gotemplate import GoDuration, GoTime, html_escape, render
from ._model import ENABLED, Task
from ._tickeval import evaluate_task
from ._tickparse import parse_program
from ._versions import api_version

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
        return {
            "task": self.task_id,
            "level": self.level,
            "alert_id": self.alert_id,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
            "body": self.body,
            "topic": self.topic,
        }


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, built once. Loading the CA bundle takes ~20 ms,
    more than a POST on the loopback; Kapacitor's Go client does not pay it per alert,
    so neither does the emulator (each POST still has a connection of its own)."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class _Episode:
    level: str
    start_ns: int | None  # first trigger of the current non-OK episode


class AlertFirer:
    def __init__(
        self,
        endpoints: Iterable[HttpPostEndpoint] = (),
        timeout: float = 30.0,
        hostname: str = "localhost",
        *,
        kafka_clusters: Iterable[KafkaCluster] = (),
        version: str = "",
        on_crash: Callable[[str], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._clusters = {cluster.id: cluster for cluster in kafka_clusters}
        self._producers: dict[str, Any] = {}
        self._version = version
        self._on_crash = on_crash
        self._episodes: dict[tuple[str, str], _Episode] = {}
        self._delivery_locks: dict[str, threading.Lock] = {}
        self.timeout = timeout
        self.server_info: dict[str, JSONValue] = {
            "Hostname": hostname,
            "ClusterID": str(uuid.uuid4()),
            "ServerID": str(uuid.uuid4()),
        }

    def set_endpoint(self, endpoint: HttpPostEndpoint) -> None:
        with self._lock:
            self._endpoints[endpoint.name] = endpoint

    def endpoints(self) -> dict[str, HttpPostEndpoint]:
        with self._lock:
            return dict(self._endpoints)

    def forget(self, task_id: str) -> None:
        """Drop a deleted task's alert state (Kapacitor's delete hook)."""
        with self._lock:
            for key in [key for key in self._episodes if key[0] == task_id]:
                del self._episodes[key]

    def reset(self) -> None:
        with self._lock:
            self._episodes.clear()

    def start_problem(self, task: Task) -> str | None:
        program = parse_program(task.script)
        spec = alert_spec(program, evaluate_task(program, task.vars))
        return start_problem(spec, self.endpoints())

    def _advance(self, key: tuple[str, str], level: str, now: int) -> tuple[str, int]:
        """Record the event; return (previousLevel, duration ns)."""
        with self._lock:
            episode = self._episodes.get(key, _Episode("OK", None))
            ongoing = episode.level != "OK" and episode.start_ns is not None
            start = episode.start_ns if ongoing and episode.start_ns is not None else now
            if level == "OK":
                self._episodes[key] = _Episode("OK", None)
                return episode.level, (now - start) if ongoing else 0
            self._episodes[key] = _Episode(level, start)
            return episode.level, now - start

    def spec_of(self, task: Task) -> AlertSpec:
        """The alert as the task runs it (the definition it was started with)."""
        script = task.running_script or task.script
        program = parse_program(script)
        variables = task.running_vars if task.running_script is not None else task.vars
        return alert_spec(program, evaluate_task(program, variables))

    def build(
        self, task: Task, level: str, time_ns: int, emitted: float, tags: Mapping[str, str]
    ) -> tuple[AlertSpec, dict[str, JSONValue]]:
        spec = self.spec_of(task)
        group = ",".join(f"{k}={tags[k]}" for k in sorted(tags)) or "nil"
        tag_map: dict[str, JSONValue] | None = {k: tags[k] for k in sorted(tags)} or None
        info: dict[str, object] = {
            "Name": "stats",
            "TaskName": task.id,
            "Group": group,
            "Tags": tag_map or {},
            "ServerInfo": self.server_info,
        }
        alert_id = render(spec.id_template or spec.default_id(), info)
        previous, duration = self._advance((task.id, alert_id), level, time_ns)
        fields: dict[str, JSONValue] = {"emitted": float(emitted)}
        info.update(
            ID=alert_id,
            Fields=fields,
            Level=level,
            Time=GoTime(time_ns),
            Duration=GoDuration(duration),
        )
        if spec.message_template is not None:
            message = render(spec.message_template, info)
        else:
            state = "alive" if level == "OK" else "dead"
            message = (
                f"{alert_id} is {state}: {float(emitted):.3f} points/"
                f"{GoDuration(spec.interval_ns)}."
            )
        if spec.details_template is None:
            details_json: dict[str, JSONValue] = {
                "Name": "stats",
                "TaskName": task.id,
                "Group": group,
                "Tags": tag_map,
                "ServerInfo": self.server_info,
                "ID": alert_id,
                "Fields": fields,
                "Level": level,
                "Time": rfc3339nano(time_ns),
                "Duration": duration,
                "Message": message,
            }
            details = html_escape(marshal(details_json, indent=False).decode() + "\n")
        else:
            details = render(spec.details_template, {**info, "Message": message}, escape=True)
        row: dict[str, JSONValue] = {"name": "stats"}
        if tag_map:
            row["tags"] = tag_map
        row.update(columns=["time", "emitted"], values=[[rfc3339nano(time_ns), float(emitted)]])
        body: dict[str, JSONValue] = {
            "id": alert_id,
            "message": message,
            "details": details,
            "time": rfc3339nano(time_ns),
            "duration": duration,
            "level": level,
            "data": {"series": [row]},
            "previousLevel": previous,
            "recoverable": spec.recoverable,
        }
        return spec, body

    def fire(
        self,
        task: Task,
        level: str,
        time_ns: int,
        emitted: float = 0.0,
        tags: Mapping[str, str] | None = None,
    ) -> AlertResult:
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
            spec, body = self.build(task, level, time_ns, emitted, tags or {})
            if spec.has_kafka:
                return self._produce(task, level, spec, body)
            return self._post(task, level, spec, body)

    def close(self) -> None:
        with self._lock:
            producers, self._producers = self._producers, {}
        for producer in producers.values():
            producer.flush(5)

    def _produce(
        self, task: Task, level: str, spec: AlertSpec, body: dict[str, JSONValue]
    ) -> AlertResult:
        alert_id = str(body["id"])
        topic = spec.kafka_topic or ""
        if api_version(self._version).ignores_kafka_topic:
            message = (
                "cannot create a kafka writer with an empty topic (Kapacitor 1.5.0 ignores"
                " .kafkaTopic() and stops here; fixed in 1.5.1)"
            )
            if self._on_crash is not None:
                self._on_crash(message)
            return AlertResult(task.id, level, alert_id, body=body, error=message)
        cluster = self._clusters.get(spec.kafka_cluster or "")
        if cluster is None or not topic:
            missing = f"no [[kafka]] cluster {spec.kafka_cluster!r}" if cluster is None else ""
            error = missing or "the task's .kafka() handler names no topic"
            return AlertResult(task.id, level, alert_id, body=body, error=error)
        payload = marshal(body, indent=False) + b"\n"
        outcome: list[Any] = []
        delivered = threading.Event()

        def on_delivery(error: Any, _message: Any) -> None:
            outcome.append(error)
            delivered.set()

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

    def _post(
        self, task: Task, level: str, spec: AlertSpec, body: dict[str, JSONValue]
    ) -> AlertResult:
        alert_id = str(body["id"])
        endpoint = self.endpoints().get(spec.endpoint or "")
        url_template = endpoint.url if endpoint is not None else spec.url
        if not spec.has_post:
            return AlertResult(
                task.id,
                level,
                alert_id,
                body=body,
                error=f"task {task.id} has no .post() alert handler",
            )
        if not url_template:
            return AlertResult(
                task.id,
                level,
                alert_id,
                body=body,
                error=f"no [[httppost]] endpoint named {spec.endpoint!r}",
            )
        template_data = {
            "ID": alert_id,
            "Message": body["message"],
            "Details": body["details"],
            "Time": body["time"],
            "Duration": body["duration"],
            "Level": level,
            "PreviousLevel": body["previousLevel"],
            "Recoverable": body["recoverable"],
        }
        url = render(url_template, template_data)
        headers = dict(endpoint.headers) if endpoint is not None else {}
        headers.update(spec.headers)
        headers["Content-Type"] = "application/json"
        if endpoint is not None and endpoint.basic_auth and all(endpoint.basic_auth):
            token = base64.b64encode(":".join(endpoint.basic_auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        payload = marshal(body, indent=False) + b"\n"
        try:
            with httpx.Client(timeout=self.timeout, verify=_tls_context()) as client:
                request = client.build_request("POST", url, content=payload)
                # Look like Go's http.Client, not like httpx.
                for name in ("Accept", "Connection"):
                    request.headers.pop(name, None)
                request.headers["User-Agent"] = "Go-http-client/1.1"
                request.headers["Accept-Encoding"] = "gzip"
                request.headers.update(headers)
                status = client.send(request).status_code
        except httpx.HTTPError as exc:
            return AlertResult(
                task.id, level, alert_id, url, body=body, error=f"failed to POST alert data: {exc}"
            )
        return AlertResult(task.id, level, alert_id, url, status=status, body=body)
