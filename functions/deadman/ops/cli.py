"""``deadmanctl``: operator commands (template installer, dead letters, drift audit,
Kapacitor health, heartbeat check).

One error style for every command: ``deadmanctl: <message>`` on stderr (or
``{"error": …, "exit_code": 2}`` on stdout with ``--json``) and exit code 2 for
anything that stopped the command; 1 for a finding, 0 otherwise (see
``deadman.ops``). Logs are JSON lines on stderr: stdout is the command's output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

from .._config import (
    HeartbeatCheckSettings,
    InstallerSettings,
    KapacitorSettings,
    influxql_duration_ns,
    load_settings,
)
from .._exceptions import ConfigurationError, DeadmanError
from .._logging import JsonFormatter
from .._shard_clients import KapacitorShards
from . import EXIT_ERROR
from ._audit_commands import add_audit_command
from ._dlq_commands import add_dlq_commands
from .health import check_kapacitors
from .heartbeat import check_heartbeat, check_shard_heartbeats
from .install import install_on_shards, installer_steps
from .template import read_template, render_template

__all__ = ["build_parser", "main"]


def _install_template(args: argparse.Namespace) -> int:
    settings = load_settings(InstallerSettings)
    script = render_template(
        read_template(
            settings.kapacitor_template_id, args.file or settings.kapacitor_template_file
        ),
        settings,
    )
    with KapacitorShards.from_settings(settings) as shards:
        installs = install_on_shards(
            shards, installer_steps(settings, script, dry_run=args.dry_run)
        )
    verb = "would be" if args.dry_run else "was"
    delivery = f"(alert delivery: {settings.alert_delivery})"
    if len(installs) == 1:
        [install] = installs
        if install.error is not None:
            raise install.error
        (template, result), *others = install.done
        print(f"{template} {verb} {result} on {install.url} {delivery}")
        for what, result in others:
            print(f"{what} {verb} {result}")
        return 0
    # One line per shard; every shard is tried, and any failure fails the command.
    for install in installs:
        print(install.describe(verb) + ("" if install.failed else f" {delivery}"))
    failed = [install.shard for install in installs if install.failed]
    if failed:
        raise DeadmanError(
            f"install failed on {len(failed)} of {len(installs)} shards: {', '.join(failed)}"
        )
    return 0


def _heartbeat_check(args: argparse.Namespace) -> int:
    settings = load_settings(HeartbeatCheckSettings)
    try:
        seconds = (
            influxql_duration_ns(args.max_age) / 1e9
            if args.max_age
            else 3 * settings.heartbeat_period_seconds
        )
    except ValueError as error:
        raise ConfigurationError(f"--max-age: {error}") from error
    # With several shards, each one's newest heartbeat must be fresh.
    check = check_shard_heartbeats if len(settings.shards) > 1 else check_heartbeat
    status = check(
        settings,
        settings.bootstrap_servers(args.bootstrap_servers),
        timedelta(seconds=seconds),
        topic=args.topic,
        timeout=args.timeout,
    )
    print(json.dumps(status.as_json()) if args.json else status.describe())
    return status.exit_code


def _kapacitor_check(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise ConfigurationError("--timeout must be positive")
    with KapacitorShards.from_settings(load_settings(KapacitorSettings)) as shards:
        health = check_kapacitors(shards, args.timeout)
    print(json.dumps(health.as_json()) if args.json else health.describe())
    return health.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deadmanctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    template = commands.add_parser(
        "install-template",
        help="create the Kapacitor template, or update it only if the script differs",
    )
    template.add_argument(
        "--file",
        help="TICKscript path (default: KAPACITOR_TEMPLATE_FILE"
        " or the template shipped with the package)",
    )
    template.add_argument("--dry-run", action="store_true", help="say what would change")
    template.set_defaults(run=_install_template)
    add_dlq_commands(commands)
    add_audit_command(commands)
    kapacitor = commands.add_parser("kapacitor", help="Kapacitor itself")
    kapacitor_commands = kapacitor.add_subparsers(dest="kapacitor_command", required=True)
    check = kapacitor_commands.add_parser(
        "check",
        help="ping, then list one task, each with a deadline: exit 0 healthy,"
        " 1 wedged (ping answers, task calls hang) or down, 2 cannot check",
    )
    check.add_argument(
        "--timeout", type=float, default=5.0, help="seconds for each call (default: 5)"
    )
    check.add_argument("--json", action="store_true", help="one JSON document on stdout")
    check.set_defaults(run=_kapacitor_check)
    heartbeat = commands.add_parser("heartbeat", help="the alert path's canary")
    heartbeat_commands = heartbeat.add_subparsers(dest="heartbeat_command", required=True)
    fresh = heartbeat_commands.add_parser(
        "check",
        help="exit 0 when the newest deadman-heartbeat event is fresh, 1 when stale or"
        " absent, 2 when the topic cannot be read",
    )
    fresh.add_argument("--max-age", help="e.g. 3m or 15s (default: 3 x HEARTBEAT_PERIOD)")
    fresh.add_argument(
        "--bootstrap-servers", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    fresh.add_argument("--topic", help="the events topic (default: ALERTS_TOPIC)")
    fresh.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic")
    fresh.add_argument("--json", action="store_true", help="one JSON document on stdout")
    fresh.set_defaults(run=_heartbeat_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr()
    try:
        return int(args.run(args))
    except (DeadmanError, OSError) as error:
        message = error.message if isinstance(error, DeadmanError) else str(error)
        logging.getLogger("deadman.cli").error(
            f"{args.command} failed", extra={"fields": {"error": message}}
        )
        if getattr(args, "json", False):
            print(json.dumps({"error": message, "exit_code": EXIT_ERROR}, indent=2))
        else:
            print(f"deadmanctl: {message}", file=sys.stderr)
        return EXIT_ERROR


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr``: stdout is the command's output."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_to_stderr() -> None:
    """Every ``deadman`` log line to stderr, and only there."""
    logger = logging.getLogger("deadman")
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel((os.environ.get("LOG_LEVEL") or "INFO").upper())


if __name__ == "__main__":
    raise SystemExit(main())
