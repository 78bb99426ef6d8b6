"""Where the product works around functions-framework, Flask, werkzeug and the
CloudEvents SDK. Each workaround has a test in ``tests/unit/test_framework.py``
that fails when the library's behaviour it relies on changes.

* The CloudEvents SDK gives an event without ``time`` the time it was read, and
  order safety must never take a delivery's receive time for the event's: the
  request itself says whether ``time`` was sent.
* Neither the SDK nor functions-framework percent-decodes binary-mode header
  values (HTTP binding 3.1.3.2, ``deadman.binding``): the functions do it.
* The SDK's ``from_http`` and functions-framework's conversion of other bodies
  let some errors of the request escape unwrapped (``UnicodeDecodeError`` for a
  body that is not UTF-8, ``TypeError`` for a JSON list): the traceback tells
  that the request, not the function, was at fault.
* functions-framework drains the request body after the function returned; an
  oversized alert body is read only up to its limit, and werkzeug's private
  ``_cached_data`` is given what was read so that it is not read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import has_request_context, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from .binding import decode_header_value, is_http_binary, is_structured

__all__ = [
    "delivered_attributes",
    "incoming_traceparent",
    "raised_reading_a_cloudevent",
    "read_limited_body",
]


def delivered_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes the sender really sent, decoded from binary-mode headers."""
    found = dict(attributes)
    if not has_request_context():
        return found
    if not _time_was_sent():
        found.pop("time", None)
    if is_http_binary(request.headers):
        found = {
            name: decode_header_value(value) if isinstance(value, str) else value
            for name, value in found.items()
        }
    return found


def incoming_traceparent() -> str | None:
    """The W3C ``traceparent`` header the caller (Knative's data plane) sent, if any."""
    if not has_request_context():
        return None
    return request.headers.get("traceparent") or None


def _time_was_sent() -> bool:
    if "ce-time" in request.headers:
        return True
    if is_structured(request.mimetype):
        body = request.get_json(silent=True, force=True)
        return isinstance(body, dict) and "time" in body
    return False


def raised_reading_a_cloudevent(error: BaseException) -> bool:
    """Whether ``error`` escaped from reading the request as a CloudEvent."""
    from cloudevents.exceptions import GenericException as CloudEventsError

    from ._exceptions import DeadmanError

    if isinstance(error, HTTPException | DeadmanError | CloudEventsError):
        return False
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        module = str(frame.f_globals.get("__name__", ""))
        if module == "functions_framework.event_conversion" or (
            module.startswith("cloudevents.") and frame.f_code.co_name == "from_http"
        ):
            return True
        trace = trace.tb_next
    return False


def read_limited_body(incoming: Request, limit: int) -> tuple[bytes, bool]:
    """The body read no further than ``limit`` bytes, and whether it was longer."""
    declared = incoming.content_length
    too_long = declared is not None and declared > limit
    body = b"" if too_long else incoming.stream.read(limit + 1)
    incoming._cached_data = body[:limit]
    return body, too_long or len(body) > limit
