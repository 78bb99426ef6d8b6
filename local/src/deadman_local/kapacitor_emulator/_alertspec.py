"""What a task's script says about its alert: id/message/details templates, the
``.post()`` target or the ``.kafka()`` cluster and topic, and the deadman
interval, read from the evaluated script.

One alert node per task is assumed (a deadman task has exactly one); for each
property the first occurrence in the script wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._dot import build_graph
from ._model import Var
from ._tickeval import Env, chains, evaluate
from ._tickparse import Program

__all__ = ["AlertSpec", "alert_spec", "start_problem"]

_DEFAULT_INTERVAL_NS = 10_000_000_000  # [deadman] interval default
# Alert node properties read as text: the first occurrence of each wins.
_TEXT_PROPERTIES = ("id", "message", "details", "endpoint", "cluster", "kafkaTopic")


@dataclass(frozen=True)
class AlertSpec:
    id_template: str | None
    message_template: str | None
    details_template: str | None  # None: the default ``{{ json . }}``
    endpoint: str | None
    url: str | None
    headers: tuple[tuple[str, str], ...]
    has_post: bool
    has_deadman: bool
    has_kafka: bool
    state_changes_only: bool
    kafka_cluster: str | None
    kafka_topic: str | None
    recoverable: bool
    interval_ns: int
    parent_node: str

    def default_id(self) -> str:
        # [deadman] id: "{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'"
        return "{{ .Group }}:" + self.parent_node + " for task '{{ .TaskName }}'"


def _text(value: object) -> str | None:
    return str(value.value) if isinstance(value, Var) and value.type == "string" else None


def alert_spec(program: Program, env: Env) -> AlertSpec:
    props: dict[str, str | None] = {}
    headers: list[tuple[str, str]] = []
    has_post = has_deadman = has_kafka = changes_only = False
    recoverable = True
    interval = _DEFAULT_INTERVAL_NS
    for link in chains(program):
        args = [evaluate(arg, env) for arg in link.args]
        if link.op == "|" and link.name == "deadman":
            has_deadman = True
            period = args[1] if len(args) > 1 else None
            if isinstance(period, Var) and isinstance(period.value, int):
                interval = period.value
        elif link.op == "." and link.name == "post":
            has_post = True
            props.setdefault("url", _text(args[0]) if args else None)
        elif link.op == "." and link.name == "header" and len(args) == 2:
            key, value = _text(args[0]), _text(args[1])
            if key is not None and value is not None:
                headers.append((key, value))
        elif link.op == "." and link.name == "noRecoveries":
            recoverable = False
        elif link.op == "." and link.name == "kafka":
            has_kafka = True
        elif link.op == "." and link.name == "stateChangesOnly":
            changes_only = True
        elif link.op == "." and link.name in _TEXT_PROPERTIES:
            props.setdefault(link.name, _text(args[0]) if args else None)
    graph = build_graph(program)
    parent = next(
        (
            node
            for node, kids in graph.children.items()
            if any(kid.startswith("noop") for kid in kids)
        ),
        "",
    )
    return AlertSpec(
        id_template=props.get("id"),
        message_template=props.get("message"),
        details_template=props.get("details"),
        endpoint=props.get("endpoint"),
        url=props.get("url"),
        headers=tuple(headers),
        has_post=has_post,
        has_deadman=has_deadman,
        has_kafka=has_kafka,
        state_changes_only=changes_only,
        kafka_cluster=props.get("cluster"),
        kafka_topic=props.get("kafkaTopic"),
        recoverable=recoverable,
        interval_ns=interval,
        parent_node=parent,
    )


def start_problem(spec: AlertSpec, endpoints: Mapping[str, object]) -> str | None:
    """Why Kapacitor's HTTPPostService would refuse to build the task's handler."""
    if not spec.has_post:
        return None
    if not spec.endpoint and not spec.url:
        return "Either URL or endpoint must be non-empty"
    if spec.endpoint and spec.endpoint in endpoints:
        return None
    if spec.url:
        return None
    return (
        "failed to create HTTPPostService.Handler: An appropriately formatted url "
        "must be specified if an endpoint is not specified"
    )
