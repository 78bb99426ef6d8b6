"""``python -m deadman_local.kafka_source``: run the manifests' KafkaSources locally."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence

from ._standin import DEFAULT_SINKS_DIR, DEFAULT_SOURCES_DIR, KafkaSourceStandIn


def _service(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"expected NAME=URL, got {text!r}")
    return name, url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deadman_local.kafka_source")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument("--sources-dir", default=str(DEFAULT_SOURCES_DIR))
    parser.add_argument("--sinks-dir", default=str(DEFAULT_SINKS_DIR))
    parser.add_argument("--namespace", default="default")
    parser.add_argument(
        "--service",
        action="append",
        type=_service,
        default=[],
        metavar="NAME=URL",
        help="local URL of a Service a sink ref names (repeatable)",
    )
    args = parser.parse_args(argv)
    if not args.bootstrap_servers:
        parser.error("--bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stand_in = KafkaSourceStandIn(
        args.bootstrap_servers,
        dict(args.service),
        sources_dir=args.sources_dir,
        sinks_dir=args.sinks_dir,
        namespace=args.namespace,
    )
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    stand_in.start(wait_assigned=False)
    try:
        done.wait()
    finally:
        stand_in.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
