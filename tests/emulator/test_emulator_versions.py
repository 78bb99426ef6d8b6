"""Where the emulator answers as Kapacitor 1.5, 1.6 or 1.7 (contract §0, §1.3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator, serve
from tests.support.emulator import DEADMAN_SCRIPT, DEADMAN_TEMPLATE_ID

Body = Callable[..., dict[str, Any]]


@pytest.fixture
def api_as() -> Iterator[Callable[[str], httpx.Client]]:
    """A client of a fresh emulator answering as the given release, template seeded."""
    opened: list[Any] = []

    def make(version: str) -> httpx.Client:
        emulator = KapacitorEmulator(version=version)
        emulator.add_template(DEADMAN_TEMPLATE_ID, DEADMAN_SCRIPT)
        running = serve(emulator)
        client = httpx.Client(base_url=f"{running.url}/kapacitor/v1")
        opened.extend([client, running])
        return client

    yield make
    for item in reversed(opened):
        item.close()


@pytest.mark.parametrize(
    ("version", "keys"),
    [("1.5.7", {"error"}), ("1.6.4", {"error", "message"}), ("1.7.7", {"error", "message"})],
)
def test_error_body_keys_by_version(
    api_as: Callable[[str], httpx.Client], version: str, keys: set[str]
) -> None:
    response = api_as(version).get("/tasks/missing")
    assert response.status_code == 404
    assert set(response.json()) == keys
    assert response.headers["X-Kapacitor-Version"] == version


@pytest.mark.parametrize("version", ["1.5.0", "1.5.7", "1.6.4"])
def test_list_template_id_field_refused_before_1_7_once_a_task_matches(
    api_as: Callable[[str], httpx.Client], make_task_body: Body, version: str
) -> None:
    api = api_as(version)
    query = {"pattern": "*_x", "fields": ["status", "template-id"]}
    assert api.get("/tasks", params=query).json() == {"tasks": []}  # nothing matches: 200
    assert api.post("/tasks", json=make_task_body("a_x", "a")).status_code == 200
    refused = api.get("/tasks", params=query)
    assert refused.status_code == 400
    assert refused.json()["error"] == 'unsupported field "template-id"'
    # Listed without fields, a task never shows its template before 1.7 either;
    # a single GET always does.
    [listed] = api.get("/tasks", params={"pattern": "*_x"}).json()["tasks"]
    assert "template-id" not in listed
    assert api.get("/tasks/a_x").json()["template-id"] == DEADMAN_TEMPLATE_ID


def test_list_template_id_field_listed_from_1_7(
    api_as: Callable[[str], httpx.Client], make_task_body: Body
) -> None:
    api = api_as("1.7.7")
    assert api.post("/tasks", json=make_task_body("a_x", "a")).status_code == 200
    listed = api.get("/tasks", params={"pattern": "*_x", "fields": ["template-id"]}).json()
    assert listed["tasks"][0]["template-id"] == DEADMAN_TEMPLATE_ID


def test_cli_flag_chooses_the_version() -> None:
    from deadman_local.kapacitor_emulator.__main__ import _parser

    args = _parser().parse_args(["--kapacitor-version", "1.5.7"])
    assert args.kapacitor_version == "1.5.7"
