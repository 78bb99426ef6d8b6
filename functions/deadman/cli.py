"""``deadmanctl``: operator commands (template installer, dead letters, drift audit,
Kapacitor health)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._audit_cli import add_audit_command
from ._config import KapacitorSettings, load_settings
from ._dlq_cli import add_dlq_commands
from ._exceptions import DeadmanError
from ._health import check_kapacitor
from ._kapacitor import KapacitorClient
from ._template import install_template, read_template

__all__ = ["main"]


def _install_template(args: argparse.Namespace) -> int:
    settings = load_settings(KapacitorSettings)
    script = read_template(
        settings.kapacitor_template_id, args.file or settings.kapacitor_template_file
    )
    client = KapacitorClient(settings)
    try:
        result = install_template(
            client, settings.kapacitor_template_id, script, dry_run=args.dry_run
        )
    finally:
        client.close()
    verb = "would be" if args.dry_run else "was"
    print(
        f"template {settings.kapacitor_template_id} {verb} {result.value}"
        f" on {settings.kapacitor_url}"
    )
    return 0


def _kapacitor_check(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise DeadmanError("--timeout must be positive")
    settings = load_settings(KapacitorSettings)
    client = KapacitorClient(settings)
    try:
        health = check_kapacitor(client, args.timeout)
    finally:
        client.close()
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (DeadmanError, OSError) as error:
        print(f"deadmanctl: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
