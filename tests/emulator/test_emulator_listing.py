"""``GET /tasks`` and ``GET /templates``: glob, fields, offset/limit and item shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator

PLAIN_SCRIPT = "stream\n    |from()\n        .measurement('m')\n    |deadman(0.0, 10s)\n"


def _create(
    api: httpx.Client, make: Callable[..., dict[str, Any]], *ids: str, status: str = "disabled"
) -> None:
    for task_id in ids:
        response = api.post("/tasks", json=make(task_id, "m", status=status))
        assert response.status_code == 200, response.text


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["tasks"]]


def test_list_is_byte_ordered_and_filtered_by_glob(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    _create(api, make_task_body, "b_not_fed", "a_not_fed", "B_not_fed", "é_not_fed", "a_other")
    assert _ids(api.get("/tasks")) == [
        "B_not_fed",
        "a_not_fed",
        "a_other",
        "b_not_fed",
        "é_not_fed",
    ]
    assert _ids(api.get("/tasks", params={"pattern": "*_not_fed"})) == [
        "B_not_fed",
        "a_not_fed",
        "b_not_fed",
        "é_not_fed",
    ]
    assert _ids(api.get("/tasks", params={"pattern": "[ab]_*"})) == [
        "a_not_fed",
        "a_other",
        "b_not_fed",
    ]
    assert _ids(api.get("/tasks", params={"pattern": "[unclosed"})) == []


def test_list_fields_always_add_id_and_link_and_sort_keys(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    _create(api, make_task_body, "t1")
    response = api.get("/tasks", params=[("fields", "status"), ("fields", "executing")])
    item = response.json()["tasks"][0]
    assert list(item) == ["executing", "id", "link", "status"]
    assert item["link"] == {"rel": "self", "href": "/kapacitor/v1/tasks/t1"}


def test_list_unknown_field_is_400_only_when_something_is_listed(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    # Kapacitor checks the fields while it builds each item, so an empty page passes.
    assert api.get("/tasks", params={"fields": "nope"}).json() == {"tasks": []}
    _create(api, make_task_body, "t1")
    response = api.get("/tasks", params={"fields": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == 'unsupported field "nope"'


def test_list_default_items_shape(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    _create(api, make_task_body, "off")
    _create(api, make_task_body, "on", status="enabled")
    plain = api.post(
        "/tasks",
        json={"id": "plain", "script": PLAIN_SCRIPT, "dbrps": [{"db": "iot", "rp": "autogen"}]},
    )
    assert plain.status_code == 200, plain.text
    items = {item["id"]: item for item in api.get("/tasks").json()["tasks"]}
    assert list(items["off"]) == sorted(items["off"])
    assert items["off"]["stats"] is None
    assert items["on"]["stats"] == {}  # not emulated: the emulator counts nothing
    assert items["off"]["template-id"] == "device_deadman"
    assert "template-id" not in items["plain"]
    assert items["plain"]["type"] == "stream"
    assert items["on"]["vars"]["measurement"]["value"] == "m"


def test_list_limit_defaults_to_100_and_offset_pages(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    ids = [f"t{n:03d}" for n in range(105)]
    _create(api, make_task_body, *ids)
    assert _ids(api.get("/tasks", params={"fields": "id"})) == ids[:100]
    assert _ids(api.get("/tasks", params={"fields": "id", "offset": 100})) == ids[100:]
    collected: list[str] = []
    while page := _ids(api.get("/tasks", params={"limit": 40, "offset": len(collected)})):
        collected += page
    assert collected == ids
    assert _ids(api.get("/tasks", params={"limit": 0})) == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"offset": "x"},
            'invalid offset parameter "x" must be an integer: '
            'strconv.ParseInt: parsing "x": invalid syntax',
        ),
        (
            {"limit": "1.5"},
            'invalid limit parameter "1.5" must be an integer: '
            'strconv.ParseInt: parsing "1.5": invalid syntax',
        ),
    ],
)
def test_list_invalid_parameters_answer_go_messages(
    api: httpx.Client, emulator: KapacitorEmulator, params: dict[str, str], error: str
) -> None:
    response = api.get("/tasks", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": error, "message": error}


def test_list_templates_default_fields_leave_out_vars(
    api: httpx.Client, seeded: KapacitorEmulator
) -> None:
    item = api.get("/templates").json()["templates"][0]
    assert list(item) == ["created", "dot", "error", "id", "link", "modified", "script", "type"]
    with_vars = api.get("/templates", params={"fields": "vars"}).json()["templates"][0]
    assert list(with_vars) == ["id", "link", "vars"]
    assert with_vars["vars"]["name"] == {"type": "string", "value": None, "description": ""}
    assert with_vars["vars"]["period"]["description"] == "how long a device may stay silent"
