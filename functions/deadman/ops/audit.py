"""Drift audit: Kapacitor's deadman tasks against the lifecycle events on Kafka.

The tasks are listed first and the topics read after, so the events seen are at
least as new as the tasks: an event applied before the listing is on the topics.
Events still in flight (source lag, retries, dead letters) show as drift, and
repairing them applies what the function would apply anyway.

Desired state per device, from its newest event: created, a task with
``TASK_CREATE_STATUS``; enabled, a task enabled and executing; disabled, a task
disabled or no task; deleted, no task.

Repairs go through ``TaskRules.apply`` with the newest event's action, time and
id, so the order rule holds: a task recording a newer event than any on the
topics is left alone. Tasks that no event names are deleted only when asked (they
may be made by hand), and are not even orphans when retention truncated the
topics (no event may mean an expired one): they are listed as untracked.

With several Kapacitor shards (``KAPACITOR_URLS``) every shard is listed; a device
is compared through its one task (``placement.locate``), and tasks on a shard that
is not their device's are drifts of their own, repaired (moved) before any other
repair of the same device (``placement``). Shards being removed are listed as
draining (``drain``): every task on them is misplaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .._config import AuditSettings
from .._exceptions import DeadmanError, KapacitorRejectedError
from .._kapacitor import KapacitorClient
from .._lifecycle import Result, TaskRules
from .._lifecycle_types import Action
from .._logging import get_logger
from .._ordering import EventStamp
from .._service import LifecycleService
from .._shard_clients import KapacitorShards
from .._shards import Shard
from .._task_ids import TaskIds
from .desired import DesiredState
from .drift import (
    ABSENT,
    DISABLED_OR_ABSENT,
    PLACEMENT_KINDS,
    ActualTask,
    AuditReport,
    Drift,
    DriftKind,
    Fix,
    FixResult,
)
from .placement import locate, placement_drifts, repair_placement
from .topics import read_records

__all__ = [
    "ActualTask",
    "AuditReport",
    "Drift",
    "DriftKind",
    "FixResult",
    "compare",
    "fix_drifts",
    "list_tasks",
    "run_audit",
]

_log = get_logger("audit")

LIST_FIELDS = ("status", "executing", "vars")
# A list field from Kapacitor 1.7.0 on; 1.5 and 1.6 refuse it (400) once a task matches.
TEMPLATE_FIELD = "template-id"


def list_tasks(
    client: KapacitorClient, ids: TaskIds, template_id: str, page_size: int
) -> dict[str, ActualTask]:
    """The deadman tasks by device: ids ending with the suffix, from ``template_id``.

    Kapacitor 1.7 lists ``template-id`` (omitted for a task made from no
    template; such tasks are kept, those of another template are not ours). 1.5
    and 1.6 refuse that field: then a task is ours when its ``measurement`` var
    is its device code, which the lifecycle rules write on every task they make.
    """
    pattern = "*" + ids.suffix
    by_template = True
    try:
        items = list(
            client.list_tasks(
                pattern=pattern, fields=(*LIST_FIELDS, TEMPLATE_FIELD), page_size=page_size
            )
        )
    except KapacitorRejectedError as error:
        if f'unsupported field "{TEMPLATE_FIELD}"' not in error.message:
            raise
        _log.debug(
            "Kapacitor lists no template-id (1.5/1.6): tasks are told by their measurement var",
            extra={"fields": {"kapacitor_url": client.url}},
        )
        by_template = False
        items = list(client.list_tasks(pattern=pattern, fields=LIST_FIELDS, page_size=page_size))
    found: dict[str, ActualTask] = {}
    for item in items:
        task_id = str(item.get("id", ""))
        device = ids.device_of(task_id)
        if device is None:
            continue  # not a device's task (the heartbeat's is reserved)
        variables = item.get("vars") or {}
        if by_template:
            if item.get(TEMPLATE_FIELD) not in (None, "", template_id):
                continue
        elif (variables.get("measurement") or {}).get("value") != device:
            continue
        found[device] = ActualTask(
            id=task_id,
            device=device,
            status=str(item.get("status", "")),
            executing=bool(item.get("executing", False)),
            recorded=EventStamp.recorded(variables),
            shard=client.shard.key,
        )
    return found


def desired_of(action: Action, create_status: str) -> str:
    if action is Action.CREATE:
        return create_status
    if action is Action.ENABLE:
        return "enabled"
    return DISABLED_OR_ABSENT if action is Action.DISABLE else ABSENT


def compare(
    state: DesiredState, actual: Mapping[str, ActualTask], create_status: str
) -> tuple[list[Drift], list[ActualTask]]:
    """The drifted devices, and the tasks without events when history is truncated."""
    drifts: list[Drift] = []
    untracked: list[ActualTask] = []
    for device in sorted(set(state.newest) | set(actual)):
        event, task = state.newest.get(device), actual.get(device)
        task_id = task.id if task else state.ids.task_id(device)
        recorded = task.recorded if task else None
        if event is None:
            assert task is not None
            if state.history_complete:
                drifts.append(
                    Drift(DriftKind.ORPHAN, device, task_id, "no task (no event)", task.state, None)
                )
            else:
                untracked.append(task)
            continue
        desired = desired_of(event.action, create_status)
        kind: DriftKind | None = None
        if desired == ABSENT:
            kind = DriftKind.ORPHAN if task else None
        elif desired == DISABLED_OR_ABSENT:
            kind = DriftKind.STATUS if task and task.state != "disabled" else None
        elif task is None:
            kind = DriftKind.MISSING
        elif task.state != desired:
            kind = DriftKind.STATUS
        if kind is not None:
            actual_state = task.state if task else ABSENT
            drifts.append(Drift(kind, device, task_id, desired, actual_state, event, recorded))
    return drifts, untracked


def fix_drifts(
    drifts: Iterable[Drift],
    rules: TaskRules,
    client: KapacitorClient | KapacitorShards,
    *,
    delete_orphans: bool,
    concurrency: int,
) -> list[Drift]:
    """Each drift with what repairing it did, at most ``concurrency`` devices at once.

    With shards, a device's placement drift is repaired first; its other drifts
    are kept when that fails (their repair would make a second copy).
    """
    shards = client if isinstance(client, KapacitorShards) else KapacitorShards.of(client)

    def repair_placements(drift: Drift) -> Drift:
        if drift.kind not in PLACEMENT_KINDS:
            return drift
        return replace(drift, fix=repair_placement(drift, shards))

    def repair(drift: Drift) -> Drift:
        if drift.fix is not None:
            return drift
        if drift.device in unmoved:
            return replace(drift, fix=Fix(FixResult.KEPT, "its task could not be moved first"))
        return replace(drift, fix=_repair(drift, rules, shards, delete_orphans))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="audit") as pool:
        placed = list(pool.map(repair_placements, drifts))
        unmoved = {
            d.device for d in placed if d.fix is not None and d.fix.result is FixResult.FAILED
        }
        return list(pool.map(repair, placed))


def _repair(drift: Drift, rules: TaskRules, shards: KapacitorShards, delete_orphans: bool) -> Fix:
    event = drift.event
    if drift.newer_than_topic:
        return Fix(FixResult.LEFT_ALONE, "newer than the topic: left alone")
    if event is None:
        if not delete_orphans:
            return Fix(FixResult.KEPT, "no event names this device; --delete-orphans deletes it")
        try:
            # On its own shard: a task elsewhere was moved there first.
            shards.client_for(drift.device).delete_task(drift.task_id)
        except DeadmanError as error:
            return Fix(FixResult.FAILED, error.message)
        return Fix(FixResult.FIXED, "deleted (no event; --delete-orphans)")
    outcome = rules.apply(drift.device, event.action, event.stamp, event.event_id)
    if outcome.result is Result.STALE:
        return Fix(FixResult.LEFT_ALONE, f"newer than the topic: left alone ({outcome.detail})")
    if outcome.result is Result.FAILED:
        return Fix(FixResult.FAILED, outcome.detail)
    return Fix(FixResult.FIXED, f"applied {event.action.value} ({outcome.detail})")


def run_audit(
    settings: AuditSettings,
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    fix: bool = False,
    delete_orphans: bool = False,
    timeout: float = 60.0,
    page_size: int = 500,
    client: KapacitorClient | None = None,
    drain: Sequence[Shard] = (),
) -> AuditReport:
    """List the tasks, then read the topics (never the other way round), compare, repair.

    ``drain``: Kapacitors leaving KAPACITOR_URLS, whose tasks are all misplaced.
    """
    draining = [KapacitorClient(settings, shard=shard) for shard in drain]
    try:
        with LifecycleService(settings, client) as service:
            shards = service.kapacitor.with_draining(draining)
            return _audit(
                settings,
                service,
                shards,
                bootstrap_servers,
                topics,
                fix=fix,
                delete_orphans=delete_orphans,
                timeout=timeout,
                page_size=page_size,
            )
    finally:
        for drained in draining:
            drained.close()


def _audit(
    settings: AuditSettings,
    service: LifecycleService,
    shards: KapacitorShards,
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    fix: bool,
    delete_orphans: bool,
    timeout: float,
    page_size: int,
) -> AuditReport:
    """List every shard, then read the topics, compare, repair."""
    ids = settings.task_ids
    listed = {
        key: list_tasks(shards.client(key), ids, settings.kapacitor_template_id, page_size)
        for key in (*shards.keys, *shards.draining)
    }
    actual, misplaced = locate(listed, shards)
    state = DesiredState(
        topics=list(topics),
        types=service.types,
        max_devices=settings.max_devices_per_event,
        ids=ids,
    )
    state.truncated = read_records(
        bootstrap_servers,
        topics,
        state.add,
        timeout=timeout,
        config=settings.kafka_consumer_config,
    )
    drifts, untracked = compare(state, actual, settings.task_create_status)
    if len(listed) > 1:
        drifts = sorted(
            placement_drifts(state, actual, misplaced, shards)
            + [replace(drift, shard=shards.shard_of(drift.device)) for drift in drifts],
            # A device's placement first: its repair comes first too.
            key=lambda drift: (drift.device, drift.kind not in PLACEMENT_KINDS),
        )
    if fix and drifts:
        drifts = fix_drifts(
            drifts,
            service.rules,
            shards,
            delete_orphans=delete_orphans,
            concurrency=settings.bulk_concurrency,
        )
    counts = tuple((key, len(tasks)) for key, tasks in listed.items())
    tasks = sum(count for _, count in counts)
    return AuditReport(
        state, tasks, drifts, untracked, fix, delete_orphans, counts, shards.draining
    )
