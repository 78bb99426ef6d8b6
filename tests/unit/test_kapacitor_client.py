"""The Kapacitor client: captured replies sorted into permanent and transient errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deadman import (
    KapacitorClient,
    KapacitorRejectedError,
    KapacitorSettings,
    KapacitorUnavailableError,
    TaskAlreadyExistsError,
    TaskMissingError,
    UnknownTemplateError,
)
from deadman.ops.template import InstallResult, bundled_template, install_template
from tests.support.paths import TEMPLATE_ID
from tests.support.shared import shared_path


def exchanges() -> dict[str, dict[str, Any]]:
    data = json.loads(shared_path("kapacitor-captures", "api-exchanges.json").read_text())
    return {exchange["note"]: exchange for exchange in data}


def replaying(note: str) -> Callable[[httpx.Request], httpx.Response]:
    """A transport that answers every request with one captured reply."""
    reply = exchanges()[note]["response"]

    def answer(request: httpx.Request) -> httpx.Response:
        body = reply.get("body")
        return httpx.Response(reply["status"], json=body if body is not None else None)

    return answer


def client_for(handler: Callable[[httpx.Request], httpx.Response], **env: Any) -> KapacitorClient:
    return KapacitorClient(KapacitorSettings(**env), transport=httpx.MockTransport(handler))


CREATE = {"id": "cap-a_not_fed", "template-id": TEMPLATE_ID, "status": "enabled"}


@pytest.mark.parametrize(
    ("note", "call", "error"),
    [
        ("create task again: already exists", "create", TaskAlreadyExistsError),
        ("unknown template", "create", UnknownTemplateError),
        ("invalid task id", "create", KapacitorRejectedError),
        ("var of wrong type", "create", KapacitorRejectedError),
        ("missing dbrps", "create", KapacitorRejectedError),
        ("enable missing task", "patch", TaskMissingError),
        ("invalid status value", "patch", KapacitorRejectedError),
    ],
)
def test_kapacitor_client_captured_errors(note: str, call: str, error: type[Exception]) -> None:
    client = client_for(replaying(note))
    send: Callable[[], object] = (
        (lambda: client.create_task(CREATE))
        if call == "create"
        else (lambda: client.update_task("cap-a_not_fed", {"status": "enabled"}))
    )
    with pytest.raises(error) as raised:
        send()
    expected = exchanges()[note]["response"]["body"]["error"]
    assert expected in str(raised.value)
    assert not isinstance(raised.value, KapacitorUnavailableError)


def test_kapacitor_client_get_missing_task_is_none() -> None:
    assert client_for(replaying("get task (missing)")).get_task("missing_not_fed") is None


def test_kapacitor_client_get_task_reads_captured_task() -> None:
    task = client_for(replaying("get task (exists)")).get_task("cap-a_not_fed")
    assert task is not None
    assert task.status == "enabled"
    assert task.executing
    assert task.var_value("measurement") == "cap-a"


def test_kapacitor_client_delete_missing_is_fine() -> None:
    client_for(replaying("delete task again (missing)")).delete_task("cap-b_not_fed")


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
def test_kapacitor_client_transient_statuses(status: int) -> None:
    client = client_for(lambda request: httpx.Response(status, json={"error": "boom"}))
    with pytest.raises(KapacitorUnavailableError, match=str(status)):
        client.get_task("x")


def test_kapacitor_client_connection_refused_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(KapacitorUnavailableError, match="did not answer"):
        client_for(refuse).get_task("x")


def test_kapacitor_client_create_5xx_reads_back_stored_task() -> None:
    stored = exchanges()["get task (exists)"]["response"]["body"]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "POST":
            return httpx.Response(500, json={"error": "timeout writing"})
        return httpx.Response(200, json=stored)

    task = client_for(handler).create_task(CREATE)
    assert task.id == "cap-a_not_fed"
    assert seen == ["POST", "GET"]


def test_kapacitor_client_create_5xx_not_stored_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(503, json={"error": "busy"})
        return httpx.Response(404, json={"error": "no task exists"})

    with pytest.raises(KapacitorUnavailableError, match="503"):
        client_for(handler).create_task(CREATE)


def test_kapacitor_client_quotes_task_id_into_one_segment() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(204)

    client_for(handler).delete_task("a/../b")
    assert paths == ["/kapacitor/v1/tasks/a%2F..%2Fb"]


@pytest.mark.parametrize(
    ("env", "header"),
    [
        ({"kapacitor_username": "u", "kapacitor_password": "p"}, "Basic dTpw"),
        ({"kapacitor_token": "jwt.token"}, "Bearer jwt.token"),
        ({}, None),
    ],
)
def test_kapacitor_client_credentials(env: dict[str, str], header: str | None) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(204)

    client_for(handler, **env).ping()
    assert seen == [header]


def test_kapacitor_client_lists_every_page() -> None:
    ids = [f"t{i:03d}" for i in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        page = [{"id": task_id} for task_id in ids[offset : offset + limit]]
        return httpx.Response(200, json={"tasks": page})

    listed = client_for(handler).list_tasks(page_size=3, fields=("status",))
    assert [task["id"] for task in listed] == ids


@pytest.fixture
def emulated() -> KapacitorClient:
    from deadman_local.kapacitor_emulator import KapacitorEmulator

    transport = httpx.WSGITransport(app=KapacitorEmulator())
    return KapacitorClient(KapacitorSettings(), transport=transport)


def test_install_template_is_idempotent(emulated: KapacitorClient) -> None:
    script = bundled_template(TEMPLATE_ID)
    assert install_template(emulated, TEMPLATE_ID, script) is InstallResult.CREATED
    assert install_template(emulated, TEMPLATE_ID, script + "\n") is InstallResult.UNCHANGED
    changed = script.replace("var period = 1m", "var period = 20s")
    assert install_template(emulated, TEMPLATE_ID, changed, dry_run=True) is InstallResult.UPDATED
    template = emulated.get_template(TEMPLATE_ID)
    assert template is not None
    assert "var period = 1m" in template.script
    assert install_template(emulated, TEMPLATE_ID, changed) is InstallResult.UPDATED
    template = emulated.get_template(TEMPLATE_ID)
    assert template is not None
    assert "var period = 20s" in template.script
