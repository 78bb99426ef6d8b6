"""Fixtures of the reliability and security tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from flask.testing import FlaskClient

from deadman import runtime
from deadman_local.stack import LocalStack
from tests.support.apps import CALLBACK_TOKEN, LIFECYCLE_TARGETS, Apps, create_app
from tests.support.emulator import RequestLog, served_emulator
from tests.support.logs import LogCapture
from tests.support.loop import Loop
from tests.support.receiver import serve_scripted


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
        clients: dict[str, FlaskClient] = {}
        for target in (*LIFECYCLE_TARGETS, "alert_callback"):
            env.setenv("FUNCTION_TARGET", target)
            clients[target] = create_app(target).test_client()
        try:
            yield Apps(clients, running.emulator, requests, sink)
        finally:
            runtime.shutdown()


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    logger = logging.getLogger("deadman")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


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
    loop = Loop(stack, producer)
    yield loop
    loop.emulator.clear_faults()
    loop.emulator.set_capacity(0.0, None)
    loop.listener.resume_listening()
