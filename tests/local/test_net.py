"""Ports of the local stack: never the same one twice, and held by the right process."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from deadman_local.functions import FunctionProcess
from deadman_local.net import free_port, listens_on
from tests.support.paths import FUNCTIONS_SOURCE


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_listens_on_own_listener_is_true(listener: socket.socket) -> None:
    if listens_on(os.getpid(), listener.getsockname()[1]) is None:
        pytest.skip("no /proc here")
    assert listens_on(os.getpid(), listener.getsockname()[1]) is True


def test_listens_on_port_of_another_process_is_false(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    if listens_on(os.getpid(), port) is None:
        pytest.skip("no /proc here")
    assert listens_on(1, port) is False


def test_function_process_port_taken_by_another_listener_refuses_to_start(
    listener: socket.socket,
) -> None:
    if listens_on(os.getpid(), listener.getsockname()[1]) is None:
        pytest.skip("no /proc here")
    function = FunctionProcess(
        "create_alert",
        port=listener.getsockname()[1],
        env={"KAPACITOR_DB": "iot"},
        source=FUNCTIONS_SOURCE,
    )
    with pytest.raises(RuntimeError, match="held by another process"):
        function.start()
    assert not function.alive
