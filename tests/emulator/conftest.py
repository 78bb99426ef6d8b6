"""Fixtures for the Kapacitor API emulator tests."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator, serve
from tests.support.emulator import (
    DEADMAN_SCRIPT,
    DEADMAN_TEMPLATE_ID,
    AlertReceiver,
    serve_alert_receiver,
)
from tests.support.shared import load_shared_json
from tests.support.tasks import task_body


@pytest.fixture(scope="session")
def shared_json() -> Callable[[str], Any]:
    """Load a JSON file of the shared captures (skip, or fail under CI, if missing)."""
    return load_shared_json


@pytest.fixture
def deadman_script() -> str:
    return DEADMAN_SCRIPT


@pytest.fixture
def make_task_body() -> Callable[..., dict[str, Any]]:
    return functools.partial(task_body, template_id=DEADMAN_TEMPLATE_ID)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningEmulator]:
    """One served emulator per module; ``emulator`` resets it for each test."""
    with serve(KapacitorEmulator()) as served:
        yield served


@pytest.fixture
def emulator(running: RunningEmulator) -> KapacitorEmulator:
    running.emulator.reset()
    running.resume_listening()
    return running.emulator


@pytest.fixture
def api(running: RunningEmulator, emulator: KapacitorEmulator) -> Iterator[httpx.Client]:
    """An HTTP client on ``/kapacitor/v1`` of the (freshly reset) served emulator."""
    with httpx.Client(base_url=f"{running.url}/kapacitor/v1", timeout=10) as client:
        yield client


@pytest.fixture
def seeded(emulator: KapacitorEmulator) -> KapacitorEmulator:
    """The emulator with the test deadman template installed."""
    emulator.add_template(DEADMAN_TEMPLATE_ID, DEADMAN_SCRIPT)
    return emulator


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    """A receiver of the alerts the emulator posts, on a free port."""
    with serve_alert_receiver() as state:
        yield state
