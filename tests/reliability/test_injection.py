"""Injection and abuse: hostile device codes, oversized bodies and bulk events, and
what reaches Kapacitor (paths, ids, the InfluxQL the template builds, and the
measurement a real Kapacitor then queries)."""

from __future__ import annotations

import io
import json
import re
import time
import tracemalloc
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app

from deadman import (
    Action,
    DevicesRejectedError,
    InvalidDeviceCodeError,
    KapacitorClient,
    KapacitorSettings,
    LifecycleService,
    LifecycleSettings,
    check_device_code,
)
from deadman.ops.template import bundled_template
from tests.support.apps import CALLBACK_TOKEN, Apps, check_error_body
from tests.support.backends import KapacitorBackend
from tests.support.events import DEFAULT_EVENT_ID, inner_event, wrapped_delivery
from tests.support.paths import TEMPLATE_ID
from tests.support.shared import captured_alerts
from tests.support.strategies import FUZZ, accepted_codes, anything
from tests.support.tasks import SUFFIX

TASKS = "/kapacitor/v1/tasks"
# Built exactly as the template's `var query = ...` line builds it.
QUERY = re.compile(r"""SELECT \* FROM "([^"]*)"\."([^"]*)"\."([^"]*)" WHERE "ty" = 'F'""")
# Characters that end or escape an InfluxQL double-quoted identifier.
IDENTIFIER_BREAKERS = ('"', "\\", "\n")

REFUSED = {
    "double quote": 'dev"1',
    "quote breaking out of the identifier": 'x" WHERE 1=1 OR "a',
    "single quote": "dev'1",
    "backslash": "dev\\1",
    "slash": "dev/1",
    "parent segment": "../tasks",
    "percent-encoded slash": "dev%2F1",
    "space": "dev 1",
    "query string": "dev?x=1",
    "fragment": "dev#1",
    "semicolon": "dev;1",
    "wildcard": "dev*",
    "NUL": "dev\x001",
    "newline": "dev\n1",
    "DEL": "dev\x7f",
    "C1 control": "dev\x85",
    "bidi override": "\u202edev",
    "zero-width joiner": "de\u200dv",
    "no-break space": "dev\u00a01",
    "line separator": "dev\u20281",
    "combining mark (Mn)": "de\u0301v",
    "Arabic-Indic digit (Nd)": "dev\u0663",
    "vulgar fraction (No)": "dev\u00bd",
    "emoji (So)": "dev\U0001f525",
    "private use (Co)": "dev\ue000",
    "unassigned (Cn)": "dev\u0378",
    "lone surrogate (Cs)": "dev\ud800",
    "empty": "",
    "too long": "d" * 129,
}
LETTERS = {
    "Latin with accent (Ll)": "capteur-é",
    "Cyrillic": "датчик-7",
    "Han (Lo)": "传感器_1",
    "Greek capital (Lu)": "Ωmega.2",
    "titlecase (Lt)": "ǅevice",
    "modifier letter (Lm)": "devʰ",
    "dots with the suffix": "..",
    "longest": "é" * 128,
}


def task_paths(apps: Apps, mark: int) -> list[str]:
    return [record.path for record in apps.requests.since(mark)]


def enable(apps: Apps, devices: list[str], event_id: str = DEFAULT_EVENT_ID) -> TestResponse:
    delivery = wrapped_delivery(inner_event("device-enabled", devices, event_id=event_id))
    return apps.post("enable_alert", delivery.headers, delivery.body)


@pytest.mark.parametrize("code", list(REFUSED.values()), ids=list(REFUSED))
def test_injection_hostile_device_code_refused_without_kapacitor_call(
    apps: Apps, code: str
) -> None:
    with pytest.raises(InvalidDeviceCodeError):
        check_device_code(code, 128, SUFFIX)
    calls = apps.emulator.calls
    response = enable(apps, [code])
    assert response.status_code == 422
    body = check_error_body(response)
    assert body["error"] == "devices_rejected"
    assert body["devices"][0]["device"] in (code, code[:79] + "…")
    assert apps.emulator.calls == calls


@pytest.mark.parametrize("code", list(LETTERS.values()), ids=list(LETTERS))
def test_injection_letter_device_code_is_one_exact_task(apps: Apps, code: str) -> None:
    mark = len(apps.requests.records)
    response = enable(apps, [code])
    assert response.status_code == 200, response.data
    task_id = code + SUFFIX
    assert set(task_paths(apps, mark)) == {f"{TASKS}/{task_id}", TASKS}
    task = apps.emulator.task(task_id)
    assert task is not None
    assert task.vars["measurement"].value == code
    assert task.vars["name"].value == task_id


@pytest.mark.parametrize("code", ["capteur-é", "传感器_1", "devʰ"])
def test_injection_letter_device_code_alert_reaches_the_sink(apps: Apps, code: str) -> None:
    """Header values must be ASCII: the subject goes percent-encoded (CloudEvents HTTP)."""
    alert = {**next(a for a in captured_alerts() if a["level"] == "CRITICAL"), "id": code + SUFFIX}
    sent = len(apps.sink.requests("/"))
    response = apps.post(
        "alert_callback",
        {"Authorization": f"Bearer {CALLBACK_TOKEN}", "Content-Type": "application/json"},
        json.dumps(alert).encode(),
    )
    assert response.status_code == 200, response.data
    (request,) = apps.sink.requests("/")[sent:]
    assert unquote(request.ce("subject") or "") == code
    assert unquote(request.ce("partitionkey") or "") == code
    assert json.loads(request.body)["deviceCode"] == code


def test_injection_only_dots_refused_without_suffix(apps: Apps) -> None:
    """'.' and '..' would be rewritten as path segments; with a suffix they are not."""
    for code in (".", ".."):
        with pytest.raises(InvalidDeviceCodeError, match="only of dots"):
            check_device_code(code, 128, "")
    settings = LifecycleSettings(
        kapacitor_url=apps.emulator.listener.url,  # type: ignore[union-attr]
        kapacitor_db="iot",
        task_id_suffix="",
    )
    service = LifecycleService(settings)
    try:
        calls = apps.emulator.calls
        with pytest.raises(DevicesRejectedError) as rejected:
            service.handle(
                inner_event("device-enabled", [".", ".."]),
                {"devicescode": [".", ".."]},
                Action.ENABLE,
            )
        assert [device for device, _ in rejected.value.failures] == [".", ".."]
        assert apps.emulator.calls == calls
    finally:
        service.close()


def test_injection_megabyte_device_code_refused_small_body(apps: Apps) -> None:
    mark = len(apps.requests.records)
    response = enable(apps, ["d" * 1_000_000, "ok-after-huge"])
    assert response.status_code == 422
    body = check_error_body(response)
    assert "longer than 128 characters" in body["devices"][0]["reason"]
    # The good device of the same event is still applied, and only it was asked about.
    assert apps.emulator.task("ok-after-huge" + SUFFIX) is not None
    assert set(task_paths(apps, mark)) == {f"{TASKS}/ok-after-huge{SUFFIX}", TASKS}


def test_injection_error_body_stays_under_1kib_with_multibyte_event_id(apps: Apps) -> None:
    response = enable(apps, ['bad"1', 'bad"2'], event_id="\U0001f525" * 400)
    assert response.status_code == 422
    check_error_body(response)


def test_injection_bulk_of_100k_devices_refused_with_bounded_memory(apps: Apps) -> None:
    devices = [f"bulk-{i:06d}" for i in range(100_000)]
    delivery = wrapped_delivery(inner_event("device-enabled", devices))
    calls = apps.emulator.calls
    tracemalloc.start()
    try:
        response = apps.post("enable_alert", delivery.headers, delivery.body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422
    body = check_error_body(response)
    assert body["error"] == "too_many_devices"
    assert "100000" in body["message"]
    assert "20000" in body["message"]
    assert "MAX_DEVICES_PER_EVENT" in body["message"]
    assert peak < 50 * 1024 * 1024, f"parsing the event peaked at {peak / 2**20:.1f} MiB"
    assert apps.emulator.calls == calls


def test_injection_oversized_alert_body_413_without_reading_it(apps: Apps) -> None:
    sent = len(apps.sink.requests("/"))
    headers = {"Authorization": f"Bearer {CALLBACK_TOKEN}", "Content-Type": "application/json"}
    response = apps.post("alert_callback", headers, b"{" + b" " * 200_000 + b"}")
    assert response.status_code == 413
    check_error_body(response)
    # Without a Content-Length (chunked, as a server passes it on), reading stops
    # just past the limit instead of draining an endless body.
    environ = EnvironBuilder(method="POST", headers=Headers(headers)).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    stream = Endless()
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    body, status, _ = run_wsgi_app(apps.clients["alert_callback"].application, environ)
    assert status.startswith("413")
    assert len(b"".join(body)) < 1024
    assert stream.served < 1_000_000
    assert len(apps.sink.requests("/")) == sent


class Endless(io.RawIOBase):
    """A request body that never ends."""

    served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b"[" * len(buffer)
        self.served += len(buffer)
        return len(buffer)


def template_query(variables: Mapping[str, object]) -> str:
    """The shipped template's ``var query = ...`` line with the task's vars put in:
    its single-quoted strings (where TICKscript unescapes only \\') joined with
    the vars it names, which is all that line does."""
    script = bundled_template(TEMPLATE_ID)
    line = next(line for line in script.splitlines() if line.startswith("var query = "))
    terms = re.findall(r"'((?:[^'\\]|\\.)*)'|(\w+)", line.removeprefix("var query = "))
    return "".join(
        text.replace("\\'", "'") if text else str(variables[name]) for text, name in terms
    )


@FUZZ
@given(code=accepted_codes)
def test_injection_accepted_code_stays_in_its_path_and_its_identifier(
    apps: Apps, code: str
) -> None:
    """Kapacitor is only asked about /kapacitor/v1/tasks/<code><suffix>; the code
    has nothing that ends or escapes an InfluxQL identifier, so the template's
    query, built from the stored vars, holds exactly three quoted identifiers: db,
    rp and the code. (A real Kapacitor querying that measurement: below.)"""
    mark = len(apps.requests.records)
    response = enable(apps, [code])
    assert response.status_code == 200, response.data
    task_id = code + SUFFIX
    assert set(task_paths(apps, mark)) <= {f"{TASKS}/{task_id}", TASKS}
    assert not any(breaker in code for breaker in IDENTIFIER_BREAKERS)
    task = apps.emulator.task(task_id)
    assert task is not None
    query = template_query({name: var.value for name, var in task.vars.items()})
    built = 'SELECT * FROM "iot"."autogen"."' + code + '" WHERE "ty" = \'F\''  # noqa: S608
    assert query == built
    match = QUERY.fullmatch(query)
    assert match is not None
    assert match.groups() == ("iot", "autogen", code)
    assert query.count('"') == 8
    assert query.count("'") == 2


def test_injection_real_kapacitor_queries_the_measurement_named_by_the_code(
    real_backend: KapacitorBackend,
) -> None:
    """On a real Kapacitor and InfluxDB: each accepted code (letters of every kind,
    dots, dashes) ends up as exactly the measurement the task's batch query reads.
    Points written to that measurement are the points the query node counts."""
    real = real_backend.real
    assert real is not None
    codes = ["capteur-é", "传感器_1", "..", "Ωmega.2", "ǅevʰ"]
    real_backend.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    settings = LifecycleSettings(
        kapacitor_url=real_backend.url,
        kapacitor_db="iot",
        # A query every second, so that the test sees one soon.
        task_extra_vars={"period": {"type": "duration", "value": "1s"}},
    )
    service = LifecycleService(settings)
    try:
        service.handle(inner_event("device-enabled", codes), {"devicescode": codes}, Action.ENABLE)
    finally:
        service.close()
    queried: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(queried) < len(codes) and time.monotonic() < deadline:
        # Line protocol escapes only commas and spaces in a measurement name.
        real.write([f"{code},ty=F value=1" for code in codes])
        time.sleep(0.25)
        for code in codes:
            points = _points_queried(real_backend, code + SUFFIX)
            if points:
                queried[code] = points
    assert sorted(queried) == sorted(codes), f"points queried per code: {queried}"


def _points_queried(backend: KapacitorBackend, task_id: str) -> int:
    """What the task's query node has read so far (Kapacitor's node stats)."""
    response = httpx.get(f"{backend.direct_url}{TASKS}/{quote(task_id, safe='')}", timeout=10)
    assert response.status_code == 200, response.text
    task = response.json()
    assert (task["executing"], task["error"]) == (True, ""), task["error"]
    nodes = task["stats"]["node-stats"]
    return sum(
        int(stats["points_queried"]) for name, stats in nodes.items() if name.startswith("query")
    )


@FUZZ
@given(task_id=st.text(anything, min_size=1).filter(lambda t: set(t) != {"."}))
def test_injection_client_percent_encodes_any_task_id_into_one_segment(task_id: str) -> None:
    """Defence in depth: whatever id reaches the client, each call stays one path
    segment under /kapacitor/v1/tasks/ (ids are validated before, see above)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(404, json={"error": "no task exists"})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"id": task_id, "status": "disabled"})

    client = KapacitorClient(
        KapacitorSettings(kapacitor_url="http://kapacitor:9092"),
        transport=httpx.MockTransport(answer),
    )
    try:
        client.get_task(task_id)
        client.update_task(task_id, {"status": "disabled"})
        client.delete_task(task_id)
    except UnicodeEncodeError:
        # A lone surrogate cannot be put in a URL at all: nothing was sent.
        assert seen == []
        return
    finally:
        client.close()
    assert [r.method for r in seen] == ["GET", "PATCH", "DELETE"]
    encoded = quote(task_id, safe="")
    for request in seen:
        raw = request.url.raw_path.decode("ascii").split("?")[0]
        assert raw == f"{TASKS}/{encoded}"
        assert unquote(raw[len(TASKS) + 1 :]) == task_id
        assert request.url.host == "kapacitor"
