"""A lifecycle function under gunicorn when Kapacitor dribbles or wedges.

One worker thread (``THREADS=1``), so "the worker is free again" is proved by the
next request being served. Emulator only: a real Kapacitor cannot be made to dribble
or wedge on demand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deadman import WEDGED_MESSAGE
from deadman_local.functions import FunctionProcess
from tests.support.backends import KapacitorBackend
from tests.support.events import inner_event, wrapped_delivery
from tests.support.paths import FUNCTIONS_SOURCE

TIMEOUT = 1.0


@pytest.fixture
def enable_alert(emulated_kapacitor: KapacitorBackend, tmp_path: Path) -> Iterator[FunctionProcess]:
    env = {
        "KAPACITOR_URL": emulated_kapacitor.url,
        "KAPACITOR_DB": "iot",
        "KAPACITOR_TIMEOUT_SECONDS": str(TIMEOUT),
        "THREADS": "1",
    }
    with FunctionProcess(
        "enable_alert", env=env, log_path=tmp_path / "f.log", source=FUNCTIONS_SOURCE
    ) as function:
        yield function


def enable(function: FunctionProcess, device: str) -> tuple[httpx.Response, float]:
    delivery = wrapped_delivery(inner_event("device-enabled", [device]))
    started = time.monotonic()
    response = httpx.post(function.url, headers=delivery.headers, content=delivery.body, timeout=60)
    return response, time.monotonic() - started


def test_enable_alert_dribbling_kapacitor_answers_503_by_the_deadline(
    emulated_kapacitor: KapacitorBackend, enable_alert: FunctionProcess
) -> None:
    """Emulator only: a real server cannot be made to send its answer a byte at a time."""
    kapacitor = emulated_kapacitor
    assert kapacitor.emulator is not None
    kapacitor.emulator.dribble(0.05, path="/kapacitor/v1/tasks")
    response, took = enable(enable_alert, "slow-1")
    assert response.status_code == 503
    assert response.json()["error"] == "devices_unavailable"
    assert took < 2 * TIMEOUT + 2
    kapacitor.emulator.clear_faults()
    again, _ = enable(enable_alert, "slow-1")
    assert again.status_code == 200
    assert kapacitor.task("slow-1_not_fed").status == "enabled"


def test_enable_alert_wedged_kapacitor_answers_503_and_names_the_wedge(
    emulated_kapacitor: KapacitorBackend, enable_alert: FunctionProcess, tmp_path: Path
) -> None:
    """Emulator only: a real server cannot be made to accept calls and never answer
    (kapacitor#1829 wedges it, but not on demand nor for one test)."""
    kapacitor = emulated_kapacitor
    assert kapacitor.emulator is not None
    fault = kapacitor.emulator.wedge()
    response, took = enable(enable_alert, "stuck-1")
    assert response.status_code == 503
    assert took < 2 * TIMEOUT + 4  # the call, then a quick ping to tell wedged from down
    kapacitor.emulator.faults.remove(fault)
    assert enable(enable_alert, "stuck-1")[0].status_code == 200
    lines = [
        json.loads(line)
        for line in (tmp_path / "f.log").read_text().splitlines()
        if line.startswith("{")
    ]
    wedged = [line for line in lines if line.get("message") == WEDGED_MESSAGE]
    assert len(wedged) == 1
    assert (wedged[0]["level"], wedged[0]["failure"]) == ("error", "kapacitor_wedged")
