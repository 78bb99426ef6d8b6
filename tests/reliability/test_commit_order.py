"""A model of MySQL against the product: do tasks end in the device table's state?

Generated configurator transactions (``tests/support/mysql_model.py``) commit in
row-lock order; their outbox rows become Debezium's events, with statement times in
whole seconds (no GTIDs) or commit times in milliseconds (GTIDs), binlog positions
in commit order, rotations and failovers. They are then delivered:

* as the ordered layout's KafkaSource delivers them: commit order, one at a time,
  with redeliveries (a restart resends from an earlier offset). Every task must
  end in the device table's state, and the audit must find no drift.
* to the four-function layout, one at a time in any order, with duplicates. Each
  event is applied as its type's function applies it; what the rules cannot order
  (an event that finds no task keeps no record: a disable or delete delivered before
  an older create or enable) may end wrong, but only where a model of the rules says
  so, and the audit then reports exactly those devices and ``--fix`` converges them.

Broadly against the emulator, a smaller sample against the real Kapacitor 1.5.7.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deadman import (
    EventStamp,
    EventTypes,
    KapacitorClient,
    LifecycleService,
    LifecycleSettings,
    Result,
    parse_lifecycle_event,
)
from deadman.ops.audit import compare, fix_drifts, list_tasks
from deadman.ops.desired import DesiredState
from deadman.ops.template import bundled_template
from deadman.ops.topics import RawRecord
from deadman_local.kapacitor_emulator import KapacitorEmulator
from tests.support.backends import KapacitorBackend
from tests.support.mysql_model import (
    DEVICES,
    Committed,
    History,
    Transaction,
    commit,
    histories,
    table_after,
    task_matches,
)
from tests.support.paths import TEMPLATE_ID

TOPIC = "outbox.event.device"
T0_TEXT = "2026-11-21T17:45:00.000Z"


def examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@contextmanager
def emulated_service() -> Iterator[LifecycleService]:
    """The rules in this process against a fresh emulator (no sockets: fast)."""
    emulator = KapacitorEmulator()
    emulator.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    lifecycle = LifecycleSettings(kapacitor_url="http://kapacitor", kapacitor_db="iot")
    client = KapacitorClient(lifecycle, transport=httpx.WSGITransport(app=emulator))
    with LifecycleService(lifecycle, client) as service:
        yield service


@contextmanager
def real_service(backend: KapacitorBackend) -> Iterator[LifecycleService]:
    backend.clear()
    backend.add_template(TEMPLATE_ID, bundled_template(TEMPLATE_ID))
    lifecycle = LifecycleSettings(kapacitor_url=backend.direct_url, kapacitor_db="iot")
    with LifecycleService(lifecycle) as service:
        yield service


def deliver(service: LifecycleService, row: Committed) -> None:
    event = parse_lifecycle_event(row.event, row.event["data"], service.types, 100)
    outcomes = service.apply(event)
    assert all(o.result is not Result.FAILED for o in outcomes), outcomes


def tasks_now(service: LifecycleService) -> dict[str, str | None]:
    listed = list_tasks(service.client, service.settings.task_ids, TEMPLATE_ID, page_size=100)
    return {device: (listed[device].status if device in listed else None) for device in DEVICES}


def audit(service: LifecycleService, committed: list[Committed], *, fix: bool = False) -> set[str]:
    """The devices ``deadmanctl audit`` reports from the topic holding these events;
    with ``fix``, repaired as ``--fix`` repairs them."""
    state = DesiredState([TOPIC], service.types, 100, service.settings.task_ids)
    for row in committed:
        value = json.dumps(row.event).encode()
        state.add(RawRecord(TOPIC, 0, row.offset, None, value, []))
    listed = list_tasks(service.client, service.settings.task_ids, TEMPLATE_ID, page_size=100)
    drifts, _ = compare(state, listed, "enabled")
    if fix:
        fix_drifts(drifts, service.rules, service.client, delete_orphans=False, concurrency=2)
    return {drift.device for drift in drifts}


def ordered_deliveries(committed: list[Committed], restarts: list[tuple[int, int]]) -> list[int]:
    """Commit order, and after offset ``at`` a restart resending ``back`` offsets."""
    order: list[int] = []
    for offset in range(len(committed)):
        order.append(offset)
        for at, back in restarts:
            if at == offset:
                order.extend(range(max(0, offset - back), offset + 1))
    return order


def rules_model(committed: list[Committed], order: list[int]) -> dict[str, str | None]:
    """What the rules leave, applied in ``order``: a task per device with the stamp
    of the event it records; an event older than that changes nothing, an event
    that finds no task leaves a record only if it creates one."""
    tasks: dict[str, tuple[str, EventStamp]] = {}
    for offset in order:
        row = committed[offset]
        event = parse_lifecycle_event(row.event, row.event["data"], _TYPES, 100)
        for device in event.devices:
            known = tasks.get(device)
            if known is not None and known[1].newer_than(event.stamp):
                continue  # stale
            action = row.transaction.action
            if action in ("created", "enabled"):
                tasks[device] = ("enabled", _newer(event.stamp, known))
            elif known is None:
                continue  # disabled or deleted: no task, nothing recorded
            elif action == "disabled":
                tasks[device] = ("disabled", _newer(event.stamp, known))
            else:
                del tasks[device]
    return {device: (tasks[device][0] if device in tasks else None) for device in DEVICES}


def _newer(stamp: EventStamp, known: tuple[str, EventStamp] | None) -> EventStamp:
    return known[1] if known is not None and not stamp.newer_than(known[1]) else stamp


_TYPES = EventTypes()  # the default types, which the events use


def check_ordered(
    service: LifecycleService, history: History, restarts: list[tuple[int, int]]
) -> None:
    committed = commit(history)
    for offset in ordered_deliveries(committed, restarts):
        deliver(service, committed[offset])
    table = table_after(committed)
    tasks = tasks_now(service)
    assert all(task_matches(table[d], tasks[d]) for d in DEVICES), (table, tasks, committed)
    assert audit(service, committed) == set()


def check_any_order(service: LifecycleService, history: History, order: list[int]) -> None:
    committed = commit(history)
    for offset in order:
        deliver(service, committed[offset])
    tasks = tasks_now(service)
    assert tasks == rules_model(committed, order)
    table = table_after(committed)
    wrong = {d for d in DEVICES if not task_matches(table[d], tasks[d])}
    event(f"devices the rules left wrong: {len(wrong)}")
    # Never silent: the audit names exactly the devices the rules could not order...
    assert audit(service, committed, fix=True) == wrong
    # ...and --fix converges them.
    fixed = tasks_now(service)
    assert all(task_matches(table[d], fixed[d]) for d in DEVICES), (table, fixed)


restarts = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 4)), max_size=3)


@st.composite
def any_order(draw: st.DrawFn) -> tuple[History, list[int]]:
    history = draw(histories())
    count = len(history.transactions)
    order = draw(st.permutations(range(count)))
    duplicates = draw(st.lists(st.integers(0, count - 1), max_size=3))
    for offset in duplicates:
        order.insert(draw(st.integers(0, len(order))), offset)
    return history, order


@examples(300)
@given(history=histories(), restarts=restarts)
def test_commit_order_ordered_layout_ends_in_the_table_state(
    history: History, restarts: list[tuple[int, int]]
) -> None:
    with emulated_service() as service:
        check_ordered(service, history, restarts)


@examples(300)
@given(case=any_order())
def test_commit_order_four_functions_in_any_order_wrong_only_where_the_audit_says(
    case: tuple[History, list[int]],
) -> None:
    with emulated_service() as service:
        check_any_order(service, *case)


@pytest.mark.real_kapacitor
@examples(40)
@given(history=histories(), restarts=restarts)
def test_commit_order_ordered_layout_on_the_real_kapacitor(
    real_session_backend: KapacitorBackend, history: History, restarts: list[tuple[int, int]]
) -> None:
    with real_service(real_session_backend) as service:
        check_ordered(service, history, restarts)


@pytest.mark.real_kapacitor
@examples(30)
@given(case=any_order())
def test_commit_order_four_functions_on_the_real_kapacitor(
    real_session_backend: KapacitorBackend, case: tuple[History, list[int]]
) -> None:
    with real_service(real_session_backend) as service:
        check_any_order(service, *case)


def test_commit_order_model_a_lock_wait_commits_an_earlier_time_last() -> None:
    """The model itself: the disable's outbox INSERT ran first, its UPDATE then
    waited on the device's lock behind two transactions whose statements started
    later; it commits last, with the earliest time, and the table ends disabled."""
    waits = Transaction("disabled", ("d0",), True, 0, 2_500)
    holder = Transaction("created", ("d0",), False, 900, 2_000)
    quick = Transaction("enabled", ("d0",), False, 1_000, 0)
    committed = commit(History((waits, holder, quick), False, frozenset(), None))
    assert [row.transaction for row in committed] == [holder, quick, waits]
    times = [row.event["time"] for row in committed]
    assert times == ["2026-11-21T17:45:02.000Z", "2026-11-21T17:45:02.000Z", T0_TEXT]
    assert table_after(committed)["d0"] == "disabled"
