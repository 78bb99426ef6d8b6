"""What Kapacitor's HTTP API answers, as the client reads it: its resources (a
task, a template) and which error each failed answer is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._exceptions import (
    KapacitorRejectedError,
    KapacitorUnavailableError,
    TaskAlreadyExistsError,
    TaskMissingError,
    UnknownTemplateError,
)

__all__ = ["Task", "Template", "error_for"]


@dataclass(frozen=True)
class Task:
    """The parts of a Kapacitor task the lifecycle rules look at."""

    id: str
    status: str
    template_id: str = ""
    vars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    executing: bool = False
    error: str = ""
    script: str = ""
    type: str = ""
    dbrps: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Task:
        return cls(
            id=str(body["id"]),
            status=str(body.get("status", "")),
            template_id=str(body.get("template-id") or ""),
            vars=dict(body.get("vars") or {}),
            executing=bool(body.get("executing", False)),
            error=str(body.get("error") or ""),
            script=str(body.get("script") or ""),
            type=str(body.get("type") or ""),
            dbrps=tuple(dict(dbrp) for dbrp in body.get("dbrps") or ()),
        )

    def var_value(self, name: str) -> Any:
        """A var's value, or None when the task has no such var."""
        var = self.vars.get(name)
        return None if var is None else var.get("value")


@dataclass(frozen=True)
class Template:
    id: str
    script: str


def error_for(method: str, path: str, response: httpx.Response) -> Exception:
    status = response.status_code
    text = _error_text(response)
    message = f"Kapacitor answered {status} to {method} {path}: {text}"
    kwargs: dict[str, Any] = {"method": method, "path": path, "status_code": status}
    if status >= 500 or status in (401, 403, 408, 429):
        # 401/403 are credentials the operator must fix; retrying (then the
        # dead-letter topic) keeps the events instead of dropping them.
        return KapacitorUnavailableError(message, **kwargs)
    if status == 404 and method == "PATCH":
        return TaskMissingError(message, **kwargs)
    if status == 400 and text.endswith("already exists"):
        return TaskAlreadyExistsError(message, **kwargs)
    if status == 400 and text.startswith("unknown template"):
        return UnknownTemplateError(message, **kwargs)
    return KapacitorRejectedError(message, **kwargs)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:200]
