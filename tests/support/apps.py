"""The functions as functions-framework builds them from functions/main.py, in this
process, and what their answers must look like."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from deadman import LIFECYCLE_TYPES
from deadman_local.kapacitor_emulator import KapacitorEmulator
from tests.support.emulator import RequestLog
from tests.support.paths import FUNCTIONS_SOURCE, ROOT
from tests.support.receiver import ScriptedReceiver

# The ``function_client`` fixture: a target and its environment in, a client out.
AppFactory = Callable[..., FlaskClient]

LIFECYCLE_TARGETS = tuple(row.target for row in LIFECYCLE_TYPES)
CALLBACK_TOKEN = "fuzz-callback-token-5d1e"


def create_app(target: str, source: Path = FUNCTIONS_SOURCE) -> Flask:
    """functions-framework's app for ``target`` of ``source``, as a worker builds it."""
    app: Flask = functions_framework.create_app(target, str(source))  # type: ignore[no-untyped-call]
    return app


def create_app_in_fresh_interpreter(
    target: str,
    then: str = "",
    python_options: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``create_app(target)`` in a new interpreter with a minimal environment,
    then the code ``then``; the finished process, its output captured as text."""
    probe = (
        "import sys, functions_framework\n"
        "functions_framework.create_app(sys.argv[1], sys.argv[2])\n" + then
    )
    base = {
        "PATH": "/usr/bin:/bin",
        "FUNCTION_TARGET": target,
        "KAPACITOR_DB": "iot",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    }
    return subprocess.run(
        [sys.executable, *python_options, "-c", probe, target, str(FUNCTIONS_SOURCE)],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def json_of(response: TestResponse) -> Any:
    """A response's JSON body (``response.json``), whatever its shape."""
    return response.json


@dataclass
class Apps:
    """The five functions as functions-framework builds them, in this process, with
    an emulator (counting its calls) and a K_SINK receiver answering 202."""

    clients: dict[str, FlaskClient]
    emulator: KapacitorEmulator
    requests: RequestLog
    sink: ScriptedReceiver

    def post(self, target: str, headers: dict[str, str], body: bytes) -> TestResponse:
        return self.clients[target].post("/", headers=headers, data=body)


def check_error_body(response: TestResponse) -> dict[str, Any]:
    """A rejection: JSON under 1 KiB with an ``error`` code and a ``message``."""
    assert response.mimetype == "application/json", response.data[:200]
    assert len(response.data) < 1024, len(response.data)
    body = json.loads(response.data)
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str)
    assert body["error"]
    assert isinstance(body.get("message"), str)
    assert body["message"]
    return body
