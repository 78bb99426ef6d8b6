"""``KafkaSourceStandIn``: the KafkaSources of a manifest folder, run locally."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from ..net import Started
from ._counters import Counters, CounterSnapshot
from ._dispatcher import SourceRunner
from ._manifests import DeliveryConfig, SourceConfig, load_kafka_sources

__all__ = ["DEFAULT_SINKS_DIR", "DEFAULT_SOURCES_DIR", "KafkaSourceStandIn"]

# Relative to the working directory: the repository root, where make runs.
DEFAULT_SOURCES_DIR = Path("kafka-sources")
DEFAULT_SINKS_DIR = Path("knative")


class KafkaSourceStandIn(Started):
    """Consumes like Knative KafkaSources and delivers like their delivery spec.

    ``services`` maps the names a manifest's ``sink.ref`` (and a Service
    ``deadLetterSink.ref``) uses to local base URLs. ``components`` are added to
    the sources folder's kustomization. ``sources`` bypasses the manifest folders.
    ``backoff_scale`` multiplies every backoff delay and ``delivery_override``
    replaces fields of every source's ``DeliveryConfig`` (``retry``,
    ``backoff_policy``, ``backoff_delay``, ``timeout``): both exist for tests;
    by default the manifests rule. ``topic_extension`` adds ``knativekafkatopic``
    as the newest data plane releases do.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        services: Mapping[str, str] | None = None,
        *,
        sources_dir: Path | str = DEFAULT_SOURCES_DIR,
        sinks_dir: Path | str | None = DEFAULT_SINKS_DIR,
        namespace: str = "default",
        components: Sequence[Path | str] = (),
        sources: Sequence[SourceConfig] | None = None,
        backoff_scale: float = 1.0,
        delivery_override: Mapping[str, Any] | None = None,
        max_in_flight: int = 64,
        topic_extension: bool = False,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.sources: list[SourceConfig] = list(
            sources
            if sources is not None
            else load_kafka_sources(
                sources_dir, sinks_dir, services or {}, namespace=namespace, components=components
            )
        )
        self._changed = threading.Condition()
        self._client: httpx.Client | None = None
        self._runners: list[SourceRunner] = []
        self._counters = {source.name: Counters(self._changed) for source in self.sources}
        self._backoff_scale = backoff_scale
        self._delivery_override = dict(delivery_override or {})
        self._max_in_flight = max_in_flight
        self._topic_extension = topic_extension

    def delivery_of(self, source: SourceConfig) -> DeliveryConfig:
        """The delivery spec in force for a source, overrides applied."""
        return dataclasses.replace(source.delivery, **self._delivery_override)

    def start(self, *, wait_assigned: bool = True, timeout: float = 30.0) -> KafkaSourceStandIn:
        """Start one consumer per source; by default wait until each owns partitions."""
        if self._runners:
            raise RuntimeError("the stand-in is already running")
        self._client = httpx.Client(follow_redirects=False)
        for source in self.sources:
            runner = SourceRunner(
                source,
                self.delivery_of(source),
                self.bootstrap_servers,
                self._client,
                self._counters[source.name],
                backoff_scale=self._backoff_scale,
                max_in_flight=self._max_in_flight,
                topic_extension=self._topic_extension,
            )
            runner.start()
            self._runners.append(runner)
        if wait_assigned:
            self.wait_until_assigned(timeout)
        return self

    def wait_until_assigned(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for runner in self._runners:
            if not runner.assigned.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(
                    f"KafkaSource {runner.config.name} got no partitions in {timeout} s"
                )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming; unfinished deliveries are not committed (redelivered later)."""
        runners, self._runners = self._runners, []
        for runner in runners:
            runner.stop(timeout)
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def running(self) -> bool:
        return bool(self._runners)

    @property
    def counters(self) -> CounterSnapshot:
        """Counts summed over every source."""
        total = CounterSnapshot()
        for counters in self._counters.values():
            total = total + counters.snapshot()
        return total

    def counters_for(self, source_name: str) -> CounterSnapshot:
        return self._counters[source_name].snapshot()

    def wait_until(
        self, predicate: Callable[[CounterSnapshot], bool], timeout: float = 30.0
    ) -> CounterSnapshot:
        """Block until ``predicate(counters)`` holds; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(snapshot := self.counters):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"counters still {snapshot} after {timeout} s")
                self._changed.wait(remaining)
        return snapshot

    def __enter__(self) -> KafkaSourceStandIn:
        return self if self.running else self.start()
