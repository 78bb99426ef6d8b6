"""JSON encoding that reproduces Go's ``encoding/json`` output byte for byte.

Kapacitor answers with ``json.MarshalIndent(v, "", "    ")`` (4-space indent, no
trailing newline) and posts alerts with ``json.NewEncoder`` (compact, one trailing
newline). Two Go habits matter to clients that compare bodies: floats that hold an
integer are written without a fraction (``0.0`` -> ``0``), and ``<``, ``>``, ``&``,
U+2028 and U+2029 inside strings are escaped as ``\\u003c`` etc.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeAlias

__all__ = ["JSONValue", "go_quote", "marshal", "rfc3339nano"]

JSONValue: TypeAlias = (
    "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


# What json.dumps(text, ensure_ascii=False) returns for a str, without the encoder
# object it builds on every call (the emulator encodes ~80 strings per task).
_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring


def _encode_str(text: str) -> str:
    encoded = _encode_basestring(text)
    for raw, escaped in _HTML_ESCAPES.items():
        if raw in encoded:
            encoded = encoded.replace(raw, escaped)
    return encoded


def _encode_float(number: float) -> str:
    if math.isnan(number) or math.isinf(number):
        # Go refuses to marshal these; the emulator never stores them.
        raise ValueError(f"unsupported float value: {number!r}")
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    magnitude = abs(number)
    if 1e-6 <= magnitude < 1e21:
        # Go uses the shortest fixed-point form in this range, Python switches to
        # an exponent below 1e-4, so go through Decimal to keep the digits.
        return format(Decimal(repr(number)), "f")
    mantissa, _, exponent = repr(number).partition("e")
    sign = "-" if exponent.startswith("-") else "+"
    digits = exponent.lstrip("+-").rjust(2, "0")
    return f"{mantissa}e{sign}{digits}"


def _encode(value: JSONValue, indent: bool, depth: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, Mapping):
        items = [
            f"{_encode_str(key)}:{' ' if indent else ''}{_encode(item, indent, depth + 1)}"
            for key, item in value.items()
        ]
        return _wrap("{", "}", items, indent, depth)
    parts = [_encode(item, indent, depth + 1) for item in value]
    return _wrap("[", "]", parts, indent, depth)


def _wrap(opening: str, closing: str, parts: list[str], indent: bool, depth: int) -> str:
    if not parts:
        return opening + closing
    if not indent:
        return opening + ",".join(parts) + closing
    inner = "\n" + "    " * (depth + 1)
    return opening + inner + ("," + inner).join(parts) + "\n" + "    " * depth + closing


def marshal(value: JSONValue, *, indent: bool) -> bytes:
    """Encode like ``json.MarshalIndent(v, "", "    ")`` or compact ``json.Marshal``."""
    return _encode(value, indent, 0).encode("utf-8")


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` verb (``strconv.Quote``)."""
    out = ['"']
    named = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
        '"': '\\"',
        "\\": "\\\\",
    }
    for char in text:
        if char in named:
            out.append(named[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def rfc3339nano(ns: int | None) -> str:
    """Format Unix nanoseconds like Go's ``time.RFC3339Nano`` in UTC.

    ``None`` stands for Go's zero ``time.Time``, which Kapacitor shows for a task that
    was never enabled.
    """
    if ns is None:
        return "0001-01-01T00:00:00Z"
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        stamp += "." + f"{fraction:09d}".rstrip("0")
    return stamp + "Z"
