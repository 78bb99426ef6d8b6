"""List endpoints' query parameters and paging, with Kapacitor's quirks kept.

Paging is ``storage.DoListFunc``: the page size is bounded by the number of *all*
stored ids, ``limit < 0`` returns every id (ignoring pattern and offset), and a
malformed glob matches nothing. Globs follow Go's ``path.Match``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ._errors import ApiError
from ._gojson import go_quote

__all__ = ["ListQuery", "go_path_match", "page", "parse_list_query", "parse_view_params"]

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ListQuery:
    pattern: str
    fields: tuple[str, ...] | None  # None: the endpoint's default fields
    offset: int
    limit: int
    script_format: str
    dot_view: str


@lru_cache(maxsize=128)
def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    parts: list[str] = []
    index, size = 0, len(pattern)

    def escaped_char() -> str | None:
        nonlocal index
        char = pattern[index]
        if char in "-]":
            return None
        if char == "\\":
            index += 1
            if index >= size:
                return None
            char = pattern[index]
        index += 1
        return char

    while index < size:
        char = pattern[index]
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "\\":
            index += 1
            if index >= size:
                return None
            parts.append(re.escape(pattern[index]))
        elif char == "[":
            index += 1
            negate = index < size and pattern[index] == "^"
            index += 1 if negate else 0
            ranges: list[str] = []
            while True:
                if index >= size:
                    return None
                if pattern[index] == "]" and ranges:
                    break
                low = escaped_char()
                if low is None:
                    return None
                high = low
                if index < size and pattern[index] == "-":
                    index += 1
                    upper = escaped_char() if index < size else None
                    if upper is None:
                        return None
                    high = upper
                ranges.append(f"{re.escape(low)}-{re.escape(high)}")
            parts.append("[" + ("^" if negate else "") + "".join(ranges) + "]")
        else:
            parts.append(re.escape(char))
        index += 1
    try:
        return re.compile("".join(parts), re.DOTALL)
    except re.error:
        return None  # e.g. a reversed range: Go matches nothing either


def go_path_match(pattern: str, name: str) -> bool:
    regex = _glob_regex(pattern)
    return regex is not None and regex.fullmatch(name) is not None


def page(ids: Sequence[str], pattern: str, offset: int, limit: int) -> list[str]:
    """Select ids (already byte-ordered) exactly like ``IndexedStore.list``."""
    if limit < 0:
        return list(ids)
    size = min(offset + limit, len(ids)) - offset
    if size <= 0:
        return []
    matches: list[str] = []
    seen = 0
    for item in ids:
        if pattern and not go_path_match(pattern, item):
            continue
        seen += 1
        if seen <= offset:
            continue
        matches.append(item)
        if len(matches) == size:
            break
    return matches


def _parse_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    prefix = f"invalid {name} parameter {go_quote(raw)} must be an integer: "
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ApiError(400, prefix + f"strconv.ParseInt: parsing {go_quote(raw)}: invalid syntax")
    value = int(raw)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ApiError(
            400, prefix + f"strconv.ParseInt: parsing {go_quote(raw)}: value out of range"
        )
    return value


def parse_view_params(script_format: str | None, dot_view: str | None) -> tuple[str, str]:
    """Validate ``script-format`` then ``dot-view`` (pass ``dot_view=None`` to skip)."""
    script_format = script_format or "formatted"
    if script_format not in ("formatted", "raw"):
        raise ApiError(400, f"invalid script-format parameter {go_quote(script_format)}")
    view = dot_view or "attributes"
    if dot_view is not None and view not in ("attributes", "labels"):
        raise ApiError(400, f"invalid dot-view parameter {go_quote(view)}")
    return script_format, view


def parse_list_query(
    pattern: str | None,
    fields: list[str],
    offset: str | None,
    limit: str | None,
    script_format: str | None,
    dot_view: str | None,
    with_dot_view: bool,
) -> ListQuery:
    """Parse list parameters in the order the Go handlers check them."""
    chosen = (*fields, "id", "link") if fields else None
    fmt, view = parse_view_params(script_format, dot_view if with_dot_view else None)
    return ListQuery(
        pattern=pattern or "",
        fields=chosen,
        offset=_parse_int("offset", offset, 0),
        limit=_parse_int("limit", limit, 100),
        script_format=fmt,
        dot_view=view,
    )
