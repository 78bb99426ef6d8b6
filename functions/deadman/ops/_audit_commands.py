"""``deadmanctl audit``: compare the deadman tasks with the lifecycle topics, and repair.

Exit codes: 0 no drift (or every drift repaired), 1 drift remains, 2 errors (a
topic or Kapacitor unreachable, a repair failed, bad settings or arguments).
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from .._config import AuditSettings, load_settings
from .._exceptions import ConfigurationError
from .._logging import get_logger
from .._shards import parse_shard_urls
from .audit import AuditReport, Drift, run_audit

__all__ = ["add_audit_command"]

_log = get_logger("audit")


def add_audit_command(commands: Any) -> None:
    """Add ``audit`` to the ``deadmanctl`` subcommands."""
    audit = commands.add_parser(
        "audit",
        help="compare the deadman tasks with the lifecycle topics; --fix repairs drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument(
        "--bootstrap-servers", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    audit.add_argument(
        "--topics",
        help="lifecycle topics, comma-separated (default: AUDIT_TOPICS, else"
        " kapacitor-alerts-connector.<EVENT_TYPE_*> for the four event types)",
    )
    audit.add_argument(
        "--fix", action="store_true", help="repair drift with the newest event's lifecycle rule"
    )
    audit.add_argument(
        "--delete-orphans",
        action="store_true",
        help="with --fix: also delete tasks that no event names (they may be made by hand)",
    )
    audit.add_argument(
        "--drain",
        help="Kapacitor URLs being removed from KAPACITOR_URLS, comma-separated: their"
        " tasks are misplaced, and --fix moves them to their devices' shards",
    )
    audit.add_argument("--json", action="store_true", help="one JSON document on stdout")
    audit.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to read the topics (default: 60)"
    )
    audit.add_argument(
        "--page-size", type=int, default=500, help="tasks per Kapacitor list request (default: 500)"
    )
    audit.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.delete_orphans and not args.fix:
        raise ConfigurationError("--delete-orphans works with --fix")
    if args.page_size < 1 or args.timeout <= 0:
        raise ConfigurationError("--page-size and --timeout must be positive")
    settings = load_settings(AuditSettings)
    topics = settings.lifecycle_topics()
    if args.topics:
        topics = [topic.strip() for topic in args.topics.split(",") if topic.strip()]
    if not topics:
        raise ConfigurationError("name at least one lifecycle topic")
    try:
        drain = parse_shard_urls(args.drain) if args.drain else ()
    except ValueError as error:
        raise ConfigurationError(f"--drain: {error}") from None
    report = run_audit(
        settings,
        settings.bootstrap_servers(args.bootstrap_servers),
        topics,
        fix=args.fix,
        delete_orphans=args.delete_orphans,
        timeout=args.timeout,
        page_size=args.page_size,
        drain=drain,
    )
    _log_report(report)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print(render_text(report, settings.kapacitor_url))
    return report.exit_code


def render_text(report: AuditReport, kapacitor_url: str) -> str:
    state, counts = report.state, report.counts()
    lines = [
        f"read {state.records} record(s) on {len(state.topics)} topic(s):"
        f" {state.events} event(s) about {len(state.newest)} device(s),"
        f" {state.ignored} ignored, {state.unparseable} unparseable,"
        f" {state.invalid_devices} invalid device code(s)"
    ]
    for problem in state.problems:
        device = f" device {problem.device!r}" if problem.device else ""
        lines.append(
            f"  {problem.topic}:{problem.partition}:{problem.offset}{device}: {problem.reason}"
        )
    if not state.history_complete:
        lines.append(
            "history truncated by retention on " + ", ".join(state.truncated) + ":"
            f" {len(report.untracked)} task(s) without events are untracked, not orphans"
        )
        lines.extend(f"  untracked {task.id} ({task.state})" for task in report.untracked)
    if len(report.shards) > 1:
        listed = ", ".join(
            f"{key} ({tasks}{', draining' if key in report.draining else ''})"
            for key, tasks in report.shards
        )
        lines.append(f"listed {report.tasks} task(s) on {len(report.shards)} shards: {listed}")
    else:
        lines.append(f"listed {report.tasks} task(s) on {kapacitor_url}")
    if not report.drifts:
        lines.append("no drift")
        return "\n".join(lines)
    header = ("KIND", "DEVICE", "TASK", "DESIRED", "ACTUAL", "NEWEST EVENT", "FIX")
    rows = [header, *(_row(drift) for drift in report.drifts)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines.append("")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append("")
    lines.append(
        f"{counts['drift']} drift(s): {counts['missing']} missing, {counts['orphan']} orphan,"
        f" {counts['status_mismatch']} status mismatch; {counts['fixed']} fixed,"
        f" {counts['newer_than_topic']} newer than the topic, {counts['kept']} kept,"
        f" {counts['failed']} failed; {counts['remaining']} remaining"
    )
    if len(report.shards) > 1:
        placement = report.placement()
        lines.append(
            f"placement: {placement['misplaced']} misplaced, {placement['duplicate']} duplicate;"
            f" {len(placement['moved'])} moved"
        )
        lines.extend(
            f"  moved {device} from {source} to {shard}" for device, source, shard in report.moved()
        )
    return "\n".join(lines)


def _row(drift: Drift) -> tuple[str, ...]:
    event = drift.event
    newest = (
        f"{event.action.value} {event.as_json()['time']} {event.event_id}"
        f" ({event.topic}:{event.partition}:{event.offset})"
        if event
        else "-"
    )
    if drift.fix is not None:
        fix = f"{drift.fix.result.value}: {drift.fix.detail}"
    else:
        fix = "newer than the topic: left alone" if drift.newer_than_topic else "-"
    return (
        drift.kind.value,
        drift.device,
        drift.task_id,
        drift.desired,
        drift.actual,
        newest,
        fix,
    )


def _log_report(report: AuditReport) -> None:
    for problem in report.state.problems:
        _log.warning("lifecycle record not usable", extra={"fields": problem.as_json()})
    for drift in report.drifts:
        fields = drift.as_json()
        event, fix = fields.pop("event"), fields.pop("fix")
        if event:
            fields.update(event_id=event["id"], event_time=event["time"])
        if fix:
            fields.update(fix_result=fix["result"], fix_detail=fix["detail"])
        level = logging.ERROR if fix and fix["result"] == "failed" else logging.WARNING
        _log.log(level, "drift", extra={"fields": fields})
    _log.info(
        "audit done",
        extra={"fields": {**report.counts(), "tasks": report.tasks, "exit_code": report.exit_code}},
    )
