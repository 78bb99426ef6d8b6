"""Stored objects: vars, tasks and templates, as Kapacitor's task store keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from ._gofmt import JSONValue

__all__ = ["DBRP", "DISABLED", "ENABLED", "Task", "Template", "Var", "VarValue", "vars_json"]

ENABLED = "enabled"
DISABLED = "disabled"

# A var value: durations are int nanoseconds, lists hold Vars, and star (or a
# var declared without a default) is None.
VarValue: TypeAlias = "bool | int | float | str | tuple[Var, ...] | None"


@dataclass(frozen=True)
class Var:
    """One TICKscript var as the API shows it (``{"type","value","description"}``)."""

    type: str
    value: VarValue
    description: str = ""

    def to_json(self) -> dict[str, JSONValue]:
        value: JSONValue
        if isinstance(self.value, tuple):
            value = [item.to_json() for item in self.value]
        else:
            value = self.value
        return {"type": self.type, "value": value, "description": self.description}


def vars_json(variables: Mapping[str, Var]) -> dict[str, JSONValue]:
    # Go marshals maps with sorted keys, so every vars object comes out sorted.
    return {name: variables[name].to_json() for name in sorted(variables)}


@dataclass(frozen=True)
class DBRP:
    db: str
    rp: str

    def to_json(self) -> dict[str, JSONValue]:
        return {"db": self.db, "rp": self.rp}


@dataclass(frozen=True)
class Task:
    """A stored task. Times are Unix nanoseconds; ``None`` is Go's zero time.

    ``running_script``/``running_vars`` hold the definition the task was started
    with: Kapacitor never reloads a running task on PATCH, so alerts fired by the
    emulator use this snapshot, not the latest stored vars.
    """

    id: str
    template_id: str
    type: str
    dbrps: tuple[DBRP, ...]
    script: str
    vars: Mapping[str, Var]
    status: str
    executing: bool
    error: str
    created: int
    modified: int
    last_enabled: int | None
    running_script: str | None = None
    running_vars: Mapping[str, Var] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    id: str
    type: str
    script: str
    created: int
    modified: int
