"""The library behaviours the product works around (deadman._framework): each test
fails when the library changes, so that the workaround is reviewed with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudevents.http import CloudEvent, from_http
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from deadman import status_for
from tests.support.apps import create_app

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


def test_framework_sdk_invents_a_time_for_events_without_one() -> None:
    """Why the functions look at the request for `time` (order safety)."""
    assert "time" in CloudEvent({"type": "t", "source": "/s"}).get_attributes()


def test_framework_sdk_does_not_percent_decode_header_values() -> None:
    """Why the functions decode binary-mode header values themselves."""
    event = from_http({**BINARY, "ce-subject": "Ger%C3%A4t"}, b"")
    assert event["subject"] == "Ger%C3%A4t"


def _probe_source(tmp_path: Path) -> Path:
    source = tmp_path / "probe.py"
    source.write_text(
        "import functions_framework\n\n"
        "@functions_framework.cloud_event\n"
        "def probe(event):\n"
        "    return None\n"
    )
    return source


@pytest.mark.parametrize(
    ("headers", "body", "kind"),
    [
        ({"Content-Type": "application/cloudevents+json"}, b"[1, 2]", TypeError),
        ({"Content-Type": "application/json"}, b"[1, 2]", TypeError),
        ({"Content-Type": "application/json"}, b"\xff", UnicodeDecodeError),
    ],
)
def test_framework_request_errors_escape_unwrapped(
    tmp_path: Path,
    headers: dict[str, str],
    body: bytes,
    kind: type[Exception],
) -> None:
    """Why the status table walks the traceback: these are the sender's fault (400)."""
    app = create_app("probe", _probe_source(tmp_path))
    caught: list[BaseException] = []

    @app.errorhandler(Exception)
    def keep(error: Exception) -> tuple[str, int]:
        caught.append(error)
        return "", 599

    app.test_client().post("/", headers=headers, data=body)
    [error] = caught
    assert type(error) is kind
    assert status_for(error) == (400, "not_a_cloudevent")
    # The same error raised anywhere else is a crash of ours: 503, retried.
    assert status_for(TypeError("elsewhere")) == (503, "internal_error")


def test_framework_werkzeug_serves_get_data_from_cached_data() -> None:
    """Why an oversized alert body is never read whole: get_data() returns what
    the callback left in werkzeug's private _cached_data."""
    request = Request(EnvironBuilder(method="POST", data=b"x" * 100).get_environ())
    request._cached_data = request.stream.read(10)
    assert request.get_data() == b"x" * 10
