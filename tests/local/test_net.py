"""The local stack's own choices: ports never handed out twice and held by the right
process, and the task period it adds to the functions' vars."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from subprocess import PIPE

import pytest

from deadman_local.functions import FunctionProcess
from deadman_local.net import free_port, listens_on
from deadman_local.stack import LocalStack
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
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    try:
        assert listens_on(other.pid, port) is False
    finally:
        other.communicate(b"")


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


def test_function_process_waits_for_a_predecessor_to_free_its_port(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    if listens_on(os.getpid(), port) is None:
        pytest.skip("no /proc here")
    function = FunctionProcess(
        "create_alert", port=port, env={"KAPACITOR_DB": "iot"}, source=FUNCTIONS_SOURCE
    )
    # The holder lets go while the function starts, as one killed before it does;
    # gunicorn binds at its next attempt, and only then is the function started.
    threading.Timer(0.5, listener.close).start()
    with function:
        assert function.pid is not None
        assert listens_on(function.pid, port) is True


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, {"period": {"type": "duration", "value": "10s"}}),
        ("", {"period": {"type": "duration", "value": "10s"}}),
        ("{}", {"period": {"type": "duration", "value": "10s"}}),
        (
            '{"threshold": {"type": "float", "value": 1.0}}',
            {
                "threshold": {"type": "float", "value": 1.0},
                "period": {"type": "duration", "value": "10s"},
            },
        ),
        ('{"period": {"type": "duration", "value": "30s"}}', None),
        ("not json", None),
    ],
)
def test_local_stack_task_period_joins_the_vars_set_by_hand(
    given: str | None, expected: dict[str, object] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASK_EXTRA_VARS", raising=False)
    env = {} if given is None else {"TASK_EXTRA_VARS": given}
    added = LocalStack(function_env=env)._task_period_vars()
    if expected is None:
        assert added == {}  # the vars set by hand reach the functions unchanged
    else:
        assert json.loads(added["TASK_EXTRA_VARS"]) == expected
