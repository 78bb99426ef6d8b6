"""Data-path storm: InfluxDB paused under a fleet, on the real Kapacitor 1.5.7 and
InfluxDB 1.6.7 (docs/datapath.md).

``devices`` device tasks (the project's template, ``period`` as TASK_EXTRA_VARS
would set it) run on a fresh real Kapacitor; a writer feeds all but ``silent`` of
them every second; the callback runs as deployed (one gunicorn worker, 20 threads)
behind Kapacitor's ``[[httppost]]`` endpoint with ``INFLUXDB_URL`` (through a
counting proxy) and the Kafka emitter on the embedded Tansu; InfluxDB stores its
monitor statistics every second (the canary). Then:

1. the devices' own queries are counted (InfluxDB's ``/debug/vars`` ``queryReq``)
   over ``measure_periods`` periods;
2. the data-path task is installed as ``deadmanctl install-template`` does, and the
   queries counted again: the difference is the task's load;
3. the silent devices stop, InfluxDB is paused (SIGSTOP) for ``pause_periods``
   periods, then continued; the events topic is read as it fills.

Measured: detection delay (pause to the degraded event read from the topic, and to
its tick), restored delay (continue to the restored event), marked and unmarked
CRITICALs of fed devices (a false unmarked one is a fleet outage paged: must be 0),
silent devices reported unmarked after the recovery and how long after, fed
devices' OKs, and the requests the callback made to InfluxDB meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    KAPACITOR_DB,
    ROOT,
    TEMPLATE_FILE,
    TEMPLATE_ID,
    callback_env,
    check,
    rounded,
    say,
)
from _datapath import CountingProxy, EventWatcher, Seen, Writer, influxdb_requests
from _kapacitor import BareClient, real_binaries, server_facts, server_line, skipped

from deadman import InstallerSettings, KapacitorClient, influxql_duration_ns
from deadman.ops.datapath import install_datapath
from deadman.ops.template import install_template
from deadman_local.broker import EmbeddedBroker, create_topics
from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint
from deadman_local.real_kapacitor import RealKapacitor

DEVICES = 1_000
SILENT = 10
PERIOD = "10s"
PAUSE_PERIODS = 3
MEASURE_PERIODS = 3
TOPIC = "bench.datapath-events"
STOPPED, RESTARTED = "historicization-stopped", "historicization-restarted"
DEGRADED, RESTORED = "deadman-datapath-degraded", "deadman-datapath-restored"


def queries_per_second(url: str, seconds: float) -> float:
    """InfluxDB's query requests per second over the next ``seconds``."""
    before, started = influxdb_requests(url)["queryReq"], time.monotonic()
    time.sleep(seconds)
    return rounded((influxdb_requests(url)["queryReq"] - before) / (time.monotonic() - started), 2)


def installer(real: RealKapacitor, period: str) -> InstallerSettings:
    return InstallerSettings(
        kapacitor_url=real.kapacitor_url,
        kapacitor_db=KAPACITOR_DB,
        influxdb_url=real.influxdb_url,
        task_extra_vars={"period": {"type": "duration", "value": period}},
    )


def outcome(
    events: list[Seen],
    fed: list[str],
    silent: list[str],
    paused: float,
    resumed: float,
    paused_at: float,
) -> dict[str, Any]:
    """The figures and checks of the storm, from the events read since the pause."""
    after = [event for event in events if event.arrived >= paused]
    [degraded] = [event for event in after if event.type == DEGRADED]
    [restored] = [event for event in after if event.type == RESTORED]
    fed_set, silent_set = set(fed), set(silent)
    stopped = [e for e in after if e.type == STOPPED and e.subject in fed_set]
    recovered = {e.subject for e in after if e.type == RESTARTED and e.subject in fed_set}
    reports = [e for e in after if e.type == STOPPED and e.subject in silent_set and not e.marked]
    first_report: dict[str, float] = {}
    for event in sorted(reports, key=lambda e: e.arrived):
        if event.time >= restored.time:
            first_report.setdefault(event.subject, event.arrived)
    return {
        "detection_delay_s": rounded(degraded.arrived - paused, 2),
        "degraded_tick_after_pause_s": rounded(degraded.time.timestamp() - paused_at, 2),
        "restored_delay_s": rounded(restored.arrived - resumed, 2),
        "fed_critical_marked": sum(1 for e in stopped if e.marked),
        "fed_critical_unmarked": sum(1 for e in stopped if not e.marked),
        "fed_recovered": len(recovered & {e.subject for e in stopped}),
        "silent_reported": len(first_report),
        "silent_reported_after_resume_max_s": rounded(
            max(first_report.values(), default=resumed) - resumed, 2
        ),
    }


def settled(events: list[Seen], silent: list[str], paused: float) -> bool:
    """Restored, and every silent device reported unmarked since."""
    restored = [e for e in events if e.type == RESTORED and e.arrived >= paused]
    if not restored:
        return False
    reported = {
        e.subject
        for e in events
        if e.type == STOPPED and not e.marked and e.time >= restored[0].time
    }
    return set(silent) <= reported


def run(
    devices: int = DEVICES,
    silent: int = SILENT,
    period: str = PERIOD,
    pause_periods: int = PAUSE_PERIODS,
    measure_periods: int = MEASURE_PERIODS,
    log_dir: Path | None = None,
) -> dict[str, Any]:
    binaries, reason = real_binaries()
    if binaries is None:
        return skipped(reason)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-datapath-"))
    seconds = influxql_duration_ns(period) / 1e9
    names = [f"dp-{n}" for n in range(devices)]
    fed, quiet = names[silent:], names[:silent]
    callback = FunctionProcess(
        "alert_callback",
        log_path=log_dir / "datapath-callback.log",
        source=ROOT / "functions/main.py",
    )
    endpoint = HttpPostEndpoint(TEMPLATE_ENDPOINT, callback.url)
    with (
        EmbeddedBroker(log_path=log_dir / "datapath-tansu.log") as broker,
        RealKapacitor(
            binaries, db=KAPACITOR_DB, endpoints=[endpoint], influxdb_monitor_interval="1s"
        ) as real,
        CountingProxy(real.influxdb_url) as proxy,
    ):
        create_topics(broker.bootstrap_servers, [TOPIC], partitions=3)
        real.wait_for_monitor()
        settings = installer(real, period)
        with KapacitorClient(settings) as client:
            install_template(client, TEMPLATE_ID, TEMPLATE_FILE.read_text())
        say(f"datapath storm: creating {devices} tasks at period {period}")
        period_var = {"period": {"type": "duration", "value": influxql_duration_ns(period)}}
        BareClient(real.kapacitor_url, extra_vars=period_var).create_all(names, in_flight=8)
        callback.env = callback_env(
            broker.bootstrap_servers,
            TOPIC,
            INFLUXDB_URL=proxy.base_url,
            KAPACITOR_URL=real.kapacitor_url,
        )
        with (
            callback,
            Writer(real.influxdb_url, KAPACITOR_DB, names) as writer,
            EventWatcher(broker.bootstrap_servers, TOPIC) as watcher,
        ):
            time.sleep(2 * seconds)  # every deadman evaluated, healthy
            devices_qps = queries_per_second(real.influxdb_url, measure_periods * seconds)
            with KapacitorClient(settings) as client:
                install_datapath(client, settings, TEMPLATE_FILE.read_text())
            time.sleep(2 * seconds)
            with_datapath_qps = queries_per_second(real.influxdb_url, measure_periods * seconds)
            asked_before = proxy.snapshot()
            writer.silence(quiet)
            paused, paused_at = time.monotonic(), time.time()
            real.pause_influxdb()
            time.sleep(pause_periods * seconds)
            real.resume_influxdb()
            resumed = time.monotonic()
            watcher.wait(
                "restored, and the silent devices reported",
                lambda events: settled(events, quiet, paused),
                8 * seconds,
            )
            time.sleep(seconds)  # the fed devices' OKs
            events = watcher.seen()
            window = time.monotonic() - paused
            asked = proxy.snapshot() - asked_before
    figures = outcome(events, fed, quiet, paused, resumed, paused_at)
    check(figures["fed_critical_unmarked"] == 0, f"false unmarked CRITICALs: {figures}")
    check(figures["silent_reported"] == silent, f"silent devices not reported: {figures}")
    return {
        "real": server_facts(binaries),
        "devices": devices,
        "silent": silent,
        "period": period,
        "pause_periods": pause_periods,
        **figures,
        "influxdb_queries_per_s": {
            "devices": devices_qps,
            "datapath_task": rounded(with_datapath_qps - devices_qps, 2),
            "datapath_task_expected": rounded(6 / seconds, 2),
            "callback_during_storm": rounded(asked["/query"] / window, 2),
            "callback_pings_during_storm": rounded(asked["/ping"] / window, 2),
        },
        "callback_influxdb_requests": dict(asked),
        "target": {"fed_critical_unmarked": 0, "silent_reported": silent},
        "met": figures["fed_critical_unmarked"] == 0 and figures["silent_reported"] == silent,
    }


def markdown(result: dict[str, Any]) -> list[str]:
    """The section of bench/results.md."""
    if not result.get("available", True) or "devices" not in result:
        return [f"## Data-path storm: skipped ({result.get('reason', 'no real Kapacitor')})", ""]
    load = result["influxdb_queries_per_s"]
    return [
        f"## Data-path storm ({result['devices']:,} tasks at {result['period']}, "
        f"{result['silent']} silent, InfluxDB paused {result['pause_periods']} periods)",
        "",
        f"{server_line(result['real'])}",
        "",
        "| detection s | restored s | fed marked | fed unmarked | fed recovered "
        "| silent reported | silent reported after continue s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['detection_delay_s']:.2f} | {result['restored_delay_s']:.2f} "
        f"| {result['fed_critical_marked']} | {result['fed_critical_unmarked']} "
        f"| {result['fed_recovered']} | {result['silent_reported']} "
        f"| {result['silent_reported_after_resume_max_s']:.2f} |",
        "",
        f"InfluxDB queries/s: the devices' own {load['devices']}, the data-path task "
        f"{load['datapath_task']} (expected {load['datapath_task_expected']}), the callback "
        f"during the storm {load['callback_during_storm']} (and "
        f"{load['callback_pings_during_storm']} pings/s).",
        "",
        "Targets: 0 fed devices' CRITICALs unmarked, every silent device reported.",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--silent", type=int, default=SILENT)
    parser.add_argument("--period", default=PERIOD)
    parser.add_argument("--pause-periods", type=int, default=PAUSE_PERIODS)
    args = parser.parse_args()
    print(json.dumps(run(args.devices, args.silent, args.period, args.pause_periods), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
