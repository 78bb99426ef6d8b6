"""The whole loop on one machine: broker, Kapacitor, functions and KafkaSource stand-in.

Started by ``make run``. The stand-in reads ``kafka-sources/`` and ``knative/``, so
the local run uses the same topics, consumer groups and delivery spec as the
cluster. ``LOCAL_TOPIC_LAYOUT=single-topic`` adds ``components/single-topic`` to
``kafka-sources/``, as a cluster would enable it. Where everything listens is
printed and written to ``.local-stack.json`` for ``make demo``.

Kapacitor is, in this order: the one at ``KAPACITOR_URL`` (the user's own); a real
Kapacitor and InfluxDB started here when their binaries are found (see
``real_kapacitor``); else the project's emulator of Kapacitor's API.
``KAPACITOR=real`` or ``KAPACITOR=emulator`` forces one of the last two.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from deadman import LIFECYCLE_TYPES, ORDERED_TARGET

from .broker import EmbeddedBroker, create_topics
from .kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint, KafkaCluster

if TYPE_CHECKING:
    from deadman import InstallerSettings
from .functions import FunctionProcess

__all__ = ["KAPACITOR_KINDS", "STATE_FILE", "TOPIC_LAYOUTS", "LocalStack", "StackState"]

# Paths are relative to the working directory: the repository root, where make runs.
STATE_FILE = Path(".local-stack.json")
LIFECYCLE_TARGETS = tuple(row.target for row in LIFECYCLE_TYPES)
CALLBACK_TARGET = "alert_callback"
ALERTS_SINK = "kapacitor-alerts-events"
DEAD_LETTERS_SINK = "kapacitor-alerts-dead-letters"
# The Kafka alert path: Kapacitor's alerts topic read by a KafkaSource to the callback.
KAFKA_ALERTS_COMPONENT = "components/kafka-alerts"
CALLBACK_SOURCE = "alert-callback"
# KAPACITOR= values: a real server when its binaries are found (auto), or forced.
KAPACITOR_KINDS = ("auto", "real", "emulator")
# LOCAL_TOPIC_LAYOUT -> the kafka-sources/ components that make it.
TOPIC_LAYOUTS: dict[str, tuple[str, ...]] = {
    "per-type": (),
    "single-topic": ("components/single-topic",),
    # One function for every type, fed in order from one single-partition topic.
    "ordered": ("components/device-lifecycle",),
}


@dataclass(frozen=True)
class _Topics:
    lifecycle: list[str]
    alerts: str
    dead_letters: str
    kapacitor_alerts: str

    def all(self) -> list[str]:
        return [
            t for t in (*self.lifecycle, self.alerts, self.dead_letters, self.kapacitor_alerts) if t
        ]


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
    alert_delivery: str = "httppost"
    # What Kapacitor's Kafka event handler writes to (the Kafka alert path only).
    kapacitor_alerts_topic: str = ""
    heartbeat_task_id: str = "deadman_heartbeat"
    heartbeat_period: str = "1m"
    # real (started here), emulator, or external (KAPACITOR_URL).
    kapacitor_kind: str = "emulator"
    # Where the demo writes its devices' points: the real InfluxDB, else empty.
    influxdb_url: str = ""
    # The deadman period of the tasks the local run makes ("" when the template's).
    task_period: str = ""

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
    # The callback's port: fixed for an external Kapacitor's [[httppost]] url.
    callback_port: int = 0
    kapacitor_url: str | None = None
    kapacitor_db: str = "iot"
    # auto: a real Kapacitor when kapacitord and influxd are found, else the emulator.
    kapacitor: str = "auto"
    # External Kapacitor only: where its data is, for the demo's writer.
    influxdb_url: str = ""
    topic_layout: str = "per-type"
    # None: ALERT_DELIVERY from the environment (httppost when unset).
    alert_delivery: str | None = None
    # The local run pulses faster than the 1m default, so the demo sees it soon.
    heartbeat_period: str = "5s"
    # The template runs every minute, as the original pipeline's does; tasks made by
    # the local run check every 10 s instead (added to TASK_EXTRA_VARS unless those
    # name a period), so a silent device shows soon. None keeps the template's period.
    task_period: str | None = "10s"
    # The data-path check (docs/datapath.md), real servers only: InfluxDB stores its
    # monitor statistics every second (the canary), the installer adds the data-path
    # task, the callback gets INFLUXDB_URL (and KAPACITOR_URL, for its sweep).
    datapath: bool = False
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
    # The real InfluxDB and Kapacitor (a RealKapacitor), when started here.
    real: Any = None
    # Told what the stack does before it does it (make run prints it).
    say: Callable[[str], None] = field(default=lambda _: None, repr=False)
    _served_emulator: Any = None

    def start(self) -> StackState:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackState:
        from .kafka_source import KafkaSourceStandIn

        settings = self._kapacitor_settings()
        self.functions = {
            target: FunctionProcess(
                target,
                port=self.callback_port if target == CALLBACK_TARGET else 0,
                log_path=self._log(f"{target}.log"),
                stdout=self.function_output,
                source=self.functions_source,
            )
            for target in self._targets()
        }
        sources, topics = self._manifests(settings.alert_delivery)
        self.broker = EmbeddedBroker(port=self.kafka_port, log_path=self._log("tansu.log"))
        self.broker.start()
        create_topics(self.broker.bootstrap_servers, topics.all(), partitions=3)

        # The token authenticates Kapacitor's POST; on the Kafka path only the
        # KafkaSource calls the callback, and it sends none. An external Kapacitor's
        # [[httppost]] section is its operator's: no token there.
        posts_here = settings.alert_delivery == "httppost" and not self.kapacitor_url
        token = secrets.token_urlsafe(24) if posts_here else ""
        if self.kapacitor_url:
            if self.datapath:
                raise ValueError("the data-path check needs the real servers started here")
            kind, kapacitor_url = "external", self.kapacitor_url
            self.say(f"Kapacitor: external, {kapacitor_url} (KAPACITOR_URL)")
        elif (binaries := self._real_binaries()) is not None:
            kind = "real"
            kapacitor_url = self._start_real(
                binaries,
                token,
                settings.kapacitor_kafka_cluster,
                # A stream template's tasks are fed by InfluxDB's subscription.
                subscriptions=_is_stream(settings.kapacitor_template_id),
            )
        else:
            kind = "emulator"
            kapacitor_url = self._start_emulator(
                token, settings.kapacitor_kafka_cluster, settings.heartbeat_task_id
            )
        settings = settings.model_copy(update={"kapacitor_url": kapacitor_url})
        self._install_template(settings)
        self._start_functions(settings, topics.alerts, token)

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
            emulated_kapacitor=kind == "emulator",
            functions={target: f.url for target, f in self.functions.items()},
            lifecycle_topics=topics.lifecycle,
            alerts_topic=topics.alerts,
            dead_letters_topic=topics.dead_letters,
            callback_token=token,
            kapacitor_db=self.kapacitor_db,
            topic_layout=self.topic_layout,
            alert_delivery=settings.alert_delivery,
            kapacitor_alerts_topic=topics.kapacitor_alerts,
            heartbeat_task_id=settings.heartbeat_task_id,
            heartbeat_period=settings.heartbeat_period,
            kapacitor_kind=kind,
            influxdb_url=self.real.influxdb_url if self.real is not None else self.influxdb_url,
            task_period=self.task_period or "",
        )
        return self.state

    def _targets(self) -> tuple[str, ...]:
        lifecycle = (ORDERED_TARGET,) if self.topic_layout == "ordered" else LIFECYCLE_TARGETS
        return (*lifecycle, CALLBACK_TARGET)

    def _kapacitor_settings(self, **more: Any) -> InstallerSettings:
        from deadman import InstallerSettings

        if self.topic_layout not in TOPIC_LAYOUTS:
            raise ValueError(
                f"unknown topic layout {self.topic_layout!r}; choose one of {sorted(TOPIC_LAYOUTS)}"
            )
        # ALERT_DELIVERY, KAPACITOR_KAFKA_CLUSTER, KAPACITOR_ALERTS_TOPIC, as the
        # installer reads them.
        overrides: dict[str, Any] = {
            "kapacitor_db": self.kapacitor_db,
            "heartbeat_period": self.heartbeat_period,
        }
        if self.alert_delivery is not None:
            overrides["alert_delivery"] = self.alert_delivery
        # The environment for the rest (KAPACITOR_KAFKA_CLUSTER, HEARTBEAT_TASK_ID, ...).
        return InstallerSettings(**overrides, **more)

    def _manifests(self, alert_delivery: str) -> tuple[list[Any], _Topics]:
        """The KafkaSources of the chosen layout and delivery, and every topic."""
        from .kafka_source import load_kafka_sinks, load_kafka_sources

        components = list(TOPIC_LAYOUTS[self.topic_layout])
        if alert_delivery == "kafka":
            components.append(KAFKA_ALERTS_COMPONENT)
        services = {target.replace("_", "-"): f.url for target, f in self.functions.items()}
        sources = load_kafka_sources(
            self.sources_dir, self.sinks_dir, services, components=components
        )
        sinks = load_kafka_sinks(self.sinks_dir)
        read = list(dict.fromkeys(t for source in sources for t in source.topics))
        kapacitor_alerts = [t for s in sources if s.name == CALLBACK_SOURCE for t in s.topics]
        topics = _Topics(
            lifecycle=[t for t in read if t not in kapacitor_alerts],
            alerts=str(sinks[ALERTS_SINK].topic),
            dead_letters=str(sinks[DEAD_LETTERS_SINK].topic),
            kapacitor_alerts=kapacitor_alerts[0] if kapacitor_alerts else "",
        )
        return sources, topics

    def _install_template(self, settings: InstallerSettings) -> None:
        """What ``make template`` does: the template, then the heartbeat task."""
        from deadman import KapacitorClient
        from deadman.ops.heartbeat import install_heartbeat
        from deadman.ops.template import bundled_template, install_template, render_template

        template_id = settings.kapacitor_template_id
        script = render_template(bundled_template(template_id), settings)
        with KapacitorClient(settings) as client:
            install_template(client, template_id, script)
            install_heartbeat(client, settings)
            if self.datapath and self.real is not None:
                self._install_datapath(client, settings, script)

    def _install_datapath(self, client: Any, settings: InstallerSettings, script: str) -> None:
        """The data-path task at the tasks' own period, once InfluxDB wrote its canary."""
        from deadman.ops.datapath import install_datapath

        assert self.real is not None
        self.real.wait_for_monitor()
        given = {**self.function_env, **self._task_period_vars()}.get(
            "TASK_EXTRA_VARS", os.environ.get("TASK_EXTRA_VARS", "")
        )
        settings = self._kapacitor_settings(
            kapacitor_url=settings.kapacitor_url,
            influxdb_url=self.real.influxdb_url,
            task_extra_vars=json.loads(given) if given.strip() else {},
        )
        install_datapath(client, settings, script)

    def _start_functions(self, settings: InstallerSettings, alerts_topic: str, token: str) -> None:
        assert self.broker is not None
        lifecycle_env = {
            "KAPACITOR_URL": settings.kapacitor_url,
            "ALERT_DELIVERY": settings.alert_delivery,
            "KAPACITOR_DB": self.kapacitor_db,
            "THREADS": "8",
            **self.function_env,
            **self._task_period_vars(),
        }
        callback_env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "ALERTS_TOPIC": alerts_topic,
            "THREADS": "8",
            **({"ALERT_CALLBACK_TOKEN": token} if token else {}),
            **self._datapath_env(settings),
            **self.function_env,
        }
        for target, function in self.functions.items():
            function.env = callback_env if target == CALLBACK_TARGET else lifecycle_env
            function.start()

    def _datapath_env(self, settings: InstallerSettings) -> dict[str, str]:
        if not self.datapath or self.real is None:
            # INFLUXDB_URL in the shell names the demo's InfluxDB, not a request for
            # the check: an empty value is unset.
            return {"INFLUXDB_URL": ""}
        return {"INFLUXDB_URL": self.real.influxdb_url, "KAPACITOR_URL": settings.kapacitor_url}

    def _task_period_vars(self) -> dict[str, str]:
        """TASK_EXTRA_VARS with the local period added, unless the vars set by hand
        (environment or ``function_env``) name a period of their own."""
        if self.task_period is None:
            return {}
        given = self.function_env.get("TASK_EXTRA_VARS", os.environ.get("TASK_EXTRA_VARS", ""))
        try:
            extra = json.loads(given) if given.strip() else {}
        except ValueError:
            return {}  # the functions refuse it at start-up, naming the setting
        if not isinstance(extra, dict) or "period" in extra:
            return {}
        period = {"type": "duration", "value": self.task_period}
        return {"TASK_EXTRA_VARS": json.dumps({**extra, "period": period})}

    def _real_binaries(self) -> Any:
        """The real servers' binaries, or None for the emulator (saying why)."""
        from .real_kapacitor import KapacitorNotFoundError, find_binaries

        if self.kapacitor not in KAPACITOR_KINDS:
            raise ValueError(
                f"KAPACITOR={self.kapacitor!r}: choose one of {', '.join(KAPACITOR_KINDS)}"
            )
        if self.kapacitor == "emulator":
            if self.datapath:
                raise ValueError("the data-path check needs the real Kapacitor and InfluxDB")
            self.say("Kapacitor: emulator (KAPACITOR=emulator)")
            return None

        def building(script: Path) -> None:
            self.say(f"Kapacitor: running {script} (cached after its first build)")

        try:
            return find_binaries(on_build=building)
        except KapacitorNotFoundError as missing:
            if self.kapacitor == "real" or self.datapath:
                raise
            self.say(f"Kapacitor: emulator, no real server: {missing}")
            return None

    def _start_real(
        self, binaries: Any, token: str, kafka_cluster: str, *, subscriptions: bool
    ) -> str:
        from .real_kapacitor import RealKapacitor

        assert self.broker is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        callback = self.functions[CALLBACK_TARGET].url
        self.real = RealKapacitor(
            binaries,
            db=self.kapacitor_db,
            endpoints=[HttpPostEndpoint(TEMPLATE_ENDPOINT, callback, headers)],
            kafka_clusters=[KafkaCluster(kafka_cluster, self.broker.bootstrap_servers)],
            kapacitor_port=self.kapacitor_port,
            # The data-path task's canary, written every second.
            influxdb_monitor_interval="1s" if self.datapath else None,
            subscriptions=subscriptions,
        )
        self.real.start()
        self.say(
            f"Kapacitor: real, {binaries.kapacitor_version()} with InfluxDB at"
            f" {self.real.influxdb_url} (found by {binaries.found_by})"
        )
        return str(self.real.kapacitor_url)

    def _start_emulator(self, token: str, kafka_cluster: str, heartbeat_task_id: str) -> str:
        from .kapacitor_emulator import HttpPostEndpoint, KafkaCluster, KapacitorEmulator, serve

        assert self.broker is not None
        callback = self.functions[CALLBACK_TARGET].url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.emulator = KapacitorEmulator(
            endpoints=[HttpPostEndpoint(TEMPLATE_ENDPOINT, callback, headers)],
            # The heartbeat's measurement never receives data: it fires every period.
            silent_measurements=[heartbeat_task_id],
            kafka_clusters=[KafkaCluster(kafka_cluster, self.broker.bootstrap_servers)],
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
        if self.real is not None:
            self.real.stop()
            self.real = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def _log(self, name: str) -> Path | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / name


_KIND_NAMES = {"real": "real", "emulator": "API emulator", "external": "KAPACITOR_URL"}


def describe(state: StackState) -> str:
    lines = [
        "Local stack is up.",
        f"  Kafka (Tansu)      {state.bootstrap_servers}",
        f"  Kapacitor          {state.kapacitor_url}  ({_KIND_NAMES[state.kapacitor_kind]})",
    ]
    if state.influxdb_url:
        lines.append(f"  InfluxDB           {state.influxdb_url}")
    lines += [f"  {target:<18} {url}" for target, url in state.functions.items()]
    lines += [
        f"  lifecycle topics   {', '.join(state.lifecycle_topics)}  ({state.topic_layout})",
        f"  alert delivery     {state.alert_delivery}"
        + (
            f" (Kapacitor writes {state.kapacitor_alerts_topic})"
            if state.kapacitor_alerts_topic
            else ""
        ),
        f"  alerts topic       {state.alerts_topic}",
        f"  dead letters       {state.dead_letters_topic}",
        f"State in {STATE_FILE.name}; run `make demo` in another terminal. Ctrl-C stops.",
    ]
    return "\n".join(lines)


def run() -> int:
    """``make run``: start, print, stream logs, stop cleanly on Ctrl-C or SIGTERM."""
    import signal
    import threading

    if os.environ.get("KAPACITOR_URLS"):
        # The functions would inherit it; the local run and its demo use one Kapacitor.
        print("make run: unset KAPACITOR_URLS: the local run uses one Kapacitor", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(
        kafka_port=int(os.environ.get("LOCAL_KAFKA_PORT", "0")),
        kapacitor_port=int(os.environ.get("LOCAL_KAPACITOR_PORT", "0")),
        callback_port=int(os.environ.get("LOCAL_CALLBACK_PORT", "0")),
        kapacitor_url=os.environ.get("KAPACITOR_URL") or None,
        kapacitor=os.environ.get("KAPACITOR") or "auto",
        influxdb_url=os.environ.get("INFLUXDB_URL", ""),
        kapacitor_db=os.environ.get("KAPACITOR_DB", "iot"),
        topic_layout=os.environ.get("LOCAL_TOPIC_LAYOUT") or "per-type",
        heartbeat_period=os.environ.get("HEARTBEAT_PERIOD") or "5s",
        task_period=os.environ.get("LOCAL_TASK_PERIOD") or "10s",
        datapath=os.environ.get("LOCAL_DATAPATH") == "1",
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    from .real_kapacitor import KapacitorNotFoundError

    try:
        try:
            state = stack.start()
        except (KapacitorNotFoundError, ValueError) as refused:
            print(f"make run: {refused}", file=sys.stderr)
            return 2
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


def _is_stream(template_id: str) -> bool:
    """Whether the bundled template ``template_id`` reads a stream (``stream|from()``)."""
    from deadman.ops.template import bundled_template

    return re.search(r"\bstream\s*\|\s*from\(", bundled_template(template_id)) is not None
