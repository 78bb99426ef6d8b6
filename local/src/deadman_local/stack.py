"""The whole loop on one machine: broker, Kapacitor, functions and KafkaSource stand-in.

Started by ``make run``. The stand-in reads ``kafka-sources/`` and ``knative/``, so
the local run uses the same topics, consumer groups and delivery spec as the
cluster. ``LOCAL_TOPIC_LAYOUT=single-topic`` adds ``components/single-topic`` to
``kafka-sources/``, as a cluster would enable it. Where everything listens is
printed and written to ``.local-stack.json`` for ``make demo``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .broker import EmbeddedBroker, create_topics
from .functions import FunctionProcess

__all__ = ["STATE_FILE", "TOPIC_LAYOUTS", "LocalStack", "StackState"]

# Paths are relative to the working directory: the repository root, where make runs.
STATE_FILE = Path(".local-stack.json")
TARGETS = ("create_alert", "enable_alert", "disable_alert", "delete_alert", "alert_callback")
ALERTS_SINK = "kapacitor-alerts-events"
DEAD_LETTERS_SINK = "kapacitor-alerts-dead-letters"
TEMPLATE_ENDPOINT = "benthos"
# LOCAL_TOPIC_LAYOUT -> the kafka-sources/ components that make it.
TOPIC_LAYOUTS: dict[str, tuple[str, ...]] = {
    "per-type": (),
    "single-topic": ("components/single-topic",),
}


@dataclass(frozen=True)
class StackState:
    """What ``make demo`` and the end-to-end tests need to reach the stack."""

    bootstrap_servers: str
    kapacitor_url: str
    emulated_kapacitor: bool
    functions: dict[str, str]
    lifecycle_topics: list[str]
    alerts_topic: str
    dead_letters_topic: str
    callback_token: str
    kapacitor_db: str
    topic_layout: str = "per-type"

    def save(self, path: Path = STATE_FILE) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, path: Path = STATE_FILE) -> StackState:
        return cls(**json.loads(path.read_text()))


@dataclass
class LocalStack:
    """Starts the parts in dependency order and stops them in reverse."""

    kafka_port: int = 0
    kapacitor_port: int = 0
    kapacitor_url: str | None = None
    kapacitor_db: str = "iot"
    topic_layout: str = "per-type"
    sources_dir: Path = Path("kafka-sources")
    sinks_dir: Path = Path("knative")
    functions_source: Path = Path("functions/main.py")
    log_dir: Path | None = None
    function_output: IO[bytes] | int | None = None
    function_env: dict[str, str] = field(default_factory=dict)
    backoff_scale: float = 1.0
    delivery_override: dict[str, Any] = field(default_factory=dict)
    broker: EmbeddedBroker | None = None
    emulator: Any = None
    functions: dict[str, FunctionProcess] = field(default_factory=dict)
    stand_in: Any = None
    state: StackState | None = None
    _served_emulator: Any = None

    def start(self) -> StackState:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackState:
        from deadman import KapacitorClient, KapacitorSettings
        from deadman.ops.template import bundled_template, install_template

        from .kafka_source import KafkaSourceStandIn, load_kafka_sinks, load_kafka_sources

        if self.topic_layout not in TOPIC_LAYOUTS:
            raise ValueError(
                f"unknown topic layout {self.topic_layout!r}; choose one of {sorted(TOPIC_LAYOUTS)}"
            )
        self.functions = {
            target: FunctionProcess(
                target,
                log_path=self._log(f"{target}.log"),
                stdout=self.function_output,
                source=self.functions_source,
            )
            for target in TARGETS
        }
        services = {target.replace("_", "-"): f.url for target, f in self.functions.items()}
        sources = load_kafka_sources(
            self.sources_dir,
            self.sinks_dir,
            services,
            components=TOPIC_LAYOUTS[self.topic_layout],
        )
        sinks = load_kafka_sinks(self.sinks_dir)
        lifecycle_topics = list(dict.fromkeys(t for source in sources for t in source.topics))
        alerts_topic = str(sinks[ALERTS_SINK].topic)
        dead_letters_topic = str(sinks[DEAD_LETTERS_SINK].topic)
        self.broker = EmbeddedBroker(port=self.kafka_port, log_path=self._log("tansu.log"))
        self.broker.start()
        create_topics(
            self.broker.bootstrap_servers,
            [*lifecycle_topics, alerts_topic, dead_letters_topic],
            partitions=3,
        )

        token = secrets.token_urlsafe(24)
        callback = self.functions["alert_callback"]
        kapacitor_url = self.kapacitor_url or self._start_emulator(callback.url, token)

        settings = KapacitorSettings(kapacitor_url=kapacitor_url)
        client = KapacitorClient(settings)
        try:
            template_id = settings.kapacitor_template_id
            install_template(client, template_id, bundled_template(template_id))
        finally:
            client.close()

        lifecycle_env = {
            "KAPACITOR_URL": kapacitor_url,
            "KAPACITOR_DB": self.kapacitor_db,
            "THREADS": "8",
            **self.function_env,
        }
        callback_env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "ALERTS_TOPIC": alerts_topic,
            "ALERT_CALLBACK_TOKEN": token,
            "THREADS": "8",
            **self.function_env,
        }
        for target, function in self.functions.items():
            function.env = callback_env if target == "alert_callback" else lifecycle_env
            function.start()

        self.stand_in = KafkaSourceStandIn(
            self.broker.bootstrap_servers,
            sources=sources,
            backoff_scale=self.backoff_scale,
            delivery_override=self.delivery_override or None,
        )
        self.stand_in.start()
        self.state = StackState(
            bootstrap_servers=self.broker.bootstrap_servers,
            kapacitor_url=kapacitor_url,
            emulated_kapacitor=self.kapacitor_url is None,
            functions={target: f.url for target, f in self.functions.items()},
            lifecycle_topics=lifecycle_topics,
            alerts_topic=alerts_topic,
            dead_letters_topic=dead_letters_topic,
            callback_token=token,
            kapacitor_db=self.kapacitor_db,
            topic_layout=self.topic_layout,
        )
        return self.state

    def _start_emulator(self, callback_url: str, token: str) -> str:
        from .kapacitor_emulator import HttpPostEndpoint, KapacitorEmulator, serve

        self.emulator = KapacitorEmulator(
            endpoints=[
                HttpPostEndpoint(
                    TEMPLATE_ENDPOINT, callback_url, {"Authorization": f"Bearer {token}"}
                )
            ],
        )
        self._served_emulator = serve(self.emulator, port=self.kapacitor_port)
        return str(self._served_emulator.url)

    def stop(self) -> None:
        if self.stand_in is not None:
            self.stand_in.stop()
            self.stand_in = None
        for function in self.functions.values():
            function.stop()
        if self._served_emulator is not None:
            self._served_emulator.close()
            self._served_emulator = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def _log(self, name: str) -> Path | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / name


def describe(state: StackState) -> str:
    lines = [
        "Local stack is up.",
        f"  Kafka (Tansu)      {state.bootstrap_servers}",
        f"  Kapacitor          {state.kapacitor_url}"
        + ("  (API emulator)" if state.emulated_kapacitor else "  (real)"),
    ]
    lines += [f"  {target:<18} {url}" for target, url in state.functions.items()]
    lines += [
        f"  lifecycle topics   {', '.join(state.lifecycle_topics)}  ({state.topic_layout})",
        f"  alerts topic       {state.alerts_topic}",
        f"  dead letters       {state.dead_letters_topic}",
        f"State in {STATE_FILE.name}; run `make demo` in another terminal. Ctrl-C stops.",
    ]
    return "\n".join(lines)


def run() -> int:
    """``make run``: start, print, stream logs, stop cleanly on Ctrl-C or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(
        kafka_port=int(os.environ.get("LOCAL_KAFKA_PORT", "0")),
        kapacitor_port=int(os.environ.get("LOCAL_KAPACITOR_PORT", "0")),
        kapacitor_url=os.environ.get("KAPACITOR_URL") or None,
        kapacitor_db=os.environ.get("KAPACITOR_DB", "iot"),
        topic_layout=os.environ.get("LOCAL_TOPIC_LAYOUT") or "per-type",
    )
    try:
        state = stack.start()
        state.save()
        print(describe(state), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            dead = [t for t, f in stack.functions.items() if f.pid is None or not f.alive]
            if dead:
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
                return 1
        return 0
    finally:
        print("stopping the local stack…", file=sys.stderr, flush=True)
        stack.stop()
        STATE_FILE.unlink(missing_ok=True)
