"""Fixtures of the whole suite: each delivery form of a lifecycle event, the broker,
and Kapacitor as each backend: the emulator as each release users run, and a real
Kapacitor 1.5.7 with InfluxDB 1.6.7."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from deadman.ops.template import bundled_template
from deadman_local.broker import EmbeddedBroker
from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint
from deadman_local.real_kapacitor import RealKapacitor
from tests.support.backends import (
    REAL,
    REQUIRE_REAL,
    KapacitorBackend,
    behind_proxy,
    emulated_backend,
    real_binaries,
)
from tests.support.emulator import (
    KAPACITOR_VERSIONS,
    serve_alert_receiver,
)
from tests.support.events import DELIVERIES, Deliver
from tests.support.paths import TEMPLATE_ID

EMULATED = tuple(f"emulator-{v}" for v in KAPACITOR_VERSIONS)
# Marks every test that ran on the real Kapacitor, for the closing count.
REAL_MARK = "real_kapacitor"
_real_outcomes: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{REAL_MARK}: runs on a real Kapacitor and InfluxDB")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses_real = REAL in params.values() or "real_kapacitor" in getattr(item, "fixturenames", ())
        if uses_real:
            item.add_marker(REAL_MARK)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if REAL_MARK in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _real_outcomes[report.outcome] += 1


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """No test passed on the real Kapacitor under REQUIRE_REAL_KAPACITOR=1: the run fails."""
    if os.environ.get(REQUIRE_REAL) == "1" and not _real_outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_real_outcomes.items()))
    terminalreporter.write_line(f"tests on the real Kapacitor 1.5.7: {counts or 'none'}")
    if os.environ.get(REQUIRE_REAL) == "1" and not _real_outcomes["passed"]:
        terminalreporter.write_line(f"{REQUIRE_REAL}=1, and no test passed on the real Kapacitor")


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


@pytest.fixture(scope="session")
def real_kapacitor() -> Iterator[RealKapacitor]:
    """One real Kapacitor 1.5.7 (and InfluxDB) for the session; its alert endpoint
    posts to a receiver that accepts everything. Tests that watch alerts start their
    own. Skips where the binaries cannot be found (fails under REQUIRE_REAL_KAPACITOR=1)."""
    binaries = real_binaries()
    with serve_alert_receiver() as sink:
        endpoint = HttpPostEndpoint(TEMPLATE_ENDPOINT, sink.url)
        with RealKapacitor(binaries, endpoints=[endpoint]) as real:
            yield real


@pytest.fixture(scope="session")
def real_session_backend(real_kapacitor: RealKapacitor) -> Iterator[KapacitorBackend]:
    """The session's real Kapacitor behind a counting proxy, as it is (not cleared)."""
    with behind_proxy(real_kapacitor.kapacitor_url) as (url, proxy):
        yield KapacitorBackend(REAL, url, real_kapacitor.kapacitor_url, proxy, real=real_kapacitor)


@pytest.fixture
def real_backend(real_session_backend: KapacitorBackend) -> KapacitorBackend:
    """The session's real Kapacitor with no task and no template, its counts reset."""
    real_session_backend.clear()
    return real_session_backend


@pytest.fixture(params=[*EMULATED, REAL])
def kapacitor(request: pytest.FixtureRequest) -> Iterator[KapacitorBackend]:
    """Kapacitor with the project's template installed and no task, behind a
    counting proxy: the emulator as each release users run, then a real 1.5.7."""
    if request.param == REAL:
        backend: KapacitorBackend = request.getfixturevalue("real_backend")
        backend.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
        backend.proxy.reset()
        yield backend
        return
    with emulated_backend(request.param) as backend:
        yield backend


@pytest.fixture(params=EMULATED)
def emulated_kapacitor(request: pytest.FixtureRequest) -> Iterator[KapacitorBackend]:
    """The emulator only, for faults a real server cannot produce on demand."""
    with emulated_backend(request.param) as backend:
        yield backend
