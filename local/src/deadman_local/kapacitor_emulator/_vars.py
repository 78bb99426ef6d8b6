"""Var decoding and normalisation, following Kapacitor's two-stage handling.

Stage 1 is the Go client's ``Vars.UnmarshalJSON`` (any failure is a body decode error,
which the handlers answer with ``invalid JSON``). Stage 2 is the task store's
``convertToServiceVar``/``newVar`` (failures become ``invalid var <name>: <reason>``).
The reasons reuse Go's ``%T`` type names because clients see them verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._model import Var

__all__ = [
    "VAR_TYPES",
    "InvalidJSON",
    "RawVar",
    "VarConversionError",
    "convert_vars",
    "decode_vars",
    "fold_fields",
    "parse_influxql_duration",
    "tick_type_word",
    "valid_id",
]

VAR_TYPES = frozenset(
    {"bool", "int", "float", "string", "regex", "duration", "lambda", "list", "star"}
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_ID_EXTRA_CHARS = frozenset("0123456789-._")


class InvalidJSON(Exception):
    """The body does not decode into the Go request struct."""


class VarConversionError(Exception):
    """``newVar`` rejected a value; the text follows ``invalid var <name>: ``."""


@dataclass(frozen=True)
class RawVar:
    """A var as the Go client decoded it. ``type`` is ``""`` when the key is absent."""

    type: str
    value: object
    description: str


# Values the Go client converted in stage 1. Plain Python int/float values left in a
# RawVar are still ``json.Number`` from Go's point of view.
@dataclass(frozen=True)
class _Int64:
    value: int


@dataclass(frozen=True)
class _Float64:
    value: float


@dataclass(frozen=True)
class _Duration:
    value: int


@dataclass(frozen=True)
class _ClientList:
    items: tuple[RawVar, ...]


def valid_id(text: str) -> bool:
    """``^[-\\._\\p{L}0-9]+$``: Python's ``isalpha`` is exactly the ``L*`` categories."""
    return bool(text) and all(ch.isalpha() or ch in _ID_EXTRA_CHARS for ch in text)


def tick_type_word(var_type: str) -> str:
    """The word TICKscript's evaluator prints for a type (``boolean``, not ``bool``)."""
    return "boolean" if var_type == "bool" else var_type


def fold_fields(obj: Mapping[str, object], names: tuple[str, ...]) -> dict[str, object]:
    """Pick struct fields from a JSON object the way Go does: case-insensitively."""
    wanted = {name.casefold(): name for name in names}
    out: dict[str, object] = {}
    for key, value in obj.items():
        name = wanted.get(key.casefold())
        if name is not None:
            out[name] = value
    return out


def parse_influxql_duration(text: str) -> int:
    """``influxql.ParseDuration``: integer+unit groups, no fractions; returns ns."""
    units = {
        "ns": 1,
        "u": 1_000,
        "µ": 1_000,
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
        "d": 86_400_000_000_000,
        "w": 604_800_000_000_000,
    }
    if len(text) < 2:
        raise ValueError("invalid duration")
    negative = text.startswith("-")
    index, total = (1 if negative else 0), 0
    while index < len(text):
        start = index
        while index < len(text) and text[index] in "0123456789":
            index += 1
        if index >= len(text) or index == start:
            raise ValueError("invalid duration")
        number = int(text[start:index])
        unit = text[index : index + 2] if text[index : index + 2] in ("ns", "ms") else text[index]
        if unit not in units:
            raise ValueError("invalid duration")
        total += number * units[unit]
        index += len(unit)
    if total > _INT64_MAX:
        raise ValueError("overflowed duration")
    return -total if negative else total


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _client_convert(var_type: str, value: object) -> object:
    """Stage 1 conversions (``Vars.UnmarshalJSON``); failures are decode errors."""
    if value is None:
        return None
    if var_type == "duration":
        if isinstance(value, int) and not isinstance(value, bool):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise InvalidJSON
            return _Duration(value)
        if isinstance(value, str):
            try:
                return _Duration(parse_influxql_duration(value))
            except ValueError as exc:
                raise InvalidJSON from exc
        raise InvalidJSON
    if var_type == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidJSON
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidJSON
        return _Int64(value)
    if var_type == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidJSON
        return _Float64(float(value))
    if var_type == "list":
        if not isinstance(value, list):
            raise InvalidJSON
        items: list[RawVar] = []
        for item in value:
            # Only the literal keys count here: the client reads a plain map.
            if not isinstance(item, dict) or "type" not in item or "value" not in item:
                raise InvalidJSON
            item_type = item["type"]
            if not isinstance(item_type, str) or item_type not in VAR_TYPES:
                raise InvalidJSON
            items.append(RawVar(item_type, item["value"], ""))
        return _ClientList(tuple(items))
    return value


def decode_vars(raw: object) -> dict[str, RawVar]:
    """Decode the ``vars`` member of a request body (stage 1)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidJSON
    decoded: dict[str, RawVar] = {}
    for name, item in raw.items():
        if item is None:
            decoded[name] = RawVar("", None, "")
            continue
        if not isinstance(item, dict):
            raise InvalidJSON
        fields = fold_fields(item, ("type", "value", "description"))
        var_type = fields.get("type")
        if var_type is None:
            var_type = ""
        elif not isinstance(var_type, str) or var_type not in VAR_TYPES:
            raise InvalidJSON
        description = fields.get("description")
        if description is None:
            description = ""
        elif not isinstance(description, str):
            raise InvalidJSON
        value = _client_convert(var_type, fields.get("value"))
        decoded[name] = RawVar(var_type, value, description)
    return decoded


def _go_type_name(value: object) -> str:
    names: list[tuple[type, str]] = [
        (bool, "bool"),
        (_Int64, "int64"),
        (_Float64, "float64"),
        (_Duration, "time.Duration"),
        (str, "string"),
        (list, "[]interface {}"),
        (dict, "map[string]interface {}"),
        (_ClientList, "[]client.Var"),
    ]
    if value is None:
        return "<nil>"
    if _is_number(value):
        return "json.Number"
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _convert(raw: RawVar) -> Var:
    """Stage 2: ``convertToServiceVar`` followed by ``newVar``."""
    type_name = raw.type or "unknown"
    value = raw.value
    if raw.type == "list":
        if not isinstance(value, _ClientList):
            raise VarConversionError(
                f"var has list type but value is not list, got {_go_type_name(value)}"
            )
        return Var("list", tuple(_convert(item) for item in value.items), raw.description)
    if raw.type == "star":
        return Var("star", None, raw.description)
    got: str
    stored: bool | int | float | str
    if isinstance(value, bool):
        got, stored = "bool", value
    elif isinstance(value, _Int64):
        got, stored = "int", value.value
    elif isinstance(value, _Float64):
        got, stored = "float", value.value
    elif isinstance(value, _Duration):
        got, stored = "duration", value.value
    elif isinstance(value, str):
        if raw.type not in ("lambda", "regex", "string"):
            raise VarConversionError(f"unexpected var type {type_name}, value is a string")
        got, stored = raw.type, value
    else:
        raise VarConversionError(f"unsupported Var type {_go_type_name(value)}.")
    if got != raw.type:
        raise VarConversionError(f"mismatched type and value: {_go_type_name(value)} {type_name}")
    return Var(got, stored, raw.description)


def convert_vars(raw: Mapping[str, RawVar]) -> dict[str, Var]:
    """Convert decoded vars; raises ``VarConversionError`` worded as Kapacitor does."""
    converted: dict[str, Var] = {}
    for name, item in raw.items():
        try:
            converted[name] = _convert(item)
        except VarConversionError as exc:
            raise VarConversionError(f"invalid var {name}: {exc}") from None
    return converted
