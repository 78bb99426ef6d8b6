"""Run the Kapacitor API emulator in the foreground, in a process of its own (the
benchmarks do, so that it does not share their GIL).

    python -m deadman_local.kapacitor_emulator --port 9092 \\
        --template measurement_series_not_fed_template=template.tick \\
        --alert-endpoint benthos=http://127.0.0.1:8080/alerts \\
        --alert-header 'benthos=Authorization:Bearer secret'

Logs one JSON line per request to stderr; stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from ._alerts import HttpPostEndpoint, KafkaCluster
from ._app import RequestRecord
from ._emulator import KapacitorEmulator
from ._http import ApiError
from ._server import serve

__all__ = ["main"]


def _log(event: dict[str, object]) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sys.stderr.write(json.dumps({"time": stamp, **event}) + "\n")
    sys.stderr.flush()


def _log_request(record: RequestRecord) -> None:
    fields = ("method", "path", "kind", "status", "duration_ms")
    _log({"event": "request", **{name: getattr(record, name) for name in fields}})


def _pairs(values: list[str], flag: str, parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            parser.error(f"{flag} expects NAME=VALUE, got {value!r}")
        pairs.append((name, rest))
    return pairs


def _endpoints(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[HttpPostEndpoint]:
    urls = dict(_pairs(args.alert_endpoint, "--alert-endpoint", parser))
    headers: dict[str, dict[str, str]] = {name: {} for name in urls}
    for name, header in _pairs(args.alert_header, "--alert-header", parser):
        key, sep, value = header.partition(":")
        if name not in urls or not sep or not key:
            parser.error(f"--alert-header expects a known NAME=Header:Value, got {header!r}")
        headers[name][key.strip()] = value.strip()
    return [HttpPostEndpoint(name, url, headers[name]) for name, url in urls.items()]


# Repeatable NAME=VALUE options: (flag, metavar, help).
_REPEATED = (
    ("--alert-endpoint", "NAME=URL", "an [[httppost]] endpoint alerts are posted to"),
    ("--alert-header", "NAME=Header:Value", "a header sent to endpoint NAME"),
    ("--kafka-cluster", "ID=BOOTSTRAP_SERVERS", "a [[kafka]] cluster alerts are written to"),
    ("--template", "ID=PATH", "create template ID from a TICKscript file at startup"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deadman_local.kapacitor_emulator",
        description="Emulator of Kapacitor's HTTP API (tasks, templates, deadman alerts) "
        "for tests and local runs. Not a Kapacitor: it processes no data.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092, help="0 picks a free port")
    parser.add_argument("--service-time-ms", type=float, default=0.0, help="time per API call")
    parser.add_argument("--concurrency", type=int, help="API calls served at once (default: any)")
    for flag, metavar, text in _REPEATED:
        parser.add_argument(flag, action="append", default=[], metavar=metavar, help=text)
    parser.add_argument(
        "--kapacitor-version",
        default="1.7.7",
        metavar="X.Y.Z",
        help="answer as this Kapacitor release where 1.5, 1.6 and 1.7 differ (default 1.7.7)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be >= 1")
    emulator = KapacitorEmulator(
        service_time=max(args.service_time_ms, 0.0) / 1000,
        concurrency=args.concurrency,
        endpoints=_endpoints(args, parser),
        kafka_clusters=[
            KafkaCluster(name, servers)
            for name, servers in _pairs(args.kafka_cluster, "--kafka-cluster", parser)
        ],
        version=f"{args.kapacitor_version}-emulator",
        request_log=None if args.quiet else _log_request,
    )
    for template_id, path in _pairs(args.template, "--template", parser):
        try:
            emulator.add_template(template_id, Path(path).read_text(encoding="utf-8"))
        except (OSError, ApiError) as exc:
            _log({"event": "error", "message": f"template {template_id}: {exc}"})
            return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    try:
        running = serve(emulator, args.host, args.port)
    except OSError as exc:
        _log({"event": "error", "message": f"cannot listen on {args.host}:{args.port}: {exc}"})
        return 1
    _log({"event": "listening", "url": running.url, "version": emulator.version})
    try:
        stop.wait()
    finally:
        running.close()
        _log({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
