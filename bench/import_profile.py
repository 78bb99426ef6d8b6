"""Where ``create_app``'s time goes, by library: ``python -X importtime`` grouped.

``python -X importtime`` prints one line per module as its import ends: the
module's own time, its cumulative time and its name, indented two spaces per level
of nesting, children before their parent. This module rebuilds that tree and
charges each module's own time to a group:

* a module of a named library (``GROUP_OF``, by top-level package) to its group;
* any other module (the standard library, a small dependency) to the group of the
  module that imported it first, since that import is what brought it in: asyncio
  counts for pydantic-settings when pydantic-settings is what imports it.

What ``create_app`` spends outside any import (the Flask app built, ``main.py``
run, the settings validated) is its time minus the imports' own times:
``outside_imports_ms``. Every figure includes importtime's own overhead, the same
for the function and its floor.

No import of the project or of the local stack: ``tests`` drive it directly.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Top-level package -> the group its own time is charged to.
GROUP_OF = {
    **dict.fromkeys(
        (
            "functions_framework",
            "flask",
            "werkzeug",
            "jinja2",
            "markupsafe",
            "click",
            "itsdangerous",
            "blinker",
            "cloudevents",
            "deprecation",
            "packaging",
        ),
        "framework",
    ),
    **dict.fromkeys(("pydantic", "pydantic_core", "annotated_types"), "pydantic"),
    **dict.fromkeys(("pydantic_settings", "dotenv"), "pydantic_settings"),
    **dict.fromkeys(("deadman", "main"), "project"),
}
GROUPS = ("framework", "pydantic", "pydantic_settings", "project", "other")
SETTINGS_LIBRARIES = ("pydantic", "pydantic_settings")
# Written to stderr by the probe once the interpreter has started: the lines before
# it (site, encodings) are the interpreter's, not create_app's.
MARKER = "-- create_app starts --"

PROBE = f"""
import sys, time
sys.stderr.write({MARKER!r} + "\\n")
sys.stderr.flush()
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app(sys.argv[1], sys.argv[2])
print(round((time.perf_counter() - started) * 1000, 1))
"""


@dataclass
class ImportedModule:
    name: str
    depth: int
    own_us: int
    cumulative_us: int
    children: list[ImportedModule] = field(default_factory=list)


def parse_importtime(stderr: str) -> list[ImportedModule]:
    """The import tree after ``MARKER`` (all of it when there is no marker)."""
    lines = stderr.splitlines()
    if MARKER in lines:
        lines = lines[lines.index(MARKER) + 1 :]
    stack: list[ImportedModule] = []
    for line in lines:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|", 2)
        name = name[1:]  # one space after the bar, then two per level of nesting
        depth = (len(name) - len(name.lstrip(" "))) // 2
        module = ImportedModule(name.strip(), depth, int(own), int(cumulative))
        # Children end before their parent: the deeper modules on the stack are its own.
        while stack and stack[-1].depth > depth:
            module.children.insert(0, stack.pop())
        stack.append(module)
    return stack


def walk(roots: Iterable[ImportedModule]) -> Iterator[tuple[ImportedModule, str]]:
    """Every module of the tree, parents first, with the group its own time is
    charged to: its library's, or else the group of the module that imported it."""
    pending = [(root, "other") for root in reversed(list(roots))]
    while pending:
        module, importer_group = pending.pop()
        group = GROUP_OF.get(module.name.split(".")[0], importer_group)
        yield module, group
        pending.extend((child, group) for child in reversed(module.children))


def charge(roots: Iterable[ImportedModule]) -> dict[str, float]:
    """Milliseconds of own import time per group (every group present, maybe 0)."""
    totals = dict.fromkeys(GROUPS, 0.0)
    for module, group in walk(roots):
        totals[group] += module.own_us / 1000
    return totals


def profile_once(
    target: str, source: Path, env: Mapping[str, str], cwd: Path
) -> tuple[float, list[ImportedModule]]:
    """``create_app(target, source)`` under ``-X importtime``: its ms and import tree."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE, target, str(source)],
        env={**os.environ, **env, "FUNCTION_TARGET": target},
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    return float(result.stdout.strip().splitlines()[-1]), parse_importtime(result.stderr)


def sample(target: str, source: Path, env: Mapping[str, str], cwd: Path) -> dict[str, float]:
    """One run: create_app's ms, each group's ms and the time outside imports."""
    total_ms, roots = profile_once(target, source, env, cwd)
    groups = charge(roots)
    figures = {"total_ms": total_ms, "outside_imports_ms": total_ms - sum(groups.values())}
    figures.update({f"{group}_ms": ms for group, ms in groups.items()})
    return figures


def medians(samples: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The median of each figure over runs (so the parts need not add up exactly)."""
    values: dict[str, list[float]] = defaultdict(list)
    for figures in samples:
        for key, value in figures.items():
            values[key].append(value)
    return {key: round(statistics.median(v), 1) for key, v in values.items()}


def without_settings_libraries_ratio(target: Mapping[str, float], floor: float) -> float:
    """The target's create_app without pydantic and pydantic-settings, over ``floor``."""
    rest = target["total_ms"] - sum(target[f"{group}_ms"] for group in SETTINGS_LIBRARIES)
    return round(rest / floor, 3)


def write_tree(
    target: str, total_ms: float, roots: list[ImportedModule], out: Path, top: int = 30
) -> None:
    """A text profile: the top-level imports by cumulative time, every module by own time."""
    every = [module for module, _group in walk(roots)]
    groups = charge(roots)
    lines = [
        f"# python -X importtime: create_app({target!r}) in a fresh interpreter",
        f"create_app total: {total_ms} ms (this run, importtime's own overhead included)",
        "by group (ms): "
        + ", ".join(f"{group} {ms:.1f}" for group, ms in groups.items())
        + f", outside imports {total_ms - sum(groups.values()):.1f}",
        "",
        "## top-level imports by cumulative time (us)",
        *(
            f"{m.cumulative_us:9d} {m.own_us:9d}  {m.name}"
            for m in sorted(roots, key=lambda m: -m.cumulative_us)[:top]
        ),
        "",
        "## every module by own time (us)",
        *(
            f"{m.own_us:9d} {m.cumulative_us:9d}  {m.name}"
            for m in sorted(every, key=lambda m: -m.own_us)[:top]
        ),
    ]
    out.write_text("\n".join(lines) + "\n")
