"""The deployment assets in knative/ and kafka-sources/: schemas and cross-checks.

Every YAML document is validated: custom resources against the upstream CRD
schemas in ../shared/k8s-schemas (Draft 4, plus the unknown-field check the API
server applies under kubectl's strict field validation), core kinds with
kubernetes-validate. A kind with neither fails. The cross-checks then follow the
chain end to end: outbox types -> connector routes -> KafkaTopics ->
KafkaSources -> Services -> function targets in functions/main.py, and the alert
callback -> SinkBinding -> KafkaSink, with every setting a container receives
loaded through deadman.load_settings exactly as the function would load it.

The bundles are rendered by a small stand-in for kustomize (resources,
configMapGenerator, components, JSON 6902 patches, namespace, labels, images)
so the checks run without tools; when kustomize or kubectl is on PATH the real
build is validated too.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deadman import LIFECYCLE_TYPES
from deadman_local.kustomize import (
    KUSTOMIZATION_NAMES,
    SUPPORTED_KEYS,
    containers,
    generated_configmaps,
    load_kustomization,
    load_yaml_docs,
    parse_env_file,
    render,
    render_layer,
)
from tests.support.paths import CAPTURES, ROOT, SHARED, TEMPLATE_ID
from tests.support.shared import shared_path

SCHEMAS = SHARED / "k8s-schemas"
DEPLOY_DIRS = ("knative", "kafka-sources")
K8S_VERSION = "1.30"

KUSTOMIZE_CONFIG_NAMES = {"kustomizeconfig.yaml"}
YAML_SUFFIXES = {".yaml", ".yml"}
# Files that are not Kubernetes objects: SQL, TICKscript, docs, env files.
NON_K8S_SUFFIXES = {".sql", ".tick", ".md", ".env"}
# What the stand-in renderer understands; anything else must be taught to it first.

IMAGE_PLACEHOLDER = "deadman-functions"
TEMPLATE_NAME = f"{TEMPLATE_ID}.tick"
# Function <-> lifecycle action <-> LifecycleSettings.event_type_<action>.
# Service name -> (function target, action), from the product's contract table.
LIFECYCLE_FUNCTIONS = {row.service: (row.target, row.action.value) for row in LIFECYCLE_TYPES}
CALLBACK = ("alert-callback", "alert_callback")
DEAD_LETTER_SINK = "kapacitor-alerts-dead-letters"
ALERTS_SINK = "kapacitor-alerts-events"
# Environment a container may get that is not a deadman setting.
NON_SETTINGS_ENV = {
    "FUNCTION_TARGET",
    "FUNCTION_SIGNATURE_TYPE",
    "FUNCTION_SOURCE",
    "WORKERS",
    "THREADS",
    "PORT",
    "LOG_LEVEL",
    "SECRETS_DIR",
    "K_SINK",
}
# Knative sets these itself and refuses (PORT) or overwrites them; K_SINK is the
# SinkBinding's to inject.
KNATIVE_RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION", "K_SINK"}
# Knative Serving's default config-defaults max-revision-timeout-seconds.
KNATIVE_MAX_TIMEOUT_SECONDS = 600
# Measured on 2 cores with 8 calls in flight: about 65 tasks/s on an idle 1.5, about
# 26/s on one already running 1,000 tasks. Size for the busy one.
KAPACITOR_TASKS_PER_SECOND = 26
# Kapacitor's alert POST client gives up after 30 s (services/httppost).
KAPACITOR_POST_TIMEOUT_SECONDS = 30
PLACEHOLDER_MARK = "CHANGE-ME"


# --------------------------------------------------------------------------- files


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def deploy_files() -> list[Path]:
    return sorted(
        path
        for directory in DEPLOY_DIRS
        if (ROOT / directory).is_dir()
        for path in (ROOT / directory).rglob("*")
        if path.is_file()
    )


def is_kustomization(path: Path) -> bool:
    return path.name in KUSTOMIZATION_NAMES


def manifest_files() -> list[Path]:
    return [
        path
        for path in deploy_files()
        if path.suffix in YAML_SUFFIXES
        and not is_kustomization(path)
        and path.name not in KUSTOMIZE_CONFIG_NAMES
    ]


def kustomization_files() -> list[Path]:
    return [path for path in deploy_files() if is_kustomization(path)]


# ------------------------------------------------------------------ the bundles


@dataclass(frozen=True)
class Doc:
    """One Kubernetes object and where it came from (for test ids)."""

    origin: str
    body: dict[str, Any]

    @property
    def id(self) -> str:
        metadata = self.body.get("metadata") or {}
        return f"{self.origin}:{self.body.get('kind')}/{metadata.get('name')}"


def source_docs() -> list[Doc]:
    """Every document in every manifest file, plus what each generator makes."""
    docs = [Doc(_rel(path), doc) for path in manifest_files() for doc in load_yaml_docs(path)]
    for path in kustomization_files():
        kustomization = load_kustomization(path.parent)
        if kustomization.get("kind") == "Component":
            continue
        for generated in generated_configmaps(path.parent, kustomization):
            docs.append(Doc(f"{_rel(path)}[generated]", generated))
    return docs


def component_docs() -> list[Doc]:
    """Each kustomization rendered with each of its components (<base>/components/<name>)."""
    docs = []
    for path in kustomization_files():
        if load_kustomization(path.parent).get("kind") != "Component":
            continue
        base = path.parent.parent.parent
        before = {json.dumps(doc, sort_keys=True) for doc in render(base)}
        for doc in render_layer(path.parent, render(base)):
            if json.dumps(doc, sort_keys=True) not in before:
                docs.append(Doc(f"{_rel(path)}[applied]", doc))
    return docs


@cache
def knative_bundle() -> tuple[dict[str, Any], ...]:
    return tuple(render(ROOT / "knative"))


@cache
def kafka_bundle() -> tuple[dict[str, Any], ...]:
    return tuple(render(ROOT / "kafka-sources"))


@cache
def secret_templates() -> tuple[dict[str, Any], ...]:
    return tuple(
        doc
        for directory in ("knative/secrets", "kafka-sources/secrets")
        for doc in render(ROOT / directory)
    )


def everything() -> list[dict[str, Any]]:
    return [*knative_bundle(), *kafka_bundle(), *secret_templates()]


def of_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [doc for doc in (everything() if docs is None else docs) if doc.get("kind") == kind]


def find(kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    for doc in of_kind(kind):
        metadata = doc["metadata"]
        if metadata.get("name") == name and metadata.get("namespace") == namespace:
            return doc
    return None


def service(name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind("Service") if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one Knative Service {name}, found {len(found)}"
    return found[0]


def knative_namespace() -> str:
    namespace = load_kustomization(ROOT / "knative").get("namespace")
    assert namespace, "knative/kustomization.yaml must set the functions' namespace"
    return str(namespace)


def settings_file() -> dict[str, str]:
    return parse_env_file(ROOT / "knative" / "settings.env")


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc.get("kind") == "CronJob" else doc["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def workloads() -> list[dict[str, Any]]:
    bundle = list(knative_bundle())
    return [*of_kind("Service", bundle), *of_kind("Job", bundle), *of_kind("CronJob", bundle)]


def pod_annotations(doc: dict[str, Any]) -> dict[str, str]:
    notes: dict[str, str] = doc["spec"]["template"].get("metadata", {}).get("annotations", {})
    return notes


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def iso_seconds(text: str) -> float:
    match = _DURATION.match(text)
    assert match, f"{text!r} is not an ISO-8601 duration"
    assert text not in ("P", "PT"), f"{text!r} is an empty duration"
    parts = {key: float(value or 0) for key, value in match.groupdict().items()}
    return parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]


# ------------------------------------------------------------------- validation


def _unknown_fields(instance: Any, schema: Any, path: str) -> list[str]:
    """Fields a structural schema does not declare (rejected under strict field validation)."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    problems: list[str] = []
    if isinstance(instance, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is not None:
            if extra in (None, False):
                allowed = set(properties) | (
                    {"apiVersion", "kind", "metadata"} if not path else set()
                )
                problems += [
                    f"{path}/{key}: unknown field" for key in instance if key not in allowed
                ]
            for key, value in instance.items():
                if key in properties:
                    problems += _unknown_fields(value, properties[key], f"{path}/{key}")
        elif isinstance(extra, dict):
            for key, value in instance.items():
                problems += _unknown_fields(value, extra, f"{path}/{key}")
    elif isinstance(instance, list):
        for index, item in enumerate(instance):
            problems += _unknown_fields(item, schema.get("items"), f"{path}/{index}")
    return problems


def crd_schema_path(doc: dict[str, Any]) -> Path:
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    return SCHEMAS / group / version / f"{str(doc.get('kind', '')).lower()}.json"


def require_schemas() -> None:
    if SCHEMAS.is_dir():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{SCHEMAS} is missing; CI needs ../shared/k8s-schemas beside the clone")
    pytest.skip(f"{SCHEMAS} is not available here: custom resources left unvalidated")


def validation_errors(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` would not be accepted, [] when it would; a kind without schema fails."""
    if not doc.get("apiVersion") or not doc.get("kind"):
        return ["not a Kubernetes object: apiVersion and kind are required"]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.path) or "<root>"
        return [f"{where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        pass  # not a core kind: must be a custom resource with a stored schema
    else:
        return []
    require_schemas()
    path = crd_schema_path(doc)
    if not path.is_file():
        return [
            f"{doc['apiVersion']} {doc['kind']}: no schema, neither in core Kubernetes"
            f" {K8S_VERSION} nor at {path.relative_to(SHARED)}"
        ]
    schema = json.loads(path.read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in jsonschema.Draft4Validator(schema).iter_errors(doc)
    ]
    return errors + _unknown_fields(doc, schema, "")


SOURCE_DOCS = source_docs()
COMPONENT_DOCS = component_docs()


@pytest.mark.parametrize("doc", SOURCE_DOCS, ids=[doc.id for doc in SOURCE_DOCS])
def test_manifest_valid_against_schema(doc: Doc) -> None:
    assert validation_errors(doc.body) == []


@pytest.mark.parametrize("doc", COMPONENT_DOCS, ids=[doc.id for doc in COMPONENT_DOCS])
def test_component_output_valid_against_schema(doc: Doc) -> None:
    """The older-cluster variants (KafkaSource v1beta1, Strimzi v1beta2) validate too."""
    assert validation_errors(doc.body) == []


def test_components_cover_older_api_versions() -> None:
    versions = {doc.body["apiVersion"] for doc in COMPONENT_DOCS}
    assert {"sources.knative.dev/v1beta1", "kafka.strimzi.io/v1beta2"} <= versions


def test_validation_unknown_kind_rejected() -> None:
    """Guard for the guard: a kind nobody has a schema for never passes."""
    require_schemas()
    errors = validation_errors({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {}})
    assert errors
    assert "no schema" in errors[0]


def test_validation_unknown_field_rejected() -> None:
    require_schemas()
    doc = copy.deepcopy(of_kind("KafkaSource")[0])
    doc["spec"]["delivery"]["retries"] = 3
    assert "/spec/delivery/retries: unknown field" in validation_errors(doc)


# --------------------------------------------------------------- kustomizations

KUSTOMIZATIONS = kustomization_files()


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=[_rel(p) for p in KUSTOMIZATIONS])
def test_kustomization_references_exist(path: Path) -> None:
    kustomization = load_kustomization(path.parent)
    assert set(kustomization) <= SUPPORTED_KEYS
    missing = []
    for entry in kustomization.get("resources", []):
        target = path.parent / entry
        if not (target.is_file() or (target.is_dir() and load_kustomization(target))):
            missing.append(entry)
    for entry in kustomization.get("components", []):
        target = path.parent / entry
        if load_kustomization(target).get("kind") != "Component":
            missing.append(f"{entry} (not a Component)")
    for generator in kustomization.get("configMapGenerator", []):
        for entry in [*generator.get("envs", []), *generator.get("files", [])]:
            if not (path.parent / entry.rpartition("=")[2]).is_file():
                missing.append(entry)
    for entry in [*kustomization.get("configurations", [])]:
        if not (path.parent / entry).is_file():
            missing.append(entry)
    for patch in kustomization.get("patches", []):
        if "path" in patch and not (path.parent / patch["path"]).is_file():
            missing.append(patch["path"])
    assert missing == []


def test_kustomization_every_manifest_file_used() -> None:
    """No manifest file sits unused beside the kustomizations that deploy the rest."""
    used = {
        (path.parent / entry).resolve()
        for path in KUSTOMIZATIONS
        for entry in load_kustomization(path.parent).get("resources", [])
    }
    assert [_rel(path) for path in manifest_files() if path.resolve() not in used] == []


def test_deploy_dirs_hold_only_known_file_types() -> None:
    known = YAML_SUFFIXES | NON_K8S_SUFFIXES
    strays = [_rel(p) for p in deploy_files() if p.suffix not in known and not is_kustomization(p)]
    assert strays == []


def test_kustomization_image_placeholder_set() -> None:
    images = {image["name"]: image for image in load_kustomization(ROOT / "knative")["images"]}
    assert images[IMAGE_PLACEHOLDER].get("newName")
    assert images[IMAGE_PLACEHOLDER].get("newTag")
    raw = [c["image"] for p in manifest_files() for d in load_yaml_docs(p) for c in containers(d)]
    assert raw
    assert set(raw) == {IMAGE_PLACEHOLDER}


def _kustomize_command() -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.skip("neither kustomize nor kubectl on PATH: real kustomize builds not checked")
    raise AssertionError  # unreachable


def _build(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*_kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


BUILD_DIRS = sorted(
    _rel(p.parent)
    for p in KUSTOMIZATIONS
    if load_kustomization(p.parent).get("kind") != "Component"
)


@pytest.mark.parametrize("directory", BUILD_DIRS)
def test_kustomize_build_valid(directory: str) -> None:
    built = _build(ROOT / directory)
    assert built
    problems = {
        f"{doc['kind']}/{doc['metadata']['name']}": errors
        for doc in built
        if (errors := validation_errors(doc))
    }
    assert problems == {}
    # The stand-in renderer sees the same objects (kustomize only adds name hashes).
    hashless = {(d["kind"], d["metadata"].get("namespace")) for d in render(ROOT / directory)}
    assert {(d["kind"], d["metadata"].get("namespace")) for d in built} == hashless


def test_kustomize_build_references_generated_names() -> None:
    """Hash-suffixed ConfigMaps are referenced by their final names, Services included."""
    built = _build(ROOT / "knative")
    configmaps = {d["metadata"]["name"] for d in built if d["kind"] == "ConfigMap"}
    referenced = set()
    for doc in built:
        if doc["kind"] not in ("Service", "Job", "CronJob"):
            continue
        spec = pod_spec(doc)
        for container in spec["containers"]:
            assert not container["image"].startswith(IMAGE_PLACEHOLDER + ":")
            assert container["image"] != IMAGE_PLACEHOLDER
            referenced |= {
                source["configMapRef"]["name"]
                for source in container.get("envFrom", [])
                if "configMapRef" in source
            }
        referenced |= {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
    assert referenced
    assert referenced <= configmaps
    assert all(re.fullmatch(r".+-[a-z0-9]{10}", name) for name in referenced)


def test_kustomize_build_components(tmp_path: Path) -> None:
    """kafka-sources/ with its components enabled, as the comment there explains."""
    copy_dir = tmp_path / "kafka-sources"
    shutil.copytree(ROOT / "kafka-sources", copy_dir)
    # device-lifecycle replaces single-topic (both write outbox.event.device).
    components = sorted(
        p.parent.relative_to(ROOT / "kafka-sources").as_posix()
        for p in KUSTOMIZATIONS
        if p.is_relative_to(ROOT / "kafka-sources")
        and load_kustomization(p.parent).get("kind") == "Component"
        and p.parent.name != "device-lifecycle"
    )
    assert components
    kustomization = copy_dir / "kustomization.yaml"
    data = load_kustomization(copy_dir)
    data["components"] = components
    kustomization.write_text(yaml.safe_dump(data), encoding="utf-8")
    built = _build(copy_dir)
    assert {d["apiVersion"] for d in built if d["kind"] == "KafkaSource"} == {
        "sources.knative.dev/v1beta1"
    }
    assert {
        d["apiVersion"]
        for d in built
        if d["kind"].startswith("Kafka") and "strimzi" in d["apiVersion"]
    } == {"kafka.strimzi.io/v1beta2"}
    assert [doc["kind"] for doc in built if validation_errors(doc)] == []


# ---------------------------------------------------------- functions and settings


@cache
def main_functions() -> dict[str, set[str]]:
    """Top-level functions of functions/main.py and their decorator names."""
    tree = ast.parse((ROOT / "functions" / "main.py").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names = set()
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute):
                    names.add(target.attr)
                elif isinstance(target, ast.Name):
                    names.add(target.id)
            found[node.name] = names
    return found


@cache
def settings_classes() -> dict[str, Any]:
    if str(ROOT / "functions") not in sys.path:
        sys.path.insert(0, str(ROOT / "functions"))
    from deadman import _config

    return {
        "KapacitorSettings": _config.KapacitorSettings,
        "InstallerSettings": _config.InstallerSettings,
        "LifecycleSettings": _config.LifecycleSettings,
        "AlertSettings": _config.AlertSettings,
        "AuditSettings": _config.AuditSettings,
        "HeartbeatCheckSettings": _config.HeartbeatCheckSettings,
    }


def settings_names() -> set[str]:
    return {name.upper() for cls in settings_classes().values() for name in cls.model_fields}


SERVICE_NAMES = [*LIFECYCLE_FUNCTIONS, CALLBACK[0]]


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_function_target_exists(name: str) -> None:
    container = pod_spec(service(name))["containers"][0]
    env = env_of(container)
    target = env["FUNCTION_TARGET"]
    expected = LIFECYCLE_FUNCTIONS[name][0] if name in LIFECYCLE_FUNCTIONS else CALLBACK[1]
    assert target == expected
    assert target in main_functions(), f"functions/main.py has no {target}()"
    signature = "cloudevent" if name in LIFECYCLE_FUNCTIONS else "http"
    assert env["FUNCTION_SIGNATURE_TYPE"] == signature
    decorators = main_functions()[target]
    decorator = {"cloudevent": "cloud_event", "http": "http"}[signature]
    assert decorator in decorators, f"{target} is not a @functions_framework.{decorator}"


def _container_env(doc: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The environment the container starts with (ConfigMaps and Secrets resolved)."""
    namespace = doc["metadata"].get("namespace")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref, kind = source["configMapRef"], "ConfigMap"
        else:
            ref, kind = source["secretRef"], "Secret"
        found = find(kind, ref["name"], namespace)
        assert found is not None or ref.get("optional"), f"{kind} {ref['name']} not found"
        if found is not None:
            env.update(found.get("data", {}))
            env.update(found.get("stringData", {}))
    env.update(env_of(container))
    return env


WORKLOAD_CONTAINERS = [
    (doc, container) for doc in workloads() for container in pod_spec(doc)["containers"]
]
WORKLOAD_IDS = [f"{doc['kind']}/{doc['metadata']['name']}" for doc, _ in WORKLOAD_CONTAINERS]


@pytest.mark.parametrize(("doc", "container"), WORKLOAD_CONTAINERS, ids=WORKLOAD_IDS)
def test_container_env_names_are_settings(doc: dict[str, Any], container: dict[str, Any]) -> None:
    unknown = set(_container_env(doc, container)) - settings_names() - NON_SETTINGS_ENV
    assert unknown == set(), "not a field of the deadman settings"


@pytest.mark.parametrize(("doc", "container"), WORKLOAD_CONTAINERS, ids=WORKLOAD_IDS)
def test_container_settings_load(
    doc: dict[str, Any], container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings the container gets pass the same validation the function runs at start."""
    from deadman import load_settings

    env = _container_env(doc, container)
    target = env.get("FUNCTION_TARGET")
    if target == CALLBACK[1]:
        cls = settings_classes()["AlertSettings"]
        env["K_SINK"] = "http://kafka-sink-ingress.knative-eventing.svc.cluster.local/x/y"
    elif target:
        cls = settings_classes()["LifecycleSettings"]
    elif "audit" in [*container.get("command", []), *container.get("args", [])]:
        cls = settings_classes()["AuditSettings"]
    elif "heartbeat" in [*container.get("command", []), *container.get("args", [])]:
        cls = settings_classes()["HeartbeatCheckSettings"]
    else:
        cls = settings_classes()["InstallerSettings"]
    for name in settings_names() | NON_SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(cls)
    assert settings is not None


def test_settings_file_keys_are_settings() -> None:
    assert set(settings_file()) - settings_names() - NON_SETTINGS_ENV == set()


def test_settings_file_leaves_local_only_settings_out() -> None:
    """In the cluster the callback emits through K_SINK, never straight to Kafka."""
    local_only = {"KAFKA_BOOTSTRAP_SERVERS", "K_SINK", "ALERTS_TOPIC", "KAFKA_PRODUCER_CONFIG"}
    assert set(settings_file()) & local_only == set()


# ------------------------------------------------------------ Knative Services


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_cluster_local(name: str) -> None:
    labels = service(name)["metadata"].get("labels", {})
    assert labels.get("networking.knative.dev/visibility") == "cluster-local"


@pytest.mark.parametrize("name", list(LIFECYCLE_FUNCTIONS))
def test_lifecycle_service_scales_to_zero(name: str) -> None:
    notes = pod_annotations(service(name))
    assert notes.get("autoscaling.knative.dev/min-scale") == "0"
    assert int(notes["autoscaling.knative.dev/max-scale"]) >= 1


@pytest.mark.parametrize("name", list(LIFECYCLE_FUNCTIONS))
def test_lifecycle_service_timeout_fits_bulk_event(name: str) -> None:
    spec = pod_spec(service(name))
    bulk_seconds = int(settings_file()["MAX_DEVICES_PER_EVENT"]) / KAPACITOR_TASKS_PER_SECOND
    assert bulk_seconds < spec["timeoutSeconds"] <= KNATIVE_MAX_TIMEOUT_SECONDS
    assert float(settings_file()["KAPACITOR_TIMEOUT_SECONDS"]) < spec["timeoutSeconds"]


def test_callback_kept_warm() -> None:
    notes = pod_annotations(service(CALLBACK[0]))
    assert int(notes["autoscaling.knative.dev/min-scale"]) >= 1


def test_callback_timeout_within_kapacitor_post_timeout() -> None:
    timeout = pod_spec(service(CALLBACK[0]))["timeoutSeconds"]
    sink_timeout = float(settings_file()["SINK_TIMEOUT_SECONDS"])
    assert sink_timeout < timeout <= KAPACITOR_POST_TIMEOUT_SECONDS


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_threads_match_container_concurrency(name: str) -> None:
    spec = pod_spec(service(name))
    env = env_of(spec["containers"][0])
    assert env["WORKERS"] == "1"
    assert int(env["THREADS"]) == spec["containerConcurrency"] > 0


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_knative_reserved_env_unset(name: str) -> None:
    container = pod_spec(service(name))["containers"][0]
    assert set(env_of(container)) & KNATIVE_RESERVED_ENV == set()


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_readiness_probe_on_container_port(name: str) -> None:
    container = pod_spec(service(name))["containers"][0]
    port = container["ports"][0]["containerPort"]
    assert port == 8080
    probe = container["readinessProbe"]
    action = probe.get("tcpSocket") or probe.get("httpGet")
    assert action is not None
    assert action.get("port", port) == port


@pytest.mark.parametrize(("doc", "container"), WORKLOAD_CONTAINERS, ids=WORKLOAD_IDS)
def test_container_hardened(doc: dict[str, Any], container: dict[str, Any]) -> None:
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    # OpenShift's restricted SCC assigns the UID: a fixed one would be refused.
    assert "runAsUser" not in context
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound])


# ------------------------------------------------- KafkaSources and their topics


def kafka_sources() -> list[dict[str, Any]]:
    sources = of_kind("KafkaSource", list(kafka_bundle()))
    assert sources
    return sources


def connector() -> dict[str, Any]:
    connectors = of_kind("KafkaConnector", list(kafka_bundle()))
    assert len(connectors) == 1
    return connectors[0]


def event_types() -> dict[str, str]:
    """Action -> outbox `type`, from settings.env (LifecycleSettings defaults otherwise)."""
    fields = settings_classes()["LifecycleSettings"].model_fields
    configured = settings_file()
    return {
        action: configured.get(f"EVENT_TYPE_{action.upper()}")
        or fields[f"event_type_{action}"].default
        for _, action in LIFECYCLE_FUNCTIONS.values()
    }


def routed_topic(event_type: str) -> str:
    replacement = connector()["spec"]["config"]["transforms.outbox.route.topic.replacement"]
    return str(replacement).replace("${routedByValue}", event_type)


SINGLE_TOPIC = ROOT / "kafka-sources" / "components" / "single-topic"


@cache
def single_topic_bundle() -> tuple[dict[str, Any], ...]:
    return tuple(render(ROOT / "kafka-sources", [SINGLE_TOPIC]))


def single_topic_connector() -> dict[str, Any]:
    [found] = of_kind("KafkaConnector", list(single_topic_bundle()))
    return found


def test_single_topic_sources_read_what_the_router_writes_by_default() -> None:
    """No route.by.field: Debezium's EventRouter routes by aggregatetype to
    outbox.event.<aggregatetype> (its default replacement), as the seed's
    connector does (../shared/debezium-records/record.as-given-routing.json)."""
    config = single_topic_connector()["spec"]["config"]
    assert "transforms.outbox.route.by.field" not in config
    assert "transforms.outbox.route.topic.replacement" not in config
    record = json.loads(shared_path("debezium-records", "record.as-given-routing.json").read_text())
    bundle = list(single_topic_bundle())
    sources = of_kind("KafkaSource", bundle)
    assert sorted(doc["spec"]["sink"]["ref"]["name"] for doc in sources) == sorted(
        LIFECYCLE_FUNCTIONS
    )
    assert {tuple(doc["spec"]["topics"]) for doc in sources} == {(record["topic"],)}
    groups = [doc["spec"]["consumerGroup"] for doc in sources]
    assert len(set(groups)) == len(groups), "each function needs every record: own groups"
    topics = {doc["metadata"]["name"] for doc in of_kind("KafkaTopic", bundle)}
    assert record["topic"] in topics
    assert not {routed_topic(event_type) for event_type in event_types().values()} & topics


def test_single_topic_outbox_example_routes_to_that_topic() -> None:
    sql = (ROOT / "kafka-sources" / "outbox.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    insert = code[code.index("INSERT INTO outbox") :]
    aggregatetype = re.findall(r"'([^']*)'", insert)[-1]
    for source in of_kind("KafkaSource", list(single_topic_bundle())):
        assert source["spec"]["topics"] == [f"outbox.event.{aggregatetype}"]


SOURCE_NAMES = [doc["metadata"]["name"] for doc in of_kind("KafkaSource", list(kafka_bundle()))]


def kafka_source(name: str) -> dict[str, Any]:
    return next(doc for doc in kafka_sources() if doc["metadata"]["name"] == name)


def test_kafkasource_one_per_lifecycle_function() -> None:
    sinks = sorted(doc["spec"]["sink"]["ref"]["name"] for doc in kafka_sources())
    assert sinks == sorted(LIFECYCLE_FUNCTIONS)


def test_connector_routes_equal_kafkasource_topics() -> None:
    routed = {routed_topic(event_type) for event_type in event_types().values()}
    read = {topic for doc in kafka_sources() for topic in doc["spec"]["topics"]}
    assert routed == read


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_kafkasource_reads_its_functions_event_type(name: str) -> None:
    spec = kafka_source(name)["spec"]
    _, action = LIFECYCLE_FUNCTIONS[spec["sink"]["ref"]["name"]]
    assert spec["topics"] == [routed_topic(event_types()[action])]


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_kafkasource_consumption(name: str) -> None:
    doc = kafka_source(name)
    spec = doc["spec"]
    assert spec["ordering"] == "ordered"
    assert spec["initialOffset"] == "earliest"
    assert spec["consumerGroup"]
    assert doc["metadata"]["namespace"] == knative_namespace()


def test_kafkasource_consumer_groups_unique() -> None:
    groups = [doc["spec"]["consumerGroup"] for doc in kafka_sources()]
    assert len(groups) == len(set(groups))


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_kafkasource_delivery_retries_then_dead_letters(name: str) -> None:
    doc = kafka_source(name)
    delivery = doc["spec"]["delivery"]
    assert delivery["retry"] > 0
    assert delivery["backoffPolicy"] in ("exponential", "linear")
    assert iso_seconds(delivery["backoffDelay"]) > 0
    # Refused by the webhook unless the delivery-retryafter feature flag is on.
    assert "retryAfterMax" not in delivery
    ref = delivery["deadLetterSink"]["ref"]
    assert (ref["kind"], ref["name"]) == ("KafkaSink", DEAD_LETTER_SINK)
    namespace = ref.get("namespace", doc["metadata"]["namespace"])
    target = find("KafkaSink", DEAD_LETTER_SINK, namespace)
    assert target is not None
    assert target["apiVersion"] == ref["apiVersion"]


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_kafkasource_attempt_timeout_covers_service_timeout(name: str) -> None:
    spec = kafka_source(name)["spec"]
    target = service(spec["sink"]["ref"]["name"])
    assert iso_seconds(spec["delivery"]["timeout"]) >= pod_spec(target)["timeoutSeconds"]


def _refs() -> list[tuple[str, dict[str, Any], str | None]]:
    refs = []
    for doc in everything():
        namespace = doc["metadata"].get("namespace")
        spec = doc.get("spec", {})
        label = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("KafkaSource", "SinkBinding"):
            refs.append((f"{label} sink", spec["sink"]["ref"], namespace))
        if doc["kind"] == "SinkBinding":
            refs.append((f"{label} subject", spec["subject"], namespace))
        dead = spec.get("delivery", {}).get("deadLetterSink", {}).get("ref")
        if dead:
            refs.append((f"{label} deadLetterSink", dead, namespace))
    return refs


REFS = _refs()


@pytest.mark.parametrize(("label", "ref", "namespace"), REFS, ids=[r[0] for r in REFS])
def test_reference_resolves_in_bundle(label: str, ref: dict[str, Any], namespace: str) -> None:
    target = find(ref["kind"], ref["name"], ref.get("namespace", namespace))
    assert target is not None, f"{label}: no {ref['kind']} {ref['name']} in the bundle"
    assert target["apiVersion"] == ref["apiVersion"]


def test_sinkbinding_binds_callback_to_alerts_sink() -> None:
    (binding,) = of_kind("SinkBinding")
    assert binding["spec"]["subject"]["name"] == CALLBACK[0]
    assert binding["spec"]["subject"]["kind"] == "Service"
    assert binding["spec"]["sink"]["ref"]["name"] == ALERTS_SINK


def test_kafkasink_alerts_topic_matches_alert_settings() -> None:
    sink = find("KafkaSink", ALERTS_SINK, knative_namespace())
    assert sink is not None
    default = settings_classes()["AlertSettings"].model_fields["alerts_topic"].default
    assert sink["spec"]["topic"] == default


@pytest.mark.parametrize("name", [ALERTS_SINK, DEAD_LETTER_SINK])
def test_kafkasink_binary_content_mode(name: str) -> None:
    sink = find("KafkaSink", name, knative_namespace())
    assert sink is not None
    assert sink["spec"]["contentMode"] == "binary"


def _bootstrap_cluster(address: str) -> tuple[str, str]:
    """my-cluster-kafka-bootstrap.kafka:9092 -> ("my-cluster", "kafka")."""
    match = re.fullmatch(
        r"(?P<cluster>.+)-kafka-bootstrap\.(?P<ns>[a-z0-9-]+)(?:\..*)?:\d+", address
    )
    assert match, f"{address} is not a Strimzi bootstrap Service address"
    return match["cluster"], match["ns"]


def _topic_users() -> list[tuple[str, str, str]]:
    users = []
    for doc in kafka_sources():
        for topic in doc["spec"]["topics"]:
            for address in doc["spec"]["bootstrapServers"]:
                users.append((f"KafkaSource/{doc['metadata']['name']}", topic, address))
    for doc in of_kind("KafkaSink"):
        for address in doc["spec"]["bootstrapServers"]:
            users.append((f"KafkaSink/{doc['metadata']['name']}", doc["spec"]["topic"], address))
    config = connector()["spec"]["config"]
    users.append(
        (
            "KafkaConnector schema history",
            config["schema.history.internal.kafka.topic"],
            config["schema.history.internal.kafka.bootstrap.servers"],
        )
    )
    return users


TOPIC_USERS = _topic_users()


@pytest.mark.parametrize(
    ("user", "topic", "address"), TOPIC_USERS, ids=[f"{u}:{t}" for u, t, _ in TOPIC_USERS]
)
def test_topic_has_kafkatopic_on_that_cluster(user: str, topic: str, address: str) -> None:
    cluster, namespace = _bootstrap_cluster(address)
    matches = [
        doc
        for doc in of_kind("KafkaTopic")
        if doc["spec"].get("topicName", doc["metadata"]["name"]) == topic
    ]
    assert len(matches) == 1, f"{user}: no KafkaTopic for {topic}"
    assert matches[0]["metadata"]["namespace"] == namespace
    assert matches[0]["metadata"]["labels"]["strimzi.io/cluster"] == cluster


def test_kafkatopic_dead_letters_kept_longest() -> None:
    retention = {
        doc["metadata"]["name"]: int(doc["spec"]["config"]["retention.ms"])
        for doc in of_kind("KafkaTopic")
    }
    dead = retention.pop("kapacitor-alerts-connector.dead-letters-queue")
    finite = [value for value in retention.values() if value > 0]
    assert dead > max(finite)


# ------------------------------------------------------------ Debezium connector


def test_connector_outbox_router() -> None:  # the default layout: one topic per type
    doc = connector()
    config = doc["spec"]["config"]
    assert doc["spec"]["class"] == "io.debezium.connector.mysql.MySqlConnector"
    assert doc["spec"]["tasksMax"] == 1
    assert doc["metadata"]["labels"]["strimzi.io/cluster"]
    transforms = [name.strip() for name in config["transforms"].split(",")]
    router = next(
        name
        for name in transforms
        if config[f"transforms.{name}.type"] == "io.debezium.transforms.outbox.EventRouter"
    )
    assert config[f"transforms.{router}.route.by.field"] == "type"
    assert config[f"transforms.{router}.route.topic.replacement"] == (
        "kapacitor-alerts-connector.${routedByValue}"
    )
    assert config[f"transforms.{router}.table.expand.json.payload"] is True
    # The metadata the CloudEventsConverter needs is copied to headers before routing.
    header_from = transforms.index(router) - 1
    assert header_from >= 0
    assert config[f"transforms.{transforms[header_from]}.type"].startswith(
        "org.apache.kafka.connect.transforms.HeaderFrom"
    )


def test_connector_cloudevents_converter() -> None:
    config = connector()["spec"]["config"]
    assert config["value.converter"] == "io.debezium.converters.CloudEventsConverter"
    assert config["value.converter.serializer.type"] == "json"
    assert config["value.converter.data.serializer.type"] == "json"
    # Otherwise data is Kafka Connect's {schema, payload} envelope.
    assert config["value.converter.json.schemas.enable"] is False
    assert config["value.converter.metadata.source"].split(",")[0] == "header"
    # With it, a dataSchemaName header is required and the EventRouter writes none.
    assert "value.converter.schema.data.name.source.header.enable" not in config
    assert config["key.converter"] == "org.apache.kafka.connect.storage.StringConverter"


def _columns(ddl: str) -> dict[str, str]:
    body = re.search(r"CREATE TABLE IF NOT EXISTS outbox \((.*?)\n\)", ddl, re.S)
    assert body, "outbox.sql has no CREATE TABLE outbox"
    columns = {}
    for line in body.group(1).splitlines():
        line = line.strip()
        match = re.match(r"`?(\w+)`?\s+([A-Z]+(?:\(\d+\))?)", line)
        if match and not line.startswith("--") and match.group(1) != "PRIMARY":
            columns[match.group(1)] = match.group(2)
    return columns


def _outbox_columns() -> dict[str, str]:
    return _columns((ROOT / "kafka-sources" / "outbox.sql").read_text(encoding="utf-8"))


def seed_outbox_columns() -> dict[str, str]:
    """The users' outbox table, as ../shared/debezium-records/README.md gives it."""
    readme = shared_path("debezium-records", "README.md").read_text(encoding="utf-8")
    sentence = readme[readme.index("The outbox table is the seed's") :].split(";", 1)[0]
    pairs = re.findall(r"`(\w+) ([a-z]+(?:\(\d+\))?)[^`]*`", sentence)
    assert len(pairs) >= 5, sentence
    return {name: kind.upper() for name, kind in pairs}


def _router_config(config: dict[str, Any]) -> dict[str, Any]:
    prefix = "transforms.outbox."
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


@pytest.mark.parametrize("layout", ["per-type", "single-topic"])
def test_connector_names_only_columns_of_the_seed_table(layout: str) -> None:
    """A column the table lacks (table.field.event.timestamp) fails the connector task."""
    config = (connector() if layout == "per-type" else single_topic_connector())["spec"]["config"]
    columns = seed_outbox_columns()
    router = _router_config(config)
    for key, value in router.items():
        if key.startswith("table.field.event."):
            assert value in columns, f"{key}: the seed's outbox has no column {value}"
    for placement in str(router.get("table.fields.additional.placement", "")).split(","):
        if placement:
            assert placement.split(":")[0] in columns, placement
    assert router.get("route.by.field", "aggregatetype") in columns
    assert config["table.include.list"].endswith(".outbox")


def test_connector_metadata_id_needs_no_string_id() -> None:
    """The seed's id is a BIGINT: a bare `header` source makes the converter throw."""
    config = connector()["spec"]["config"]
    assert seed_outbox_columns()["id"].startswith("BIGINT")
    sources = dict(
        part.split(":", 1) for part in config["value.converter.metadata.source"].split(",")[1:]
    )
    assert sources.get("id") == "generate"


def test_outbox_sql_is_the_seed_table() -> None:
    assert _outbox_columns() == seed_outbox_columns()
    sql = (ROOT / "kafka-sources" / "outbox.sql").read_text(encoding="utf-8")
    assert re.search(r"\bid\s+BIGINT\s+NOT NULL AUTO_INCREMENT", sql)


def test_outbox_example_is_one_transaction() -> None:
    sql = (ROOT / "kafka-sources" / "outbox.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    match = re.search(r"START TRANSACTION;(.*?)COMMIT;", code, re.S)
    assert match
    block = match.group(1)
    assert "UPDATE devices" in block
    assert "INSERT INTO outbox" in block
    payload = json.loads(re.search(r"'(\{.*\})'", block).group(1))  # type: ignore[union-attr]
    assert payload == {"devicescode": ["dev-1", "dev-2"], "eventtype": "enabled"}
    types = re.findall(r"'(device-[a-z]+)'", block)
    assert types
    assert set(types) <= set(event_types().values())


def test_connector_secret_references_resolve() -> None:
    config = connector()["spec"]["config"]
    references = [
        re.fullmatch(r"\$\{secrets:([^/]+)/([^:]+):([^}]+)\}", str(value))
        for value in config.values()
        if str(value).startswith("${secrets:")
    ]
    assert references
    for match in references:
        assert match, "expected ${secrets:<namespace>/<secret>:<key>}"
        secret = find("Secret", match.group(2), match.group(1))
        assert secret is not None
        assert match.group(3) in secret.get("stringData", {})


def test_connector_may_read_its_secret() -> None:
    doc = connector()
    connect_account = f"{doc['metadata']['labels']['strimzi.io/cluster']}-connect"
    namespace = doc["metadata"]["namespace"]
    bindings = of_kind("RoleBinding", list(kafka_bundle()))
    subjects = {
        (subject["name"], subject["namespace"])
        for binding in bindings
        for subject in binding["subjects"]
    }
    assert (connect_account, namespace) in subjects
    roles = of_kind("Role", list(kafka_bundle()))
    readable = {name for role in roles for rule in role["rules"] for name in rule["resourceNames"]}
    secrets = {
        re.sub(r"^\$\{secrets:[^/]+/([^:]+):.*$", r"\1", str(value))
        for value in doc["spec"]["config"].values()
        if str(value).startswith("${secrets:")
    }
    assert secrets <= readable


# ----------------------------------------------- template, installer, Kapacitor


def test_template_copy_identical_to_packaged() -> None:
    packaged = ROOT / "functions" / "deadman" / "templates" / TEMPLATE_NAME
    shipped = ROOT / "knative" / "template" / TEMPLATE_NAME
    assert shipped.read_bytes() == packaged.read_bytes()


def test_template_matches_captured_kapacitor_template() -> None:
    path = CAPTURES / "api-exchanges.json"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is not available here")
    exchanges = json.loads(path.read_text(encoding="utf-8"))
    captured = next(e for e in exchanges if e["note"] == "get template (exists)")
    shipped = (ROOT / "knative" / "template" / TEMPLATE_NAME).read_text(encoding="utf-8")
    # The capture was made with a 10 s period; the shipped template runs every
    # minute as the original pipeline's does. Everything else is the captured script.
    assert "var period = 1m\n" in shipped
    assert (
        shipped.replace("var period = 1m\n", "var period = 10s\n")
        == (captured["response"]["body"]["script"])
    )


def _installer() -> dict[str, Any]:
    jobs = of_kind("Job", list(knative_bundle()))
    assert len(jobs) == 1
    return jobs[0]


def test_installer_runs_deadmanctl() -> None:
    container = pod_spec(_installer())["containers"][0]
    assert container["command"] == ["deadmanctl", "install-template"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts["deadmanctl"] == "deadman.ops.cli:main"


def test_installer_mounts_the_template() -> None:
    job = _installer()
    spec = pod_spec(job)
    container = spec["containers"][0]
    template_file = Path(env_of(container)["KAPACITOR_TEMPLATE_FILE"])
    mount = next(
        m for m in container["volumeMounts"] if Path(m["mountPath"]) == template_file.parent
    )
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    configmap = find("ConfigMap", volume["configMap"]["name"], job["metadata"]["namespace"])
    assert configmap is not None
    assert template_file.name in configmap["data"]
    template_id = settings_file()["KAPACITOR_TEMPLATE_ID"]
    assert template_file.name == f"{template_id}.tick"


def test_installer_rerunnable() -> None:
    spec = _installer()["spec"]
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert spec["backoffLimit"] >= 1


def test_kapacitor_httppost_env_targets_callback() -> None:
    values = parse_env_file(ROOT / "knative" / "kapacitor-httppost.env")
    template = (ROOT / "knative" / "template" / TEMPLATE_NAME).read_text(encoding="utf-8")
    endpoint = re.search(r"\.endpoint\('([^']+)'\)", template)
    assert endpoint
    assert values["KAPACITOR_HTTPPOST_0_ENDPOINT"] == endpoint.group(1) == "benthos"
    url = values["KAPACITOR_HTTPPOST_0_URL"]
    assert url == f"http://{CALLBACK[0]}.{knative_namespace()}.svc.cluster.local"
    assert service(CALLBACK[0])["metadata"]["labels"]["networking.knative.dev/visibility"]
    # HEADERS_ must be upper case; the header name after it keeps its case.
    header = values["KAPACITOR_HTTPPOST_0_HEADERS_Authorization"]
    scheme, _, token = header.partition(" ")
    assert scheme == "Bearer"
    secret = find("Secret", "alert-callback-token", knative_namespace())
    assert secret is not None
    assert token == secret["stringData"]["ALERT_CALLBACK_TOKEN"]


# --------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "doc",
    [d for d in SOURCE_DOCS if d.body.get("kind") == "Secret"],
    ids=[d.id for d in SOURCE_DOCS if d.body.get("kind") == "Secret"],
)
def test_secret_template_placeholders_only(doc: Doc) -> None:
    assert "data" not in doc.body, "no base64 data: templates carry visible placeholders"
    values = doc.body["stringData"]
    assert values
    assert all(PLACEHOLDER_MARK in value for value in values.values())


def test_secrets_not_in_deploy_kustomizations() -> None:
    """Re-applying knative/ or kafka-sources/ never resets real credentials."""
    assert of_kind("Secret", [*knative_bundle(), *kafka_bundle()]) == []
