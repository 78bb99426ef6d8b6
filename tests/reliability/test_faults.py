"""Fault matrix through the whole local loop.

Real parts: Tansu, the KafkaSource stand-in (the manifests' delivery spec with
short linear backoffs), the lifecycle functions under gunicorn, and the Kapacitor
emulator with its fault hooks. Each test runs the same three-phase event stream
under one fault and then checks three things: the final Kapacitor state is what
the newest event per device asks for (``Loop.check_outcome``), every record was
either delivered or dead-lettered with its reason, and the stand-in's counts add
up (delivered + dead-lettered == records produced, nothing dropped).

Phase A makes the tasks, phase B moves them (deletes included), phase C brings
older events late, as redeliveries and replays do; each phase settles before the
next and names a device at most once. So the final state is defined whatever
order the four sources (one topic per event type) deliver a phase in: two events
of one device processed at the same time are not (see test_ordering.py).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Mapping, Sequence

import pytest

from deadman_local.stack import LocalStack
from tests.support.apps import LIFECYCLE_TARGETS
from tests.support.loop import Event, Loop, event, log_text, running_stack, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

# Small enough that an injected latency times out quickly; large enough for a
# loaded two-core machine to answer every normal call in time (a call answered
# after the function gave up still lands, late, and could race the retry).
KAPACITOR_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(
        tmp_path_factory,
        "faults",
        function_env={"KAPACITOR_TIMEOUT_SECONDS": str(KAPACITOR_TIMEOUT)},
    ) as local:
        yield local


Phases = tuple[list[Event], list[Event], list[Event], dict[str, list[str]]]


def phases(tag: str) -> Phases:
    """A makes the tasks (one event also names a bad device), B moves them, C brings
    older events late (redeliveries, replays): they must change nothing."""
    d = [f"{tag}-{i}" for i in range(10)]
    bad = f'{tag}"q'
    poison = event("enabled", [f"{tag}-p", bad], 10)
    phase_a = [event("enabled", d[:7], 10), event("created", d[7:], 10), poison]
    phase_b = [
        event("disabled", d[0:3], 30),
        event("deleted", d[3:5], 30),
        event("enabled", d[7:9], 30),  # already enabled: records the newer time
    ]
    phase_c = [
        event("enabled", d[0:3], 20),  # older than the disable
        event("disabled", d[3:5], 20),  # older than the delete: no task, nothing to do
        event("enabled", d[5:6], 5),  # older than the first enable
        event("created", d[9:], 5),
    ]
    return phase_a, phase_b, phase_c, {poison.id: [bad]}


def faults_left(loop: Loop) -> Sequence[Mapping[str, object]]:
    return loop.emulator.faults.snapshot()


def test_faults_kapacitor_refusing_connections(loop: Loop) -> None:
    *stream, rejected = phases("refuse")
    for phase in stream:
        loop.listener.stop_listening()
        loop.publish(*phase)
        loop.wait_retries(len(phase))
        loop.listener.resume_listening()
        loop.settle()
    loop.check_outcome(rejected)
    assert "ConnectError" in log_text(loop.stack, "enable_alert")


def test_faults_kapacitor_slow_past_the_timeout(loop: Loop) -> None:
    """Calls answered after the functions gave up: the write still lands, late."""
    *stream, rejected = phases("slow")
    delay = KAPACITOR_TIMEOUT + 0.8
    slow = {
        "A": [("POST", 3)],
        "B": [("PATCH", 3), ("DELETE", 1)],
        "C": [("GET", 2)],
    }
    for name, phase in zip("ABC", stream, strict=True):
        for method, times in slow[name]:
            loop.emulator.add_latency(delay, method=method, times=times)
        loop.publish(*phase)
        loop.settle()
        # Every delayed call was made, and each one timed out into a retry.
        assert faults_left(loop) == []
    loop.check_outcome(rejected)
    assert loop.delta()["retries"] >= 3
    logs = "".join(log_text(loop.stack, target) for target in LIFECYCLE_TARGETS)
    assert "ReadTimeout" in logs


def test_faults_kapacitor_5xx_for_a_while(loop: Loop) -> None:
    *stream, rejected = phases("5xx")
    for status, phase in zip((500, 503, 502), stream, strict=True):
        loop.emulator.fail_next(times=6, status=status)
        loop.publish(*phase)
        loop.settle()
        assert faults_left(loop) == []
    loop.check_outcome(rejected)
    assert loop.delta()["retries"] >= 3


def test_faults_kapacitor_500_after_storing_the_task(loop: Loop) -> None:
    """Creates are stored (enabled, not running) and answered 500: the functions read
    back, answer 503, and the redelivery restarts the stored task."""
    *stream, rejected = phases("stored")
    loop.emulator.fail_after_store(times=4)
    for phase in stream:
        loop.publish(*phase)
        loop.settle()
    assert faults_left(loop) == []
    loop.check_outcome(rejected)
    assert loop.delta()["retries"] >= 1
    logs = log_text(loop.stack, "enable_alert") + log_text(loop.stack, "create_alert")
    restarted = [
        line for line in logs.splitlines() if "stored-" in line and "restarted a task" in line
    ]
    assert restarted, "no stored-but-stopped task was restarted"


def test_faults_kapacitor_flapping(loop: Loop) -> None:
    *stream, rejected = phases("flap")
    for status, phase in zip((503, 502, 504), stream, strict=True):
        # Every other call fails, 8 of them per phase: each failed attempt uses at
        # least one, so 12 retries always outlast it.
        loop.emulator.flap(every=2, status=status, times=8)
        loop.publish(*phase)
        loop.settle()
        assert faults_left(loop) == []
    loop.check_outcome(rejected)


def test_faults_function_killed_mid_bulk(loop: Loop) -> None:
    devices = [f"kill-{i}" for i in range(300)]
    function = loop.stack.functions["enable_alert"]
    # Slow Kapacitor down so that the bulk is still running when the kill comes.
    loop.emulator.set_capacity(0.01, 4)
    bulk = event("enabled", devices, 10)
    loop.publish(bulk)

    def made() -> int:
        tasks = loop.emulator.tasks()
        return sum(device + "_not_fed" in tasks for device in devices)

    wait_for(lambda: made() >= 40, what="40 tasks of the bulk")
    killed_pid = function.pid
    function.stop(signal.SIGKILL)
    halfway = made()
    assert halfway < len(devices), "the bulk finished before the kill"
    loop.emulator.set_capacity(0.0, None)
    function.start()
    assert function.pid != killed_pid

    delta = loop.check_accounting()
    assert delta["delivered"] == 1
    assert delta["retries"] >= 1
    assert loop.dead_letters() == {}
    loop.check_outcome()
