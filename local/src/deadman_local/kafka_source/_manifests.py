"""Reading KafkaSource and KafkaSink manifests into the stand-in's configuration.

Defaults follow the KafkaSource webhook (eventing-kafka-broker
``control-plane/pkg/apis/sources/v1/kafka_defaults.go``): ``initialOffset`` latest,
``ordering`` ordered, a random ``knative-kafka-source-<uuid>`` consumer group. A
KafkaSink's ``contentMode`` defaults to structured (``kafka_sink_defaults.go``).
The data plane's per-attempt timeout defaults to 600 s when ``delivery.timeout``
is unset, and no ``backoffDelay`` means retries follow each other at once.

A folder with a kustomization is rendered first (``deadman_local.kustomize``), so
``components`` such as ``components/single-topic`` apply as in the cluster; a
folder without one is read file by file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..kustomize import KUSTOMIZATION_NAMES, render

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT",
    "DeadLetterTarget",
    "DeliveryConfig",
    "ManifestError",
    "SourceConfig",
    "load_kafka_sinks",
    "load_kafka_sources",
    "parse_duration",
]

DEFAULT_ATTEMPT_TIMEOUT = 600.0
KEY_TYPE_LABEL = "kafkasources.sources.knative.dev/key-type"
_SOURCE_API_VERSIONS = ("sources.knative.dev/v1", "sources.knative.dev/v1beta1")
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"^P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$"
)


class ManifestError(ValueError):
    """A manifest the stand-in cannot turn into a working source."""


def parse_duration(text: str) -> float:
    """An ISO-8601 duration (``PT1S``, ``PT0.5S``, ``PT10M``, ``P1DT2H``) in seconds.

    Years and months have no fixed length, so they are refused rather than guessed.
    """
    match = _DURATION.match(text.strip().upper())
    if match is None or text.strip().upper() in ("P", "PT"):
        raise ManifestError(f"not an ISO-8601 duration (e.g. PT1S, PT0.5S): {text!r}")
    weeks, days, hours, minutes, seconds = (
        float(part.replace(",", ".")) if part else 0.0 for part in match.groups()
    )
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class DeadLetterTarget:
    """Where failed events go: a KafkaSink's topic, or an HTTP URL."""

    topic: str | None = None
    content_mode: str = "structured"
    url: str | None = None
    name: str = ""

    def describe(self) -> str:
        return f"kafka:{self.topic}" if self.topic else f"http:{self.url}"


@dataclass(frozen=True)
class DeliveryConfig:
    """``spec.delivery``: retries, backoff and the dead-letter sink."""

    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.0
    timeout: float = DEFAULT_ATTEMPT_TIMEOUT
    dead_letter: DeadLetterTarget | None = None


@dataclass(frozen=True)
class SourceConfig:
    """One KafkaSource, resolved: topics, group, sink URL and delivery spec."""

    name: str
    namespace: str
    topics: tuple[str, ...]
    consumer_group: str
    sink_url: str
    initial_offset: str = "latest"
    ordering: str = "ordered"
    key_type: str = "string"
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    ce_overrides: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None


def _documents(
    folder: Path, components: Sequence[Path | str] = ()
) -> Iterator[tuple[Path, dict[str, Any]]]:
    if any((folder / name).is_file() for name in KUSTOMIZATION_NAMES):
        try:
            rendered = render(folder, [folder / component for component in components])
        except (OSError, ValueError, KeyError, yaml.YAMLError) as error:
            raise ManifestError(f"{folder}: cannot render the kustomization: {error}") from error
        for document in rendered:
            yield folder, document
        return
    if components:
        raise ManifestError(f"{folder}: components need a kustomization to apply to")
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            raise ManifestError(f"{path}: not valid YAML: {error}") from error
        for document in documents:
            if isinstance(document, dict):
                yield path, document


def load_kafka_sinks(folder: Path | str, namespace: str = "default") -> dict[str, DeadLetterTarget]:
    """KafkaSink documents by ``name`` and ``namespace/name``."""
    sinks: dict[str, DeadLetterTarget] = {}
    root = Path(folder)
    if not root.is_dir():
        return sinks
    for _path, document in _documents(root):
        if document.get("kind") != "KafkaSink":
            continue
        meta = document.get("metadata") or {}
        spec = document.get("spec") or {}
        name = str(meta.get("name", ""))
        if not name or not spec.get("topic"):
            continue
        target = DeadLetterTarget(
            topic=str(spec["topic"]),
            content_mode=str(spec.get("contentMode") or "structured"),
            name=name,
        )
        sinks[name] = target
        sinks[f"{meta.get('namespace') or namespace}/{name}"] = target
    return sinks


def load_kafka_sources(
    sources_dir: Path | str,
    sinks_dir: Path | str | None = None,
    services: Mapping[str, str] | None = None,
    *,
    namespace: str = "default",
    components: Sequence[Path | str] = (),
) -> list[SourceConfig]:
    """Every KafkaSource in ``sources_dir``; sinks resolved through ``services``.

    ``components`` (paths relative to ``sources_dir``) are added to its
    kustomization, e.g. ``["components/single-topic"]``.

    ``services`` maps a sink ``ref`` name (or ``namespace/name``) to a base URL,
    e.g. ``{"enable-alert": "http://127.0.0.1:8081"}``; the same map resolves
    dead-letter sinks that are Services. KafkaSink refs resolve to their topic
    through the KafkaSink documents of ``sinks_dir``.
    """
    sinks = load_kafka_sinks(sinks_dir, namespace) if sinks_dir is not None else {}
    configs: list[SourceConfig] = []
    for path, document in _documents(Path(sources_dir), components):
        if document.get("kind") != "KafkaSource":
            continue
        if document.get("apiVersion") not in _SOURCE_API_VERSIONS:
            raise ManifestError(f"{path}: unsupported apiVersion {document.get('apiVersion')}")
        configs.append(_source(path, document, sinks, services or {}, namespace))
    return configs


def _source(
    path: Path,
    document: dict[str, Any],
    sinks: Mapping[str, DeadLetterTarget],
    services: Mapping[str, str],
    default_namespace: str,
) -> SourceConfig:
    meta = document.get("metadata") or {}
    spec = document.get("spec") or {}
    name = str(meta.get("name") or "")
    ns = str(meta.get("namespace") or default_namespace)
    where = f"{path}: KafkaSource {name or '?'}"
    topics = spec.get("topics") or []
    if isinstance(topics, str):
        topics = [part.strip() for part in topics.split(",") if part.strip()]
    if not name or not topics:
        raise ManifestError(f"{where}: metadata.name and spec.topics are required")
    sink = spec.get("sink") or {}
    sink_url = _destination(sink, services, ns, where, "spec.sink")
    if sink_url is None:
        raise ManifestError(f"{where}: spec.sink must be a Service ref or a uri")
    overrides = (spec.get("ceOverrides") or {}).get("extensions") or {}
    labels = meta.get("labels") or {}
    return SourceConfig(
        name=name,
        namespace=ns,
        topics=tuple(str(topic) for topic in topics),
        consumer_group=str(spec.get("consumerGroup") or f"knative-kafka-source-{uuid.uuid4()}"),
        sink_url=sink_url,
        initial_offset=str(spec.get("initialOffset") or "latest").lower(),
        ordering=str(spec.get("ordering") or "ordered").lower(),
        key_type=str(labels.get(KEY_TYPE_LABEL) or "string"),
        delivery=_delivery(spec.get("delivery") or {}, sinks, services, ns, where),
        ce_overrides={str(k): str(v) for k, v in overrides.items()},
        path=path,
    )


def _delivery(
    spec: dict[str, Any],
    sinks: Mapping[str, DeadLetterTarget],
    services: Mapping[str, str],
    namespace: str,
    where: str,
) -> DeliveryConfig:
    dead_letter: DeadLetterTarget | None = None
    dls = spec.get("deadLetterSink") or {}
    ref = dls.get("ref") or {}
    if ref.get("kind") == "KafkaSink":
        ref_ns = str(ref.get("namespace") or namespace)
        found = sinks.get(f"{ref_ns}/{ref.get('name')}") or sinks.get(str(ref.get("name")))
        if found is None:
            raise ManifestError(
                f"{where}: deadLetterSink KafkaSink {ref.get('name')!r} is not among the"
                " KafkaSink documents of the sinks folder"
            )
        dead_letter = found
    elif dls:
        url = _destination(dls, services, namespace, where, "deadLetterSink")
        dead_letter = DeadLetterTarget(url=url) if url else None
    policy = str(spec.get("backoffPolicy") or "exponential").lower()
    if policy not in ("exponential", "linear"):
        raise ManifestError(f"{where}: backoffPolicy must be linear or exponential")
    return DeliveryConfig(
        retry=int(spec.get("retry") or 0),
        backoff_policy=policy,
        backoff_delay=parse_duration(spec["backoffDelay"]) if spec.get("backoffDelay") else 0.0,
        timeout=parse_duration(spec["timeout"]) if spec.get("timeout") else DEFAULT_ATTEMPT_TIMEOUT,
        dead_letter=dead_letter,
    )


def _destination(
    destination: dict[str, Any],
    services: Mapping[str, str],
    namespace: str,
    where: str,
    field_name: str,
) -> str | None:
    ref = destination.get("ref") or {}
    uri = destination.get("uri")
    if not ref:
        return str(uri) if uri else None
    name = str(ref.get("name") or "")
    ref_ns = str(ref.get("namespace") or namespace)
    base = services.get(f"{ref_ns}/{name}") or services.get(name)
    if base is None:
        raise ManifestError(
            f"{where}: {field_name} refers to {ref.get('kind', '?')} {name!r}; pass its local"
            f" URL in the services mapping (e.g. {{{name!r}: 'http://127.0.0.1:8081'}})"
        )
    # A uri next to a ref is a path relative to the ref's address.
    return base.rstrip("/") + ("/" + str(uri).lstrip("/") if uri else "")
