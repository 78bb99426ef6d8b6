"""Answers: every one carries Kapacitor's content type, version and request-id
headers; error bodies are ``{"error": m, "message": m}``, or ``{"error": m}`` when
answering as Kapacitor 1.5 (see ``_versions``). Handlers raise ``ApiError``."""

from __future__ import annotations

import uuid

from werkzeug.wrappers import Response

from ._gofmt import JSONValue, marshal
from ._versions import error_has_message

__all__ = ["ApiError", "empty_response", "error_response", "json_response"]


class ApiError(Exception):
    """An HTTP error answered with Kapacitor's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _response(status: int, body: bytes, version: str) -> Response:
    response = Response(body, status=status, content_type="application/json; charset=utf-8")
    response.headers["X-Kapacitor-Version"] = version
    # Kapacitor sends a time-based UUID (v1) as the request id.
    response.headers["Request-Id"] = str(uuid.uuid1())
    return response


def json_response(status: int, payload: JSONValue, version: str, indent: bool = True) -> Response:
    return _response(status, marshal(payload, indent=indent), version)


def error_response(status: int, message: str, version: str, indent: bool = True) -> Response:
    # Handler errors are pretty-printed; authentication errors are compact.
    body: dict[str, JSONValue] = {"error": message}
    if error_has_message(version):
        body["message"] = message
    return json_response(status, body, version, indent)


def empty_response(status: int, version: str) -> Response:
    return _response(status, b"", version)
