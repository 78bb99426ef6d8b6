"""``deadmanctl dlq list`` and ``deadmanctl dlq replay``.

Exit codes: 0 done, 1 some letters were not replayed, 2 errors (the topic or a
target unreachable, bad settings or arguments).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from .._config import KafkaSettings, load_settings
from .._exceptions import ConfigurationError
from .dlq import (
    DEFAULT_DLQ_TOPIC,
    DeadLetter,
    ReplayResult,
    parse_offsets,
    read_dead_letters,
    replay_to_topic,
    replay_to_url,
    select,
)

__all__ = ["add_dlq_commands"]


def add_dlq_commands(commands: Any) -> None:
    """Add ``dlq list`` and ``dlq replay`` to the ``deadmanctl`` subcommands."""
    dlq = commands.add_parser("dlq", help="list and replay the dead-letter topic")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)

    listing = actions.add_parser("list", help="show dead letters and why they failed")
    _common(listing)
    listing.add_argument(
        "--offsets", help="only these: OFFSET or PARTITION:OFFSET, comma-separated"
    )
    listing.add_argument("--error-code", help="only letters whose knativeerrorcode is this")
    listing.set_defaults(run=_list)

    replay = actions.add_parser("replay", help="deliver dead letters again, as they were")
    _common(replay)
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-url", help="POST each event (binary mode) to this function URL")
    target.add_argument("--to-topic", help="produce each original record to this topic")
    replay.add_argument("--offsets", help="OFFSET or PARTITION:OFFSET, comma-separated")
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--error-code", help="letters whose knativeerrorcode is this")
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    replay.set_defaults(run=_replay)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    parser.add_argument(
        "--topic", default=DEFAULT_DLQ_TOPIC, help="dead-letter topic (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per operation")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _letters(
    args: argparse.Namespace, kafka: KafkaSettings, *, require_selection: bool
) -> list[DeadLetter]:
    try:
        offsets = parse_offsets(args.offsets) if args.offsets else None
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
    everything = bool(getattr(args, "all", False))
    if require_selection and offsets is None and not everything and args.error_code is None:
        raise ConfigurationError("choose letters with --offsets, --all or --error-code")
    letters = read_dead_letters(
        kafka.bootstrap_servers(args.bootstrap_servers),
        args.topic,
        timeout=args.timeout,
        config=kafka.kafka_consumer_config,
    )
    if offsets is None and args.error_code is None:
        return letters
    return select(letters, offsets=offsets, all_letters=everything, error_code=args.error_code)


def _list(args: argparse.Namespace) -> int:
    letters = _letters(args, load_settings(KafkaSettings), require_selection=False)
    if args.json:
        print(json.dumps([letter.as_json() for letter in letters], indent=2))
        return 0
    for letter in letters:
        print(_line(letter))
    print(f"{len(letters)} dead letter(s) on {args.topic}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    kafka = load_settings(KafkaSettings)
    letters = _letters(args, kafka, require_selection=True)
    target = args.to_url or f"topic {args.to_topic}"
    if args.dry_run:
        if args.json:
            print(
                json.dumps(
                    {
                        "dry_run": True,
                        "target": target,
                        "letters": [letter.as_json() for letter in letters],
                    },
                    indent=2,
                )
            )
        else:
            for letter in letters:
                print(f"would replay {_line(letter)}")
            print(f"{len(letters)} dead letter(s) would be replayed to {target}")
        return 0
    results: Sequence[ReplayResult]
    if args.to_url:
        results = replay_to_url(letters, args.to_url, timeout=args.timeout)
    else:
        results = replay_to_topic(
            letters,
            kafka.bootstrap_servers(args.bootstrap_servers),
            args.to_topic,
            timeout=args.timeout,
            config=kafka.kafka_consumer_config,
        )
    failed = [result for result in results if not result.ok]
    if args.json:
        print(
            json.dumps(
                {
                    "target": target,
                    "results": [
                        {**result.letter.as_json(), "replayed": result.ok, "detail": result.detail}
                        for result in results
                    ],
                },
                indent=2,
            )
        )
    else:
        for result in results:
            verb = "replayed" if result.ok else "FAILED"
            print(f"{verb} {result.letter.partition}:{result.letter.offset} -> {result.detail}")
        print(f"{len(results) - len(failed)} of {len(results)} replayed to {target}")
    return 1 if failed else 0


def _line(letter: DeadLetter) -> str:
    attributes = letter.attributes
    return (
        f"{letter.partition}:{letter.offset} type={attributes.get('type', '-')}"
        f" id={attributes.get('id', '-')} code={letter.error_code or '-'}"
        f" dest={letter.error_dest or '-'} reason={letter.reason!r}"
    )
