"""The Kapacitor client: captured replies sorted into permanent and transient errors,
then the same calls made on each Kapacitor backend (the emulator as 1.5.7 and 1.7.7,
and a real 1.5.7)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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
    influxql_duration_ns,
)
from deadman.ops.template import InstallResult, bundled_template, install_template
from tests.support.backends import KapacitorBackend
from tests.support.paths import TEMPLATE_ID
from tests.support.shared import shared_path
from tests.support.tasks import task_body


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


# ------------------------------------------------- the same calls on each backend
# The answers above were captured once; these make each call on the emulator as
# 1.5.7 and 1.7.7 and on a real 1.5.7, so a server that answers otherwise fails here.


@pytest.fixture
def live(kapacitor: KapacitorBackend) -> Iterator[KapacitorClient]:
    """The client of the backend's proxy, as the functions make it."""
    with KapacitorClient(KapacitorSettings(kapacitor_url=kapacitor.url)) as client:
        yield client


def test_kapacitor_client_create_existing_task_raises_already_exists(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    live.create_task(task_body("live-a_not_fed", "live-a", "disabled"))
    with pytest.raises(TaskAlreadyExistsError, match="task live-a_not_fed already exists"):
        live.create_task(task_body("live-a_not_fed", "live-a", "disabled"))
    assert kapacitor.statuses() == {"live-a_not_fed": "disabled"}


def test_kapacitor_client_create_from_unknown_template_raises_unknown_template(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    with pytest.raises(UnknownTemplateError, match="unknown template nope"):
        live.create_task(task_body("live-b_not_fed", "live-b", template_id="nope"))
    assert kapacitor.statuses() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (task_body("bad id/../x", "live-c"), "task ID must contain only letters"),
        (
            task_body(
                "live-e_not_fed",
                "live-e",
                vars={
                    **task_body("live-e_not_fed", "live-e")["vars"],
                    "measurement": {"type": "int", "value": 3},
                },
            ),
            "invalid type supplied for measurement",
        ),
        (
            {k: v for k, v in task_body("live-f_not_fed", "live-f").items() if k != "dbrps"},
            "must specify dbrp",
        ),
    ],
    ids=["invalid-task-id", "var-of-wrong-type", "missing-dbrps"],
)
def test_kapacitor_client_create_invalid_task_is_rejected(
    live: KapacitorClient, kapacitor: KapacitorBackend, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(KapacitorRejectedError, match=message) as raised:
        live.create_task(body)
    # Exactly a rejection: no subclass that the lifecycle rules would act upon.
    assert type(raised.value) is KapacitorRejectedError
    assert raised.value.status_code == 400
    assert kapacitor.statuses() == {}


def test_kapacitor_client_enable_missing_task_raises_task_missing(live: KapacitorClient) -> None:
    with pytest.raises(TaskMissingError, match="task does not exist, cannot update"):
        live.update_task("ghost_not_fed", {"status": "enabled"})


def test_kapacitor_client_invalid_status_value_is_rejected(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    live.create_task(task_body("live-s_not_fed", "live-s", "disabled"))
    with pytest.raises(KapacitorRejectedError, match="invalid JSON") as raised:
        live.update_task("live-s_not_fed", {"status": "bogus"})
    assert type(raised.value) is KapacitorRejectedError
    assert kapacitor.statuses() == {"live-s_not_fed": "disabled"}


def test_kapacitor_client_get_missing_task_on_server_is_none(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    assert live.get_task("ghost_not_fed") is None
    assert kapacitor.calls == {("GET", "tasks"): 1}


def test_kapacitor_client_get_task_on_server_reads_it(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    live.create_task(task_body("live-g_not_fed", "live-g"))
    task = live.get_task("live-g_not_fed")
    assert task is not None
    assert (task.status, task.executing, task.error) == ("enabled", True, "")
    assert task.template_id == TEMPLATE_ID
    assert task.var_value("measurement") == "live-g"
    assert "var period = 1m" in task.script  # the template's script, raw


def test_kapacitor_client_delete_missing_task_on_server_is_fine(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    live.create_task(task_body("live-d_not_fed", "live-d", "disabled"))
    live.delete_task("live-d_not_fed")
    live.delete_task("live-d_not_fed")  # 204 again: nothing to report
    assert kapacitor.statuses() == {}


def test_kapacitor_client_lists_every_page_of_server_tasks(
    live: KapacitorClient, kapacitor: KapacitorBackend
) -> None:
    ids = [f"page-{i}_not_fed" for i in range(7)]
    for task_id in [*ids, "other_not_fed"]:
        live.create_task(task_body(task_id, task_id.removesuffix("_not_fed"), "disabled"))
    before = kapacitor.calls[("GET", "tasks")]
    listed = list(live.list_tasks(pattern="page-*", fields=("status",), page_size=3))
    assert [task["id"] for task in listed] == ids  # in id order, no page lost or repeated
    assert {task["status"] for task in listed} == {"disabled"}
    assert kapacitor.calls[("GET", "tasks")] - before == 3  # 3 + 3 + 1


def test_install_template_is_idempotent(live: KapacitorClient, kapacitor: KapacitorBackend) -> None:
    """Created once, left alone when only white space differs, updated when changed;
    the update reaches the tasks already made from the template (which is what moves
    every device to a new alert delivery with one install)."""
    template_id = "install_check_template"
    script = bundled_template(TEMPLATE_ID)
    assert install_template(live, template_id, script) is InstallResult.CREATED
    assert template_id in kapacitor.templates()
    assert install_template(live, template_id, script + "\n") is InstallResult.UNCHANGED
    live.create_task(task_body("tpl-1_not_fed", "tpl-1", template_id=template_id))
    changed = script.replace("var period = 1m", "var period = 20s")
    writes = kapacitor.writes()
    assert install_template(live, template_id, changed, dry_run=True) is InstallResult.UPDATED
    assert kapacitor.writes() == writes
    template = live.get_template(template_id)
    assert template is not None
    assert "var period = 1m" in template.script
    assert install_template(live, template_id, changed) is InstallResult.UPDATED
    template = live.get_template(template_id)
    assert template is not None
    assert "var period = 20s" in template.script
    task = kapacitor.task("tpl-1_not_fed")
    assert "var period = 20s" in task.script
    assert (task.status, task.executing, task.error) == ("enabled", True, "")
    assert install_template(live, template_id, changed) is InstallResult.UNCHANGED


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("10s", True), ("1h30m", True), ("10u", True), ("1w", True), ("10us", False), ("10ns", False)],
)
def test_kapacitor_client_duration_var_units_as_kapacitor_reads_them(
    live: KapacitorClient, value: str, accepted: bool
) -> None:
    """The units a duration var may use: Kapacitor's rule, which the product's
    settings (``influxql_duration_ns``) and the emulator share."""
    body = task_body("dur_not_fed", "dur", "disabled")
    body["vars"]["period"] = {"type": "duration", "value": value}
    if accepted:
        task = live.create_task(body)
        assert task.var_value("period") == influxql_duration_ns(value)
    else:
        with pytest.raises(KapacitorRejectedError):
            live.create_task(body)
        with pytest.raises(ValueError, match="is not a duration"):
            influxql_duration_ns(value)
