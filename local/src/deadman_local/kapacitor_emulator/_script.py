"""What the emulator reads from a TICKscript, and nothing more.

Kapacitor parses and evaluates a whole TICKscript; the real Kapacitor in the tests
judges scripts. The emulator only runs the project's templates
(``functions/deadman/templates``) and scripts of their shape, so it reads:

* declarations: ``var name type``, and ``var name = value`` where the value is a
  string, number, duration, ``[]``, ``TRUE``/``FALSE``, ``lambda: ...``, another
  var, or strings and vars joined by ``+``; a comment line just above is its
  description. A pipeline (``batch``, ``stream`` or a node var) is not a var;
* the pipeline's root (the task type), the deadman's period and the alert node's
  ``.id()``, ``.message()``, ``.details()``, ``.endpoint()``, ``.cluster()``,
  ``.kafkaTopic()``, ``.post()``, ``.kafka()``, ``.stateChangesOnly()`` and
  ``.noRecoveries()``.

Nothing else is read or checked: a script Kapacitor would refuse is accepted, and
``dbrp`` statements are not read (the product gives a task's dbrps in its body).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from deadman import influxql_duration_ns

from ._model import Var, VarValue

__all__ = ["Declaration", "Script", "duration_ns", "read_script"]

_TYPED = re.compile(r"var\s+(\w+)\s+(\w+)")
_ASSIGNED = re.compile(r"var\s+(\w+)\s*=\s*(.*)")
_ROOT = re.compile(r"\b(batch|stream)\s*\|")
_DEADMAN = re.compile(r"\|deadman\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)")
_PROPERTY = re.compile(r"\.(id|message|details|endpoint|cluster|kafkaTopic)\(\s*([^()]*?)\s*\)")
_TERM = r"'(?:[^'\\]|\\.)*'|[\w.]+|\[\s*\]"
_JOINED = re.compile(rf"(?:{_TERM})(?:\s*\+\s*(?:{_TERM}))*")
# TICKscript's type words, and the zero value a typed var counts as in a default
# built from it (Kapacitor lists ``query`` made of empty strings).
_TYPE_WORDS = {"bool": "bool", "boolean": "bool", "int": "int", "float": "float"}
_TYPE_WORDS |= {w: w for w in ("string", "duration", "lambda", "regex", "list", "star")}
_ZERO: dict[str, VarValue] = {"bool": False, "int": 0, "float": 0.0, "duration": 0}
_ZERO |= {"list": (), "star": None}  # and "" for the string types


def duration_ns(text: str) -> int | None:
    """A duration as Kapacitor reads it (``10s``, ``1h30m``) in nanoseconds, or None:
    the product's rule, ``deadman.influxql_duration_ns``."""
    try:
        return influxql_duration_ns(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Declaration:
    """A declared var. ``expression`` is None for ``var name type`` (a task must
    give it a value); ``type`` is None when the emulator cannot tell it."""

    name: str
    type: str | None
    expression: str | None
    description: str


@dataclass(frozen=True)
class Script:
    type: str  # batch, stream, or invalid (no root, or both)
    declarations: tuple[Declaration, ...]
    properties: Mapping[str, str]  # alert node property -> its argument's text
    deadman_period: str | None
    posts: bool
    writes_kafka: bool
    state_changes_only: bool
    recoverable: bool

    def env(self, supplied: Mapping[str, Var]) -> dict[str, Var]:
        """Every var as the task sees it: the supplied ones over the defaults."""
        return _env(self.declarations, supplied)

    def listed_vars(self) -> dict[str, Var]:
        """The vars a template lists: declared ones, ``null`` without a default."""
        env = self.env({})
        return {
            d.name: Var(d.type, None if d.expression is None else env[d.name].value, d.description)
            for d in self.declarations
            if d.type is not None and d.name in env
        }

    def problem(self, supplied: Mapping[str, Var]) -> str | None:
        """What Kapacitor's evaluator says about these vars, in declaration order."""
        for declaration in self.declarations:
            given = supplied.get(declaration.name)
            if given is None:
                if declaration.expression is None:
                    return f'missing value for var "{declaration.name}".'
            elif declaration.type is not None and given.type != declaration.type:
                return (
                    f"invalid type supplied for {declaration.name}, got {_word(given.type)} "
                    f"exp {_word(declaration.type)}"
                )
        return None

    def text(self, name: str, env: Mapping[str, Var]) -> str | None:
        """A string property of the alert node (``id``, ``message``...), resolved."""
        expression = self.properties.get(name)
        value = None if expression is None else evaluate(expression, env)
        return str(value.value) if value is not None and value.type == "string" else None

    def interval_ns(self, env: Mapping[str, Var]) -> int:
        value = None if self.deadman_period is None else evaluate(self.deadman_period, env)
        if value is not None and value.type == "duration" and isinstance(value.value, int):
            return value.value
        return 10 * 10**9  # the [deadman] interval default


def _env(declarations: Iterable[Declaration], supplied: Mapping[str, Var]) -> dict[str, Var]:
    env: dict[str, Var] = {}
    for declaration in declarations:
        value = supplied.get(declaration.name)
        if value is None and declaration.expression is not None:
            value = evaluate(declaration.expression, env)
        elif value is None and declaration.type is not None:
            value = Var(declaration.type, _ZERO.get(declaration.type, ""))
        if value is not None:
            env[declaration.name] = value
    return env


def _word(var_type: str) -> str:
    return "boolean" if var_type == "bool" else var_type


def _term(text: str, env: Mapping[str, Var]) -> Var | None:
    if text.startswith("'"):
        return Var("string", text[1:-1].replace("\\'", "'"))
    if text.startswith("["):
        return Var("list", ())
    if text in ("TRUE", "FALSE"):
        return Var("bool", text == "TRUE")
    if re.fullmatch(r"\d+", text):
        return Var("int", int(text))
    if re.fullmatch(r"\d+\.\d*", text):
        return Var("float", float(text))
    nanoseconds = duration_ns(text)
    if nanoseconds is not None:
        return Var("duration", nanoseconds)
    return env.get(text)


def evaluate(expression: str, env: Mapping[str, Var]) -> Var | None:
    """A declaration's value or a property's argument; None when it is not one
    the emulator reads (or names no var it knows)."""
    if expression.startswith("lambda:"):
        return Var("lambda", expression.removeprefix("lambda:").strip())
    if not _JOINED.fullmatch(expression):
        return None
    values = [_term(term, env) for term in re.findall(_TERM, expression)]
    if len(values) == 1:
        return values[0]
    parts = [v.value for v in values if v is not None and v.type == "string"]
    return Var("string", "".join(str(p) for p in parts)) if len(parts) == len(values) else None


@functools.lru_cache(maxsize=64)
def read_script(script: str) -> Script:
    """Read a script (cached: thousands of tasks share one template's script)."""
    lines = [line.strip() for line in script.splitlines()]
    code = "\n".join(line for line in lines if not line.startswith("//"))
    declarations: list[Declaration] = []
    nodes = {"batch", "stream"}
    for index, line in enumerate(lines):
        above = lines[index - 1] if index else ""
        description = above.removeprefix("//").strip() if above.startswith("//") else ""
        if typed := _TYPED.fullmatch(line):
            kind = _TYPE_WORDS.get(typed[2])
            declarations.append(Declaration(typed[1], kind, None, description))
        elif assigned := _ASSIGNED.fullmatch(line):
            name, expression = assigned[1], assigned[2].strip()
            if expression in nodes:  # a pipeline, continued on the next lines
                nodes.add(name)
                continue
            value = evaluate(expression, _env(declarations, {}))
            kind = value.type if value is not None else None
            declarations.append(Declaration(name, kind, expression, description))
    roots = set(_ROOT.findall(code))
    properties: dict[str, str] = {}
    for name, argument in _PROPERTY.findall(code):
        properties.setdefault(name, argument)
    deadman = _DEADMAN.search(code)
    return Script(
        type=roots.pop() if len(roots) == 1 else "invalid",
        declarations=tuple(declarations),
        properties=properties,
        deadman_period=deadman[2] if deadman else None,
        posts=".post(" in code,
        writes_kafka=".kafka(" in code,
        state_changes_only=".stateChangesOnly(" in code,
        recoverable=".noRecoveries(" not in code,
    )
