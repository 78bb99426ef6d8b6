"""Run the Kapacitor API emulator in the foreground.

    python -m deadman_local.kapacitor_emulator --port 9092 \\
        --alert-endpoint benthos=http://127.0.0.1:8080/alerts \\
        --alert-header 'benthos=X-Token:secret'

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
from types import FrameType

from ._alerts import HttpPostEndpoint, KafkaCluster
from ._app import RequestRecord
from ._emulator import KapacitorEmulator
from ._errors import ApiError
from ._server import serve

__all__ = ["main"]


def _log(event: dict[str, object]) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sys.stderr.write(json.dumps({"time": stamp, **event}) + "\n")
    sys.stderr.flush()


def _log_request(record: RequestRecord) -> None:
    _log(
        {
            "event": "request",
            "method": record.method,
            "path": record.path,
            "kind": record.kind,
            "status": record.status,
            "duration_ms": record.duration_ms,
            "remote": record.remote_addr,
        }
    )


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
    auth: dict[str, tuple[str, str]] = {}
    for name, credentials in _pairs(args.alert_basic_auth, "--alert-basic-auth", parser):
        user, sep, password = credentials.partition(":")
        if name not in urls or not sep:
            parser.error("--alert-basic-auth expects a known NAME=user:password")
        auth[name] = (user, password)
    return [
        HttpPostEndpoint(name, url, headers[name], auth.get(name)) for name, url in urls.items()
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deadman_local.kapacitor_emulator",
        description="Emulator of Kapacitor's HTTP API (tasks, templates, deadman alerts) "
        "for tests and local runs. Not a Kapacitor: it processes no data.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092, help="0 picks a free port")
    parser.add_argument("--username", help="enable auth: basic or ?u=&p= credentials")
    parser.add_argument("--password", default="")
    parser.add_argument("--bearer-token", help="enable auth: accept this static bearer token")
    parser.add_argument(
        "--service-time-ms",
        type=float,
        default=0.0,
        help="capacity model: time each API call takes",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="capacity model: calls served at once (default unlimited)",
    )
    parser.add_argument(
        "--alert-endpoint",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="an [[httppost]] endpoint alerts are posted to",
    )
    parser.add_argument(
        "--alert-header",
        action="append",
        default=[],
        metavar="NAME=Header:Value",
        help="a header sent to endpoint NAME",
    )
    parser.add_argument(
        "--alert-basic-auth",
        action="append",
        default=[],
        metavar="NAME=user:password",
        help="basic auth for endpoint NAME",
    )
    parser.add_argument(
        "--kafka-cluster",
        action="append",
        default=[],
        metavar="ID=BOOTSTRAP_SERVERS",
        help="a [[kafka]] cluster the Kafka event handler writes alerts to",
    )
    parser.add_argument(
        "--silent-measurement",
        action="append",
        default=[],
        metavar="NAME",
        help="a measurement that never receives data: deadman tasks on it fire every interval",
    )
    parser.add_argument(
        "--strict-endpoints",
        action="store_true",
        help="tasks posting to an unknown endpoint fail to start",
    )
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="create template ID from a TICKscript file at startup",
    )
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
        username=args.username,
        password=args.password if args.username else None,
        bearer_token=args.bearer_token,
        service_time=max(args.service_time_ms, 0.0) / 1000,
        concurrency=args.concurrency,
        endpoints=_endpoints(args, parser),
        kafka_clusters=[
            KafkaCluster(name, servers)
            for name, servers in _pairs(args.kafka_cluster, "--kafka-cluster", parser)
        ],
        silent_measurements=args.silent_measurement,
        strict_endpoints=args.strict_endpoints,
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

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
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
