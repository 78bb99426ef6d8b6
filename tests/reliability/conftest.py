"""Fixtures and helpers of the reliability and security tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import functions_framework
import httpx
import pytest
from confluent_kafka import Producer
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from werkzeug.test import TestResponse

from deadman import JsonFormatter, runtime
from deadman.ops.template import bundled_template
from deadman_local.functions import FUNCTIONS_SOURCE
from deadman_local.kapacitor_emulator import (
    HttpPostEndpoint,
    KapacitorEmulator,
    RequestRecord,
    RunningEmulator,
    serve,
)
from deadman_local.stack import LocalStack
from tests.support.receiver import ScriptedReceiver, serve_scripted
from tests.support.tasks import task_body

if TYPE_CHECKING:
    from tests.reliability.loop import Loop

pytest.register_assert_rewrite("tests.reliability.loop", "tests.reliability.strategies")

TEMPLATE_ID = "measurement_series_not_fed_template"
SUFFIX = "_not_fed"

# Derandomized so a run is reproducible; deadline off because every example goes
# through the functions-framework app and an emulator over loopback HTTP.
settings.register_profile(
    "reliability",
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("reliability")


@contextmanager
def served_emulator(
    endpoints: Iterable[HttpPostEndpoint] = (), **options: Any
) -> Iterator[RunningEmulator]:
    """The emulator with the project's template, served on a free port."""
    emulator = KapacitorEmulator(endpoints=endpoints, **options)
    emulator.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    with serve(emulator) as running:
        yield running


def create_task(emulator: KapacitorEmulator, device: str, status: str = "enabled") -> None:
    """Create a device's task straight through the emulator's API."""
    assert emulator.listener is not None
    url = f"{emulator.listener.url}/kapacitor/v1/tasks"  # type: ignore[attr-defined]
    body = task_body(device + SUFFIX, device, status)
    response = httpx.post(url, json=body, timeout=10)
    assert response.status_code == 200, response.text


class RequestLog:
    """Collects the emulator's RequestRecords (its request_log hook)."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def __call__(self, record: RequestRecord) -> None:
        self.records.append(record)

    def since(self, mark: int) -> list[RequestRecord]:
        return self.records[mark:]


LIFECYCLE_TARGETS = ("create_alert", "enable_alert", "disable_alert", "delete_alert")
CALLBACK_TOKEN = "fuzz-callback-token-5d1e"


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


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    requests = RequestLog()
    with (
        served_emulator(request_log=requests) as running,
        serve_scripted() as sink,
        pytest.MonkeyPatch.context() as env,
    ):
        sink.default = 202
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "SECRETS_DIR", "KAPACITOR_USERNAME"):
            env.delenv(name, raising=False)
        env.setenv("KAPACITOR_URL", running.url)
        env.setenv("KAPACITOR_DB", "iot")
        env.setenv("K_SINK", sink.url)
        env.setenv("ALERT_CALLBACK_TOKEN", CALLBACK_TOKEN)
        env.setenv("SINK_TIMEOUT_SECONDS", "5")
        clients = {}
        for target in (*LIFECYCLE_TARGETS, "alert_callback"):
            env.setenv("FUNCTION_TARGET", target)
            app = functions_framework.create_app(target, str(FUNCTIONS_SOURCE))
            clients[target] = app.test_client()
        try:
            yield Apps(clients, running.emulator, requests, sink)
        finally:
            runtime.shutdown()


class LogCapture(logging.Handler):
    """The deadman loggers' JSON lines, as the functions write them to stdout."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    logger = logging.getLogger("deadman")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


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


@pytest.fixture(scope="module")
def producer(stack: LocalStack) -> Iterator[Producer]:
    """A producer on the module's stack (each stack module defines ``stack``)."""
    assert stack.state is not None
    producer = Producer({"bootstrap.servers": stack.state.bootstrap_servers})
    yield producer
    producer.flush(10)


@pytest.fixture
def loop(stack: LocalStack, producer: Producer) -> Iterator[Loop]:
    """The module's stack, with every injected fault undone after each test."""
    from tests.reliability.loop import Loop  # loop.py imports this module

    loop = Loop(stack, producer)
    yield loop
    loop.emulator.clear_faults()
    loop.emulator.set_capacity(0.0, None)
    loop.listener.resume_listening()
