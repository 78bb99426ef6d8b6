"""A model of the configuration service's MySQL and of what Debezium writes from it.

Each transaction updates some devices and inserts its outbox row, in either
statement order. Row locks serialise transactions that touch a common device: a
transaction takes its devices' locks when its UPDATE runs, in the order the
UPDATEs ask, and holds them until it commits. Commit order is binlog order, and
binlog order is the order the device table takes its changes in.

Debezium's record of the outbox row carries the binlog file, position and row on
the server it came from, and a ``time``: without GTIDs the binlog event's
timestamp, when the outbox INSERT *statement* started, in whole seconds; with
GTIDs the commit time in milliseconds. A transaction that waited on a lock can
therefore carry an earlier time than one committed before it.

The device table follows what the lifecycle rules make of each action:
``created`` and ``enabled`` leave the device enabled (an enable of a missing device
is the rules' fallback create), ``disabled`` leaves it disabled (a disabled device
may have no task: the rules create none for it), and ``deleted`` removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.support.events import inner_event

ACTIONS = ("created", "enabled", "disabled", "deleted")
DEVICES = ("d0", "d1", "d2")
T0 = datetime(2026, 11, 21, 17, 45, 0, tzinfo=UTC)
# What a task should be for each device-table state ("disabled" may also have none:
# a disable of a device without a task creates nothing).
ENABLED, DISABLED, ABSENT = "enabled", "disabled", "absent"


@dataclass(frozen=True)
class Transaction:
    action: str
    devices: tuple[str, ...]
    outbox_first: bool
    start_ms: int  # when its first statement starts
    hold_ms: int  # work between its two statements


@dataclass(frozen=True)
class History:
    """Transactions as started, and the settings of the server they ran on."""

    transactions: tuple[Transaction, ...]
    gtid: bool
    rotate_after: frozenset[int]  # commit indexes after which the binlog rotates
    failover_after: int | None  # commit index after which another server is primary


@dataclass(frozen=True)
class Committed:
    """One outbox row as Debezium wrote it, in commit order (``offset``)."""

    offset: int
    transaction: Transaction
    event: dict[str, Any]


def histories() -> st.SearchStrategy[History]:
    transaction = st.builds(
        Transaction,
        action=st.sampled_from(ACTIONS),
        devices=st.lists(st.sampled_from(DEVICES), min_size=1, max_size=2, unique=True).map(tuple),
        outbox_first=st.booleans(),
        start_ms=st.integers(0, 3_000),
        hold_ms=st.integers(0, 2_500),
    )
    return st.builds(
        History,
        transactions=st.lists(transaction, min_size=1, max_size=10).map(_started_in_order),
        gtid=st.booleans(),
        rotate_after=st.frozensets(st.integers(0, 9), max_size=2),
        failover_after=st.none() | st.integers(0, 9),
    )


def _started_in_order(transactions: list[Transaction]) -> tuple[Transaction, ...]:
    """start_ms read as gaps after the previous transaction's start."""
    started, at = [], 0
    for transaction in transactions:
        at += transaction.start_ms
        started.append(
            Transaction(
                transaction.action,
                transaction.devices,
                transaction.outbox_first,
                at,
                transaction.hold_ms,
            )
        )
    return tuple(started)


def commit(history: History) -> list[Committed]:
    """Run the transactions against row locks; Debezium's events in commit order."""
    free_at: dict[str, int] = {}  # when each device's row lock is released
    done: list[tuple[int, int, int, Transaction]] = []  # (commit, order, statement)
    # The UPDATE asks for the locks: first statement, or after the outbox INSERT.
    asks = sorted(
        enumerate(history.transactions),
        key=lambda item: item[1].start_ms + (item[1].hold_ms if item[1].outbox_first else 0),
    )
    for order, transaction in asks:
        asked = transaction.start_ms + (transaction.hold_ms if transaction.outbox_first else 0)
        granted = max([asked, *(free_at.get(d, 0) for d in transaction.devices)])
        if transaction.outbox_first:
            statement, committed = transaction.start_ms, granted + 1
        else:
            statement = granted + transaction.hold_ms
            committed = statement + 1
        for device in transaction.devices:
            free_at[device] = committed
        done.append((committed, order, statement, transaction))
    done.sort(key=lambda item: (item[0], item[1]))
    return [_debezium(history, offset, *item) for offset, item in enumerate(done)]


def _debezium(
    history: History, offset: int, committed: int, order: int, statement: int, txn: Transaction
) -> Committed:
    server, file_number, pos = "1", 3, 4
    for index in range(offset):
        if history.failover_after is not None and index == history.failover_after:
            server, file_number, pos = "2", 1, 4
        elif index in history.rotate_after:
            file_number, pos = file_number + 1, 4
        else:
            pos += 317
    failed_over = history.failover_after is not None and offset > history.failover_after
    # A failover takes seconds: whatever commits on the new primary started after it.
    shift = 3_600_000 if failed_over else 0
    if history.gtid:
        time = T0 + timedelta(milliseconds=committed + shift)
        text = time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z"
    else:
        time = T0 + timedelta(seconds=(statement + shift) // 1000)
        text = time.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    event = inner_event(
        f"device-{txn.action}",
        list(txn.devices),
        time=text,
        event_id=f"name:cfg;file:binlog.{file_number:06d};pos:{pos}",
        binlog=(f"binlog.{file_number:06d}", pos, 0),
        server_id=server,
    )
    return Committed(offset, txn, event)


def table_after(committed: list[Committed]) -> dict[str, str]:
    """Each device's state once every transaction committed, in commit order."""
    table = dict.fromkeys(DEVICES, ABSENT)
    for row in committed:
        for device in row.transaction.devices:
            action = row.transaction.action
            if action in ("created", "enabled"):
                table[device] = ENABLED
            elif action == "disabled":
                table[device] = DISABLED
            else:
                table[device] = ABSENT
    return table


def task_matches(table_state: str, task_status: str | None) -> bool:
    """Whether a task (its status, or None for none) mirrors the device's state."""
    if table_state == ENABLED:
        return task_status == "enabled"
    if table_state == DISABLED:
        return task_status in ("disabled", None)
    return task_status is None
