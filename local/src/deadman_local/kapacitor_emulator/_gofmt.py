"""Go's way of printing what clients read: JSON, ``%q``, RFC 3339 times, and the
``{{.Field}}`` actions of alert ids and messages.

JSON: Kapacitor answers with ``json.MarshalIndent(v, "", "    ")`` and posts alerts
with ``json.NewEncoder`` (compact, one trailing newline). Go writes floats that
hold an integer without a fraction (``0.0`` -> ``0``) and escapes ``<``, ``>``,
``&``, U+2028 and U+2029 (a Kafka record's bytes show it).

Templates: the shipped templates use ``{{.ID}}``, ``{{.Name}}``, ``{{.TaskName}}``,
``{{.Group}}``, ``{{.Tags}}``, ``{{.Level}}``, ``{{.Fields}}`` and ``{{.Time}}``;
those field actions are rendered with Go's ``%v`` (``map[k:v]``,
``2026-11-21 17:47:10 +0000 UTC``). Any other action is left as written.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias

__all__ = [
    "JSONValue",
    "go_duration",
    "go_quote",
    "go_time",
    "html_escape",
    "marshal",
    "render",
    "rfc3339nano",
]

JSONValue: TypeAlias = (
    "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_GO_ESCAPES |= {"\u2028": "\\u2028", "\u2029": "\\u2029"}
_FIELD = re.compile(r"{{-?\s*\.(\w+)\s*-?}}")


def _go_numbers(value: JSONValue) -> JSONValue:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Mapping):
        return {key: _go_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_go_numbers(item) for item in value]
    return value


def marshal(value: JSONValue, *, indent: bool) -> bytes:
    """Encode like ``json.MarshalIndent(v, "", "    ")``, or compact ``json.Marshal``."""
    text = json.dumps(
        _go_numbers(value),
        ensure_ascii=False,
        indent=4 if indent else None,
        separators=(",", ": ") if indent else (",", ":"),
    )
    # These characters only occur inside JSON strings, where Go escapes them.
    for raw, escaped in _GO_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text.encode()


def go_quote(text: str) -> str:
    """Go's ``%q`` (``strconv.Quote``), as far as printable text goes."""
    return json.dumps(text, ensure_ascii=False)


def rfc3339nano(ns: int | None) -> str:
    """Unix nanoseconds as Go's ``time.RFC3339Nano`` in UTC; ``None`` is Go's zero
    time, which Kapacitor shows for a task that was never enabled."""
    if ns is None:
        return "0001-01-01T00:00:00Z"
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return stamp + (f".{fraction:09d}".rstrip("0") if fraction else "") + "Z"


def go_time(ns: int) -> str:
    """Unix nanoseconds as Go's ``time.Time.String()`` prints a UTC time."""
    return rfc3339nano(ns).replace("T", " ").removesuffix("Z") + " +0000 UTC"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for a period of seconds (``5s``, ``1m0s``)."""
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".")
    return (
        (f"{hours}h" if hours else "") + (f"{minutes}m" if ns >= 60 * 10**9 else "") + f"{seconds}s"
    )


def _go_value(value: object) -> str:
    """Go's ``%v`` for the values alert templates see."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def render(template: str, data: Mapping[str, object]) -> str:
    """Render the ``{{.Field}}`` actions of ``data``; others stay as written."""

    def field(match: re.Match[str]) -> str:
        name = match[1]
        return _go_value(data[name]) if name in data else match[0]

    return _FIELD.sub(field, template)


def html_escape(text: str) -> str:
    """Go html/template's escaping (Kapacitor's ``details`` is an html/template)."""
    return (
        html.escape(text, quote=True)
        .replace("&#x27;", "&#39;")
        .replace("&quot;", "&#34;")
        .replace("+", "&#43;")
        .replace("\x00", "\ufffd")
    )
