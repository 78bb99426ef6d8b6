"""The list endpoints: their parameters, paging and item shapes.

A list item is a Go map (sorted keys) of the asked ``fields`` plus ``id`` and
``link``; an unknown field is 400, noticed only when something is listed. Tasks
leave ``template-id`` out when empty, and always before 1.7 (``_versions``).
Patterns are globs; task ids hold no ``/``, where Go's ``path.Match`` and
``fnmatch`` would differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

from werkzeug.datastructures import MultiDict

from ._gofmt import JSONValue, go_quote
from ._http import ApiError
from ._model import Task, Template
from ._render import task_json, template_json
from ._versions import lists_template_id

__all__ = ["list_tasks", "list_templates"]

_TASK_FIELDS: tuple[str, ...] = ("link", "id", "type", "dbrps", "script", "dot", "status")
_TASK_FIELDS += ("executing", "error", "stats", "created", "modified", "last-enabled", "vars")
_TEMPLATE_DEFAULT = ("link", "id", "type", "script", "dot", "error", "created", "modified")


def _integer(name: str, raw: str | None, default: int) -> int:
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw):
        raise ApiError(
            400,
            f"invalid {name} parameter {go_quote(raw)} must be an integer: "
            f"strconv.ParseInt: parsing {go_quote(raw)}: invalid syntax",
        )
    return int(raw)


def _page(ids: Sequence[str], args: MultiDict[str, str]) -> list[str]:
    """The ids of one page: ``ids`` sorted (bolt's byte order is code point order)."""
    pattern = args.get("pattern") or ""
    offset = _integer("offset", args.get("offset"), 0)
    limit = _integer("limit", args.get("limit"), 100)
    matching = [i for i in ids if not pattern or fnmatchcase(i, pattern)]
    return matching[offset : offset + limit]


def _item(full: Mapping[str, JSONValue], names: Iterable[str], known: Sequence[str]) -> JSONValue:
    item: dict[str, JSONValue] = {}
    for name in names:
        if name not in known:
            raise ApiError(400, f"unsupported field {go_quote(name)}")
        item[name] = full[name]
    return dict(sorted(item.items()))


def _fields(args: MultiDict[str, str]) -> tuple[str, ...] | None:
    asked = args.getlist("fields")
    return (*asked, "id", "link") if asked else None


def list_tasks(tasks: Mapping[str, Task], args: MultiDict[str, str], version: str) -> JSONValue:
    with_template = lists_template_id(version)
    known = (*_TASK_FIELDS, "template-id") if with_template else _TASK_FIELDS
    names = _fields(args) or known
    items: list[JSONValue] = []
    for task_id in _page(sorted(tasks), args):
        task, full = tasks[task_id], task_json(tasks[task_id])
        full["stats"] = full["stats"] if task.executing else None
        skip = {"template-id"} if with_template and not task.template_id else set()
        items.append(_item(full, [name for name in names if name not in skip], known))
    return {"tasks": items}


def list_templates(templates: Mapping[str, Template], args: MultiDict[str, str]) -> JSONValue:
    names = _fields(args) or _TEMPLATE_DEFAULT
    known = (*_TEMPLATE_DEFAULT, "vars")
    ids = _page(sorted(templates), args)
    return {"templates": [_item(template_json(templates[i]), names, known) for i in ids]}
