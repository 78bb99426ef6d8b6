"""DOT graphs and execution stats shaped like Kapacitor's, built from the script.

Node numbering follows Kapacitor's pipeline construction, including the ``stats``,
``noop``, ``derivative`` and ``alert`` nodes a ``|deadman()`` expands to, so the
project template yields exactly the edge list of the captures. Counters are zero:
the emulator processes no data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._gojson import JSONValue
from ._tickparse import Chain, Expr, ExprStmt, Ident, Program, VarDecl

__all__ = ["Graph", "build_graph", "executing_dot", "plain_dot", "stats_json"]

_SPECIAL_NAMES = {
    "influxDBOut": "influxdb_out",
    "httpOut": "http_out",
    "httpPost": "http_post",
    "kapacitorLoopback": "kapacitor_loopback",
}
_BASE_STATS = ("avg_exec_time_ns", "collected", "emitted", "errors", "working_cardinality")
_EXTRA_STATS = {
    "query": ("batches_queried", "points_queried"),
    "alert": (
        "alerts_inhibited",
        "alerts_triggered",
        "crits_triggered",
        "infos_triggered",
        "oks_triggered",
        "warns_triggered",
    ),
    "influxdb_out": ("points_written", "write_errors"),
}


@dataclass
class Graph:
    root: str = ""
    nodes: list[str] = field(default_factory=list)
    children: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, parent: str | None) -> str:
        label = f"{kind}{len(self.nodes)}"
        self.nodes.append(label)
        self.children[label] = []
        if parent is not None:
            self.children[parent].append(label)
        return label


def _kind(name: str) -> str:
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def build_graph(program: Program) -> Graph:
    graph = Graph()
    node_vars: dict[str, str] = {}

    def visit(expr: Expr) -> str | None:
        if isinstance(expr, Ident):
            if expr.name in ("batch", "stream"):
                if not graph.root:
                    graph.root = graph.add(expr.name, None)
                return graph.root
            return node_vars.get(expr.name)
        if not isinstance(expr, Chain):
            return None
        parent = visit(expr.left)
        if parent is None or expr.op == ".":
            return parent
        if expr.name == "deadman":
            stats = graph.add("stats", None)
            graph.add("noop", parent)
            derivative = graph.add("derivative", stats)
            return graph.add("alert", derivative)
        return graph.add(_kind(expr.name), parent)

    for statement in program.statements:
        if isinstance(statement, VarDecl) and statement.expr is not None:
            label = visit(statement.expr)
            if label is not None:
                node_vars[statement.name] = label
        elif isinstance(statement, ExprStmt):
            visit(statement.expr)
    return graph


def _edges(graph: Graph) -> list[tuple[str, str]]:
    # A batch root is not drawn (as in the captures); a stream root is.
    skip_root = graph.root.startswith("batch")
    return [
        (node, child)
        for node in graph.nodes
        if not (skip_root and node == graph.root)
        for child in graph.children[node]
    ]


def plain_dot(task_id: str, graph: Graph) -> str:
    """The DOT of a task that is not executing: a bare edge list."""
    lines = [f"{a} -> {b};\n" for a, b in _edges(graph)]
    return f"digraph {task_id} {{\n{''.join(lines)}}}"


def _node_stats(label: str) -> dict[str, int]:
    kind = label.rstrip("0123456789")
    names = sorted(_BASE_STATS + _EXTRA_STATS.get(kind, ()))
    return dict.fromkeys(names, 0)


def _topological(graph: Graph) -> list[str]:
    # Kapacitor's Pipeline.sort: depth-first post-order over the sources taken in
    # reverse, then reversed. Sources are the nodes without a parent (the root and
    # each deadman's stats node).
    has_parent = {child for kids in graph.children.values() for child in kids}
    sources = [node for node in graph.nodes if node not in has_parent]
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        for child in graph.children[node]:
            visit(child)
        order.append(node)

    for source in reversed(sources):
        visit(source)
    return order[::-1]


def executing_dot(task_id: str, graph: Graph, task_type: str, labels: bool) -> str:
    """The DOT of an executing task, with zeroed stats as attributes or labels."""
    unit = "batches/s" if task_type == "batch" else "points/s"
    if labels:
        header = f'graph [label="Throughput: 0.00 {unit}" forcelabels=true pad="0.8,0.5"];'
    else:
        header = f'graph [throughput="0.00 {unit}"];'
    parts = [f"digraph {task_id} {{\n{header}\n"]
    for node in _topological(graph):
        if node == graph.root and task_type == "batch":
            continue
        stats = {
            k: ("0s" if k == "avg_exec_time_ns" else "0")
            for k in _node_stats(node)
            if k not in ("collected", "emitted")
        }
        if labels:
            text = "\\r".join(f"{k}={v}" for k, v in stats.items())
            parts.append(f'\n{node} [xlabel="{text}"];\n')
        else:
            text = "".join(f'{k}="{v}" ' for k, v in stats.items())
            parts.append(f"\n{node} [{text}];\n")
        # The executing graph lists a node's out-edges newest first.
        for child in reversed(graph.children[node]):
            edge_attr = 'label="processed=0"' if labels else 'processed="0"'
            parts.append(f"{node} -> {child} [{edge_attr}];\n")
    parts.append("}")
    return "".join(parts)


def stats_json(graph: Graph) -> dict[str, JSONValue]:
    """``ExecutionStats`` of an executing task: zero throughput, zero counters."""
    node_stats: dict[str, JSONValue] = {
        label: dict(_node_stats(label)) for label in sorted(graph.nodes)
    }
    return {"task-stats": {"throughput": 0}, "node-stats": node_stats}
