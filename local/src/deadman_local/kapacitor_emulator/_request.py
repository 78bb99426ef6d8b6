"""Request bodies of task and template calls, decoded as Kapacitor decodes them.

Kapacitor reads the first JSON value of a body (``json.Decoder.Decode``; anything
after it is ignored), leaves a ``null`` member at its zero value, and answers 400
``invalid JSON`` when a member has the wrong JSON type, a status or type is not
one of its words, or a var's value cannot be read as its type (its client's
``Vars.UnmarshalJSON``: ints, floats, durations as nanoseconds or ``"30s"``,
lists). A var whose value does not fit its type otherwise is 400 ``invalid var``.
Member names are matched exactly (Go would also take ``ID`` for ``id``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ._http import ApiError
from ._model import DBRP, Var
from ._script import duration_ns

__all__ = ["InvalidJSON", "TaskRequest", "TemplateRequest", "decode_task", "decode_template"]

_VAR_TYPES = frozenset({"bool", "int", "float", "string", "regex", "duration", "lambda"})
_VAR_TYPES |= {"list", "star"}
_STRING_TYPES = frozenset({"string", "regex", "lambda"})


class InvalidJSON(Exception):
    """The body does not decode into Kapacitor's request struct."""


@dataclass(frozen=True)
class TaskRequest:
    """``CreateTaskOptions``/``UpdateTaskOptions``; empty means "not given"."""

    id: str = ""
    template_id: str = ""
    dbrps: tuple[DBRP, ...] = ()
    script: str = ""
    status: str = ""
    vars: dict[str, Var] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateRequest:
    id: str = ""
    script: str = ""


def _object(body: bytes) -> dict[str, object]:
    text = body.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        raise InvalidJSON from None  # an empty body too (io.EOF)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidJSON
    return value


def _string(value: object, allowed: frozenset[str] | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        raise InvalidJSON
    return value


def _client_number(kind: str, value: object) -> int | float:
    """The Go client's own conversions (``Vars.UnmarshalJSON``): a failure is a
    body that does not decode."""
    if kind == "duration" and isinstance(value, str):
        value = duration_ns(value)
    if isinstance(value, bool) or value is None:
        raise InvalidJSON
    if kind == "float" and isinstance(value, int | float):
        return float(value)
    if isinstance(value, int):
        return value
    raise InvalidJSON


def _var(name: str, raw: object) -> Var:
    if not isinstance(raw, dict):
        raise InvalidJSON
    kind, value = _string(raw.get("type"), _VAR_TYPES), raw.get("value")
    description = _string(raw.get("description"))
    if kind == "list":
        if not isinstance(value, list):
            raise InvalidJSON
        return Var(kind, tuple(_var(name, item) for item in value), description)
    if kind in ("int", "float", "duration"):
        return Var(kind, _client_number(kind, value), description)
    if kind == "star":
        return Var(kind, None, description)
    if (kind == "bool" and isinstance(value, bool)) or (
        kind in _STRING_TYPES and isinstance(value, str)
    ):
        return Var(kind, value, description)
    raise ApiError(400, f"invalid var {name}: mismatched type and value")


def _dbrps(value: object) -> tuple[DBRP, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(i, dict | None) for i in value):
        raise InvalidJSON
    return tuple(DBRP(_string(i.get("db")), _string(i.get("rp"))) for i in value if i)


def decode_task(body: bytes) -> TaskRequest:
    data = _object(body)
    _string(data.get("type"), frozenset({"stream", "batch"}))  # checked, then unused
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise InvalidJSON
    return TaskRequest(
        id=_string(data.get("id")),
        template_id=_string(data.get("template-id")),
        dbrps=_dbrps(data.get("dbrps")),
        script=_string(data.get("script")),
        status=_string(data.get("status"), frozenset({"enabled", "disabled"})),
        vars={name: _var(name, raw) for name, raw in raw_vars.items()},
    )


def decode_template(body: bytes) -> TemplateRequest:
    data = _object(body)
    _string(data.get("type"), frozenset({"stream", "batch"}))
    return TemplateRequest(id=_string(data.get("id")), script=_string(data.get("script")))
