"""Fixtures of the whole suite: each delivery form of a lifecycle event, the broker,
the Kapacitor emulator as each release users run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deadman_local.broker import EmbeddedBroker
from deadman_local.kapacitor_emulator import RunningEmulator
from tests.support.emulator import KAPACITOR_VERSIONS, served_emulator
from tests.support.events import DELIVERIES, Deliver


@pytest.fixture(params=sorted(DELIVERIES))
def deliver_as(request: pytest.FixtureRequest) -> Deliver:
    """Each way a lifecycle event reaches a function: wrapped or direct, binary or structured."""
    return DELIVERIES[request.param]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-compatible broker (Tansu) on a free loopback port."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker


@pytest.fixture(params=KAPACITOR_VERSIONS, ids=[f"kapacitor-{v}" for v in KAPACITOR_VERSIONS])
def kapacitor(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """The Kapacitor API emulator on a free port, with the project's template
    installed, answering as each Kapacitor release users run."""
    with served_emulator(version=f"{request.param}-emulator") as running:
        yield running
