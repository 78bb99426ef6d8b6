"""Fuzzing every function with hypothesis, in process, through functions-framework.

The lifecycle functions talk to a served Kapacitor emulator that stays available,
so no answer may be a 5xx; alert_callback sends to a receiver answering 202. For
each request: a 2xx, or a 4xx with a JSON body under 1 KiB naming an ``error`` and
a ``message``; and Kapacitor is never asked about a device code the rules refuse.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from deadman import InvalidDeviceCodeError, check_device_code
from tests.support.apps import CALLBACK_TOKEN, LIFECYCLE_TARGETS, Apps, check_error_body
from tests.support.events import inner_event, wrapped_delivery
from tests.support.strategies import (
    FUZZ,
    MAX_CODE,
    Delivery,
    accepted,
    alert_bodies,
    anything,
    codes,
    header_text,
    lifecycle_deliveries,
)
from tests.support.tasks import SUFFIX

TASKS = "/kapacitor/v1/tasks"
EVENT_TYPES = {
    "create_alert": "device-created",
    "enable_alert": "device-enabled",
    "disable_alert": "device-disabled",
    "delete_alert": "device-deleted",
}


def requested_task_ids(apps: Apps, mark: int) -> list[str]:
    """Task ids in the paths Kapacitor was asked about since ``mark``."""
    ids = []
    for record in apps.requests.since(mark):
        assert record.path == TASKS or record.path.startswith(TASKS + "/"), record.path
        if record.path != TASKS:
            ids.append(unquote(record.path[len(TASKS) + 1 :]))
    return ids


def check_only_accepted_codes_reached_kapacitor(apps: Apps, mark: int) -> None:
    for task_id in requested_task_ids(apps, mark):
        assert task_id.endswith(SUFFIX)
        assert accepted(task_id[: -len(SUFFIX)]), task_id


@FUZZ
@given(st.text(anything, max_size=MAX_CODE + 8))
def test_fuzz_check_device_code_matches_the_spec_rule(code: str) -> None:
    try:
        check_device_code(code, MAX_CODE, SUFFIX)
    except InvalidDeviceCodeError:
        assert not accepted(code), code
    else:
        assert accepted(code), code


@FUZZ
@given(target=st.sampled_from(LIFECYCLE_TARGETS), delivery=lifecycle_deliveries())
# Found by this test: errors of functions-framework's own request parsing were 503s.
@example(target="enable_alert", delivery=Delivery({}, b"\x80", ()))
@example(target="enable_alert", delivery=Delivery({"Content-Type": "application/json"}, b"[1]", ()))
def test_fuzz_lifecycle_arbitrary_deliveries_never_5xx(
    apps: Apps, target: str, delivery: Delivery
) -> None:
    mark = len(apps.requests.records)
    calls = apps.emulator.calls
    response = apps.post(target, delivery.headers, delivery.body)
    event(f"status {response.status_code}")
    assert response.status_code in (200, 400, 422), response.data[:300]
    if response.status_code != 200:
        check_error_body(response)
    check_only_accepted_codes_reached_kapacitor(apps, mark)
    if not any(accepted(code) for code in delivery.devices):
        assert apps.emulator.calls == calls


@FUZZ
@given(target=st.sampled_from(LIFECYCLE_TARGETS), code=codes, event_id=st.text(anything))
def test_fuzz_lifecycle_device_code_accepted_or_422_without_kapacitor_call(
    apps: Apps, target: str, code: str, event_id: str
) -> None:
    inner = inner_event(EVENT_TYPES[target], [code], event_id=event_id or "x")
    delivery = wrapped_delivery(inner)
    code = json.loads(json.dumps(code))  # as the function reads it (surrogate pairs joined)
    mark = len(apps.requests.records)
    calls = apps.emulator.calls
    response = apps.post(target, delivery.headers, delivery.body)
    event(f"status {response.status_code}")
    if accepted(code):
        assert response.status_code == 200, response.data[:300]
        assert set(requested_task_ids(apps, mark)) == {code + SUFFIX}
        if target in ("create_alert", "enable_alert"):
            assert apps.emulator.task(code + SUFFIX) is not None
        return
    assert response.status_code == 422
    body = check_error_body(response)
    assert body["error"] == "devices_rejected"
    assert apps.emulator.calls == calls
    if len(code) <= 60:
        assert [d["device"] for d in body.get("devices", [])] == [code]


@FUZZ
@given(
    body=alert_bodies(),
    content_type=st.one_of(
        st.sampled_from(["application/json", "application/cloudevents+json", "text/plain", ""]),
        header_text,
    ),
    ce_headers=st.one_of(
        st.just({}),
        st.just({}),
        st.dictionaries(
            st.sampled_from(["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time"]),
            st.one_of(st.sampled_from(["1.0", "0.3", "dev.knative.kafka.event"]), header_text),
            max_size=4,
        ),
    ),
    authorization=st.sampled_from(
        [f"Bearer {CALLBACK_TOKEN}"] * 5
        + [f"bearer {CALLBACK_TOKEN}", None, "Bearer", "Bearer x", CALLBACK_TOKEN]
    ),
)
def test_fuzz_alert_callback_arbitrary_posts_never_5xx(
    apps: Apps,
    body: bytes,
    content_type: str,
    ce_headers: dict[str, str],
    authorization: str | None,
) -> None:
    headers = {"Content-Type": content_type, **ce_headers}
    if authorization is not None:
        headers["Authorization"] = authorization
    sent = len(apps.sink.requests("/"))
    response = apps.post("alert_callback", headers, body)
    event(f"status {response.status_code}")
    authorized = authorization is not None and authorization.endswith(" " + CALLBACK_TOKEN)
    if not authorized:
        assert response.status_code == 401
    assert response.status_code in (200, 400, 401, 413), response.data[:300]
    if response.status_code != 200:
        check_error_body(response)
        assert len(apps.sink.requests("/")) == sent
        return
    answer = json.loads(response.data)
    if answer["status"] == "ignored":
        assert len(apps.sink.requests("/")) == sent
        return
    assert answer["status"] == "published"
    published = apps.sink.requests("/")[sent:]
    assert [request.ce("id") for request in published] == [answer["id"]]


@pytest.mark.parametrize("target", [*LIFECYCLE_TARGETS, "alert_callback"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_fuzz_every_function_other_methods_are_4xx_json(
    apps: Apps, target: str, method: str
) -> None:
    calls = apps.emulator.calls
    response = apps.clients[target].open("/", method=method, data=b"{}")
    assert 400 <= response.status_code < 500
    check_error_body(response)
    assert apps.emulator.calls == calls
