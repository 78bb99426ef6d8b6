"""Every Kapacitor call ends by its deadline; a wedged Kapacitor is named as such.

Against the emulator served on a real socket: a dribbled answer (a byte at a
time, which resets any per-read timeout) and the start/stop deadlock (task calls
hang while /ping answers, kapacitor#1829).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deadman import WEDGED_MESSAGE, KapacitorClient, KapacitorSettings, KapacitorUnavailableError
from deadman.ops.cli import main
from deadman.ops.health import KapacitorState, check_kapacitor
from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator, serve

TIMEOUT = 1.0


@pytest.fixture
def served() -> Iterator[RunningEmulator]:
    with serve(KapacitorEmulator()) as running:
        yield running


@pytest.fixture
def client(served: RunningEmulator) -> Iterator[KapacitorClient]:
    settings = KapacitorSettings(kapacitor_url=served.url, kapacitor_timeout_seconds=TIMEOUT)
    client = KapacitorClient(settings)
    yield client
    client.close()


@pytest.fixture
def kapacitor_logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("deadman.kapacitor")
    handler = Keep(logging.INFO)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_kapacitor_client_dribbled_answer_ends_at_the_deadline(
    served: RunningEmulator, client: KapacitorClient
) -> None:
    interval = 0.05
    answer = httpx.get(f"{served.url}/kapacitor/v1/tasks/missing").content
    # The whole answer, head included, would take this long byte by byte.
    assert (len(answer) + 150) * interval > 10 * TIMEOUT
    served.emulator.dribble(interval, path="/kapacitor/v1/tasks")
    started = time.monotonic()
    with pytest.raises(KapacitorUnavailableError) as raised:
        client.get_task("missing")
    assert time.monotonic() - started < 2 * TIMEOUT + 1
    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)
    served.emulator.clear_faults()
    assert client.get_task("missing") is None  # the client is usable again


def test_kapacitor_client_wedged_logs_the_failure_mode_once(
    served: RunningEmulator, client: KapacitorClient, kapacitor_logs: list[logging.LogRecord]
) -> None:
    served.emulator.wedge()
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(KapacitorUnavailableError):
            client.get_task("d_not_fed")
        assert time.monotonic() - started < 2 * TIMEOUT + 3  # the call, then a quick ping
    wedged = [r for r in kapacitor_logs if r.getMessage() == WEDGED_MESSAGE]
    assert len(wedged) == 1
    assert wedged[0].levelno == logging.ERROR
    fields: Any = getattr(wedged[0], "fields", {})
    assert fields["failure"] == "kapacitor_wedged"
    assert fields["path"] == "/tasks/d_not_fed"


def test_kapacitor_client_down_is_not_called_wedged(
    served: RunningEmulator, client: KapacitorClient, kapacitor_logs: list[logging.LogRecord]
) -> None:
    served.emulator.add_latency(5, path="/kapacitor/v1")  # ping and task calls alike
    with pytest.raises(KapacitorUnavailableError):
        client.get_task("d_not_fed")
    assert not [r for r in kapacitor_logs if r.getMessage() == WEDGED_MESSAGE]


def test_deadline_transport_refused_connection_is_a_connect_error() -> None:
    settings = KapacitorSettings(kapacitor_url="http://127.0.0.1:9", kapacitor_timeout_seconds=2)
    client = KapacitorClient(settings)
    with pytest.raises(KapacitorUnavailableError) as raised:
        client.ping()
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    client.close()


def test_check_kapacitor_states(served: RunningEmulator, client: KapacitorClient) -> None:
    healthy = check_kapacitor(client, deadline=TIMEOUT)
    assert (healthy.state, healthy.exit_code, healthy.version) == (
        KapacitorState.HEALTHY,
        0,
        "1.7.7-emulator",
    )
    fault = served.emulator.wedge()
    started = time.monotonic()
    wedged = check_kapacitor(client, deadline=TIMEOUT)
    assert time.monotonic() - started < 2 * TIMEOUT + 3
    assert (wedged.state, wedged.exit_code) == (KapacitorState.WEDGED, 1)
    assert "kapacitor#1829" in wedged.detail
    served.emulator.faults.remove(fault)
    served.stop_listening()
    down = check_kapacitor(client, deadline=TIMEOUT)
    assert (down.state, down.exit_code) == (KapacitorState.DOWN, 1)


def test_deadmanctl_kapacitor_check_exit_codes(
    served: RunningEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAPACITOR_URL", served.url)
    assert main(["kapacitor", "check", "--timeout", "1"]) == 0
    assert "healthy" in capsys.readouterr().out
    served.emulator.wedge()
    assert main(["kapacitor", "check", "--timeout", "1", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["state"], report["exit_code"]) == ("wedged", 1)
    monkeypatch.setenv("KAPACITOR_URL", "not a url")
    assert main(["kapacitor", "check"]) == 2
