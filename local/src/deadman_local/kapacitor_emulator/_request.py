"""Request body decoding with Go ``encoding/json`` semantics.

Kapacitor decodes bodies with ``json.NewDecoder(r.Body).Decode(&opts)``: the first
JSON value is read and anything after it is ignored, field names match
case-insensitively, unknown fields are ignored, ``null`` leaves a field at its zero
value, and any type mismatch or bad enum value fails the whole decode, which the
handlers answer with 400 ``invalid JSON``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ._model import DBRP
from ._vars import InvalidJSON, RawVar, decode_vars, fold_fields

__all__ = [
    "InvalidJSON",
    "TaskRequest",
    "TemplateRequest",
    "decode_body",
    "decode_task_request",
    "decode_template_request",
]

_TASK_TYPES = frozenset({"stream", "batch"})
_STATUSES = frozenset({"enabled", "disabled"})


@dataclass(frozen=True)
class TaskRequest:
    """``CreateTaskOptions``/``UpdateTaskOptions``; empty strings mean "not given"."""

    id: str = ""
    template_id: str = ""
    type: str = ""
    dbrps: tuple[DBRP, ...] = ()
    script: str = ""
    status: str = ""
    vars: dict[str, RawVar] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateRequest:
    id: str = ""
    type: str = ""
    script: str = ""


def decode_body(body: bytes) -> object:
    """Read the first JSON value of a body like ``json.Decoder.Decode``."""
    text = body.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise InvalidJSON  # io.EOF
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON from exc
    return value


def _string(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidJSON
    return value


def _enum(value: object, allowed: frozenset[str]) -> str:
    # TaskType/TaskStatus implement UnmarshalText; any other text (even "") fails.
    if value is None:
        return ""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidJSON
    return value


def _dbrps(value: object) -> tuple[DBRP, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidJSON
    result: list[DBRP] = []
    for item in value:
        if item is None:
            result.append(DBRP("", ""))
            continue
        if not isinstance(item, dict):
            raise InvalidJSON
        fields = fold_fields(item, ("db", "rp"))
        result.append(DBRP(_string(fields.get("db")), _string(fields.get("rp"))))
    return tuple(result)


def _object(body: bytes) -> dict[str, object]:
    value = decode_body(body)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidJSON
    return value


def decode_task_request(body: bytes) -> TaskRequest:
    fields = fold_fields(
        _object(body), ("id", "template-id", "type", "dbrps", "script", "status", "vars")
    )
    return TaskRequest(
        id=_string(fields.get("id")),
        template_id=_string(fields.get("template-id")),
        type=_enum(fields.get("type"), _TASK_TYPES),
        dbrps=_dbrps(fields.get("dbrps")),
        script=_string(fields.get("script")),
        status=_enum(fields.get("status"), _STATUSES),
        vars=decode_vars(fields.get("vars")),
    )


def decode_template_request(body: bytes) -> TemplateRequest:
    fields = fold_fields(_object(body), ("id", "type", "script"))
    return TemplateRequest(
        id=_string(fields.get("id")),
        type=_enum(fields.get("type"), _TASK_TYPES),
        script=_string(fields.get("script")),
    )
