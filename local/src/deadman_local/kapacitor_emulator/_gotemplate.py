"""A small subset of Go's text/template and fmt, for alert ids, messages and URLs.

Supported actions: ``{{ .Field }}``, ``{{ .A.B }}`` and ``{{ index .Map "key" }}``,
with values printed the way Go's ``%v`` prints them (``map[k:v]``, ``5m0s``,
``2026-11-21 17:47:10 +0000 UTC``). Other actions are left in the text unchanged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["GoDuration", "GoTime", "go_value", "html_escape", "render"]

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)
_FIELD_PATH = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_INDEX = re.compile(r'index\s+(\.[A-Za-z_][A-Za-z0-9_.]*)\s+"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class GoTime:
    """A UTC instant in nanoseconds; prints like Go's ``time.Time.String()``."""

    ns: int

    def __str__(self) -> str:
        seconds, fraction = divmod(self.ns, 1_000_000_000)
        text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        if fraction:
            text += "." + f"{fraction:09d}".rstrip("0")
        return text + " +0000 UTC"


@dataclass(frozen=True)
class GoDuration:
    """Nanoseconds; prints like Go's ``time.Duration.String()``."""

    ns: int

    def __str__(self) -> str:
        if self.ns == 0:
            return "0s"
        sign, value = ("-" if self.ns < 0 else ""), abs(self.ns)

        def fraction(amount: int, unit: int) -> str:
            whole, rest = divmod(amount, unit)
            digits = len(str(unit)) - 1
            return f"{whole}.{rest:0{digits}d}".rstrip("0") if rest else str(whole)

        if value < 1_000:
            return f"{sign}{value}ns"
        if value < 1_000_000:
            return f"{sign}{fraction(value, 1_000)}µs"
        if value < 1_000_000_000:
            return f"{sign}{fraction(value, 1_000_000)}ms"
        hours, rest = divmod(value, 3_600_000_000_000)
        minutes, rest = divmod(rest, 60_000_000_000)
        text = f"{hours}h" if hours else ""
        text += f"{minutes}m" if hours or minutes else ""
        return f"{sign}{text}{fraction(rest, 1_000_000_000)}s"


def go_value(value: object) -> str:
    """Format like Go's ``%v`` for the types alert templates see."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, Mapping):
        inner = " ".join(f"{key}:{go_value(value[key])}" for key in sorted(value))
        return f"map[{inner}]"
    return str(value)


def _lookup(path: str, data: Mapping[str, object]) -> object:
    current: object = data
    for part in path.strip(".").split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise KeyError(path)
        current = current[part]
    return current


def html_escape(text: str) -> str:
    """Go html/template's escaping of text in an HTML body context."""
    return (
        html.escape(text, quote=True)
        .replace("&#x27;", "&#39;")
        .replace("&quot;", "&#34;")
        .replace("+", "&#43;")
        .replace("\x00", "\ufffd")
    )


def render(template: str, data: Mapping[str, object], escape: bool = False) -> str:
    """Render supported actions; ``escape`` applies html/template's escaping to
    interpolated values (``.details()`` is an html/template)."""

    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        try:
            if _FIELD_PATH.fullmatch(body):
                value = _lookup(body, data)
            elif index := _INDEX.fullmatch(body):
                container = _lookup(index.group(1), data)
                key = index.group(2).replace('\\"', '"')
                value = container.get(key, "<no value>") if isinstance(container, Mapping) else None
            else:
                return match.group(0)
        except KeyError:
            return match.group(0)
        text = go_value(value)
        return html_escape(text) if escape else text

    return _ACTION.sub(action, template)
