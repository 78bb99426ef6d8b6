"""Response helpers: every answer carries Kapacitor's content type, version and
request-id headers; error bodies are ``{"error": m, "message": m}``, or
``{"error": m}`` when answering as Kapacitor 1.5 (see ``_versions``)."""

from __future__ import annotations

import uuid

from werkzeug.wrappers import Response

from ._gojson import JSONValue, marshal
from ._versions import api_version

__all__ = ["CONTENT_TYPE", "empty_response", "error_response", "json_response", "raw_response"]

CONTENT_TYPE = "application/json; charset=utf-8"


def raw_response(status: int, body: bytes, version: str) -> Response:
    response = Response(body, status=status, content_type=CONTENT_TYPE)
    response.headers["X-Kapacitor-Version"] = version
    # Kapacitor sends a time-based UUID (v1) as the request id.
    response.headers["Request-Id"] = str(uuid.uuid1())
    return response


def json_response(status: int, payload: JSONValue, version: str, indent: bool = True) -> Response:
    return raw_response(status, marshal(payload, indent=indent), version)


def error_response(status: int, message: str, version: str, indent: bool = True) -> Response:
    # Handler errors are pretty-printed; authentication errors are compact.
    body: dict[str, JSONValue] = {"error": message}
    if api_version(version).error_has_message:
        body["message"] = message
    return json_response(status, body, version, indent)


def empty_response(status: int, version: str) -> Response:
    return raw_response(status, b"", version)
