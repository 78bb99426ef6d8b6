"""A small renderer for the project's kustomizations, so no tool needs installing.

It understands what ``knative/`` and ``kafka-sources/`` use, and refuses anything
else: ``resources`` (files and folders), ``components``, ``configMapGenerator``
(envs, files, literals; ``behavior: merge`` into an earlier one), ``patches``
(JSON 6902 operations, or a strategic-merge ``$patch: delete`` that removes the
targeted objects), ``namespace``, ``labels`` and ``images``. Patch targets match
``group``, ``version``, ``kind``, ``namespace`` and ``name``, where ``name`` is a
regular expression as in kustomize. Name hashes of generated ConfigMaps are not added.

The local stack renders ``kafka-sources/`` with it (a topic layout is a
component), and the deployment tests check that it agrees with ``kubectl
kustomize`` wherever that is installed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "KUSTOMIZATION_NAMES",
    "SUPPORTED_KEYS",
    "apply_json6902",
    "containers",
    "generated_configmaps",
    "load_kustomization",
    "load_yaml_docs",
    "parse_env_file",
    "render",
    "render_layer",
]

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "labels",
        "resources",
        "components",
        "configMapGenerator",
        "patches",
        "images",
        "configurations",
    }
)
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})
_TARGET_KEYS = frozenset({"group", "version", "kind", "name", "namespace"})


@cache
def load_yaml_docs(path: Path) -> tuple[dict[str, Any], ...]:
    """The non-empty YAML documents of a file (cached: treat them as read-only)."""
    return tuple(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)


def load_kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            data = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
            kustomization = data if isinstance(data, dict) else {}
            unknown = set(kustomization) - SUPPORTED_KEYS
            if unknown:
                raise ValueError(f"{directory}: kustomization keys {sorted(unknown)} unsupported")
            return kustomization
    raise FileNotFoundError(f"no kustomization in {directory}")


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as kustomize and ``kubectl --from-env-file`` read them."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise ValueError(f"{path}: {line!r} is not KEY=VALUE")
        values[key] = value
    return values


def generated_configmaps(directory: Path, kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    maps = []
    for generator in kustomization.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for env_file in generator.get("envs", []):
            data.update(parse_env_file(directory / env_file))
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        for entry in generator.get("files", []):
            key, sep, source = entry.partition("=")
            path = directory / (source if sep else key)
            data[key if sep else path.name] = path.read_text(encoding="utf-8")
        generated: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": data,
        }
        if generator.get("behavior", "create") != "create":
            generated["behavior"] = generator["behavior"]
        maps.append(generated)
    return maps


def _add_configmaps(
    docs: list[dict[str, Any]], generated: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """New ConfigMaps are added; ``merge`` and ``replace`` change an earlier one."""
    for configmap in generated:
        behavior = configmap.pop("behavior", "create")
        if behavior == "create":
            docs.append(configmap)
            continue
        name = configmap["metadata"]["name"]
        existing = next(
            (d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name),
            None,
        )
        if existing is None or behavior not in ("merge", "replace"):
            raise ValueError(f"configMapGenerator {name}: cannot {behavior} it")
        base = existing.get("data", {}) if behavior == "merge" else {}
        existing["data"] = {**base, **configmap["data"]}
    return docs


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def apply_json6902(doc: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """``doc`` with the JSON patch operations add, replace and remove applied."""
    doc = copy.deepcopy(doc)
    for operation in operations:
        *parents, last = _pointer(operation["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        op = operation["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, operation["value"])
            elif op == "replace":
                node[index] = operation["value"]
            elif op == "remove":
                del node[index]
            else:
                raise ValueError(f"unsupported JSON patch op {op}")
        elif op in ("add", "replace"):
            if op == "replace" and last not in node:
                raise KeyError(f"replace of missing {operation['path']}")
            node[last] = operation["value"]
        elif op == "remove":
            if last not in node:
                raise KeyError(f"remove of missing {operation['path']}")
            del node[last]
        else:
            raise ValueError(f"unsupported JSON patch op {op}")
    return doc


def _matches(doc: dict[str, Any], target: dict[str, Any]) -> bool:
    unsupported = set(target) - _TARGET_KEYS
    if unsupported:
        raise ValueError(f"patch target keys {sorted(unsupported)} are not supported")
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    metadata = doc.get("metadata", {})
    actual = {
        "group": group,
        "version": version,
        "kind": doc.get("kind"),
        "namespace": metadata.get("namespace"),
    }
    if "name" in target and not re.fullmatch(target["name"], str(metadata.get("name", ""))):
        return False
    return all(actual[key] == value for key, value in target.items() if key != "name")


def _apply_patches(
    directory: Path, patches: list[dict[str, Any]], docs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    for patch in patches:
        text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
        body = yaml.safe_load(text)
        target = patch.get("target", {})
        if isinstance(body, dict) and body.get("$patch") == "delete":
            if not target:
                raise ValueError(f"{directory}: a delete patch needs a target")
            docs = [doc for doc in docs if not _matches(doc, target)]
        elif isinstance(body, list):
            docs = [apply_json6902(doc, body) if _matches(doc, target) else doc for doc in docs]
        else:
            raise ValueError(f"{directory}: only JSON 6902 and $patch: delete are supported")
    return docs


def containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container (and init container) spec found anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (item for item in value if isinstance(item, dict))
            else:
                yield from containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers(item)


def _set_images(docs: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
    for image in images:
        for doc in docs:
            for container in containers(doc):
                current = container.get("image", "")
                if current == image["name"] or current.startswith(image["name"] + ":"):
                    name = image.get("newName", image["name"])
                    tag = image.get("newTag", current.partition(":")[2] or "latest")
                    container["image"] = f"{name}:{tag}"


def render_layer(
    directory: Path, docs: Sequence[dict[str, Any]], components: Sequence[Path] = ()
) -> list[dict[str, Any]]:
    """Apply the kustomization (or component) in ``directory`` on top of ``docs``;
    ``components`` are applied as if listed at the end of its ``components:``."""
    kustomization = load_kustomization(directory)
    rendered = [copy.deepcopy(doc) for doc in docs]
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            rendered.extend(render(path))
        else:
            rendered.extend(copy.deepcopy(doc) for doc in load_yaml_docs(path))
    rendered = _add_configmaps(rendered, generated_configmaps(directory, kustomization))
    for component in [*(directory / e for e in kustomization.get("components", [])), *components]:
        rendered = render_layer(component, rendered)
    rendered = _apply_patches(directory, kustomization.get("patches", []), rendered)
    namespace = kustomization.get("namespace")
    for doc in rendered:
        metadata = doc.setdefault("metadata", {})
        if namespace and doc.get("kind") not in CLUSTER_SCOPED_KINDS:
            metadata["namespace"] = namespace
        for labels in kustomization.get("labels", []):
            metadata.setdefault("labels", {}).update(labels.get("pairs", {}))
    _set_images(rendered, kustomization.get("images", []))
    return rendered


def render(directory: Path, components: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """What ``kubectl kustomize directory`` gives, with ``components`` added."""
    return render_layer(directory, [], components)
