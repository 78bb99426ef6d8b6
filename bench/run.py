"""Run every benchmark, write ``bench/results.json`` and ``bench/results.md``, print the table.

    .venv/bin/python bench/run.py              # all of them (make bench)
    .venv/bin/python bench/run.py --only bulk_lifecycle alert_burst
    .venv/bin/python bench/run.py --only kapacitor_rates   # a real Kapacitor's creation rate
    .venv/bin/python bench/run.py --only ordered_lifecycle # the ordered layout's throughput
    .venv/bin/python bench/run.py --only datapath_storm    # InfluxDB paused under 1,000 tasks
    .venv/bin/python bench/run.py --profile    # also py-spy bulk and burst into bench/profiles/

Every figure is measured with its limit or baseline in the same run, side by side,
because absolute times drift on a shared 2-core machine. A benchmark whose
correctness check fails (a task missing, an alert not on the topic) stops the run
with an error; a missed performance target does not, it shows in ``targets_met``.
Where a real Kapacitor 1.5.7 and InfluxDB can be found (deadman_local.real_kapacitor),
the bulk event also runs against it and ``kapacitor_rates`` measures its creation
rate; where not, one line says why and those parts are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alert_burst
import alert_storm
import bulk_lifecycle
import cold_start
import datapath_storm
import e2e_local
import kapacitor_rates
import ordered_lifecycle
from _common import BENCH_DIR, PROFILES_DIR, machine, merged_run, say
from profile_summary import summarise

RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results.md"
NAMES = (
    "bulk_lifecycle",
    "kapacitor_rates",
    "ordered_lifecycle",
    "alert_burst",
    "alert_storm",
    "datapath_storm",
    "cold_start",
    "e2e_local",
)


def _bulk(log_dir: Path, profile: bool) -> dict[str, Any]:
    raw_dir = Path(tempfile.mkdtemp(prefix="bench-pyspy-")) if profile else None
    result = bulk_lifecycle.run(log_dir=log_dir, profile_dir=raw_dir)
    if raw_dir is not None:
        PROFILES_DIR.mkdir(parents=True, exist_ok=True)
        for stacks in sorted(raw_dir.glob("*.txt")):
            title = f"py-spy --gil, {stacks.stem}: bulk enable event (S = 10 ms, C = 8)"
            (PROFILES_DIR / f"{stacks.stem}.txt").write_text(summarise(stacks, 40, title))
    return result


def _burst(log_dir: Path, profile: bool) -> dict[str, Any]:
    raw_dir = Path(tempfile.mkdtemp(prefix="bench-pyspy-")) if profile else None
    result = alert_burst.run(log_dir=log_dir, profile_dir=raw_dir)
    if raw_dir is not None:
        PROFILES_DIR.mkdir(parents=True, exist_ok=True)
        for stacks in sorted(raw_dir.glob("*.txt")):
            title = f"py-spy --gil, {stacks.stem}: 2,000 alerts from 16 clients"
            (PROFILES_DIR / f"{stacks.stem}.txt").write_text(summarise(stacks, 40, title))
    return result


def _targets(results: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    if "bulk_lifecycle" in results:
        bulk = results["bulk_lifecycle_setup"]
        met["bulk_lifecycle_ratio_to_limit"] = bool(bulk["met"])
        met["bulk_lifecycle_ratio_to_floor"] = bool(bulk["met_floor"])
        met["bulk_lifecycle_linear"] = bool(bulk["linear"])
    if "alert_burst" in results:
        burst = results["alert_burst"]
        met["alert_burst_lost"] = burst["lost"] == 0
        met["alert_burst_seconds"] = burst["seconds"] <= burst["target"]["seconds_max"]
        met["alert_burst_ratio_to_minimal_function"] = (
            burst["ratio_to_minimal_function"] <= burst["target"]["ratio_to_minimal_function_max"]
        )
    if "alert_storm" in results:
        storm = results["alert_storm"]
        met["alert_storm_httppost_lost"] = storm["httppost"]["lost"] == 0
        met["alert_storm_kafka_lost"] = (
            storm["kafka"]["lost"] == 0 and storm["kafka"]["dead_lettered"] == 0
        )
    if results.get("datapath_storm", {}).get("available", True) and "datapath_storm" in results:
        path = results["datapath_storm"]
        met["datapath_storm_no_false_unmarked"] = path["fed_critical_unmarked"] == 0
        met["datapath_storm_silent_reported"] = path["silent_reported"] == path["silent"]
    if "cold_start" in results:
        cold = results["cold_start"]
        limit = cold["target"]["first_response_s_max"]
        met["cold_start_first_response"] = all(
            t["first_response_s"] <= limit
            for name, t in cold["targets"].items()
            if name in cold_start.FIVE
        )
        met["cold_start_worker_rss"] = cold["worker_rss_mb"] <= cold["target"]["worker_rss_mb_max"]
        met["cold_start_import_ratio_to_minimal"] = all(
            ratio <= cold["target"]["import_ratio_to_minimal_max"]
            for ratio in cold["import_ratio_to_minimal"].values()
        )
    met["all"] = all(met.values())
    return met


def markdown(results: dict[str, Any]) -> str:
    box = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['finished_at']} in {results['duration_s']} s on {box['cpu_model']}, "
        f"{box['cores']} cores, Python {box['python']} (load average at start "
        f"{', '.join(str(x) for x in box['load_average_at_start'])}).",
        "",
    ]
    if "bulk_lifecycle" in results:
        setup = results["bulk_lifecycle_setup"]
        lines += [
            f"## Bulk lifecycle (enable, S = {setup['service_time_s'] * 1000:g} ms, "
            f"C = {setup['concurrency']}, BULK_CONCURRENCY = {setup['bulk_concurrency']})",
            "",
            "| devices | seconds | Kapacitor calls | limit (s) | ratio to limit "
            "| ms per device | floor (s) | floor / limit | ratio to floor |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {e['devices']:,} | {e['seconds']:.2f} | {e['calls']:,} | "
            f"{e['limit_seconds']:.2f} | {e['ratio_to_limit']:.3f} | {e['ms_per_device']:.3f} | "
            f"{e['floor_seconds']:.2f} | {e['floor_ratio_to_limit']:.3f} | "
            f"{e['ratio_to_floor']:.3f} |"
            for e in results["bulk_lifecycle"]
        ]
        lines += [
            "",
            f"Targets: ratio to limit <= {setup['target']['ratio_to_limit_max']} and ratio to "
            f"floor <= {setup['target']['ratio_to_floor_max']} at every N; "
            f"ms per device spread (max/min) {setup['ms_per_device_spread']}.",
            "",
        ]
    if "bulk_lifecycle_real" in results:
        lines += bulk_lifecycle.real_markdown(
            results["bulk_lifecycle_real"], results.get("bulk_lifecycle")
        )
    if "kapacitor_rates" in results:
        lines += kapacitor_rates.markdown(results["kapacitor_rates"])
    if "ordered_lifecycle" in results:
        lines += ordered_lifecycle.markdown(results["ordered_lifecycle"])
    if "alert_burst" in results:
        b = results["alert_burst"]
        lines += [
            f"## Alert burst ({b['alerts']:,} alerts, {b['clients']} clients, "
            f"{b['workers']} worker x {b['threads']} threads)",
            "",
            "| seconds | alerts/s | p50 ms | p99 ms | on topic | lost "
            "| minimal function s | ratio to minimal function | raw producer s | ratio to raw |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {b['seconds']:.2f} | {b['alerts_per_second']:,.0f} | {b['p50_ms']:.1f} | "
            f"{b['p99_ms']:.1f} | {b['on_topic']:,} | {b['lost']} | "
            f"{b['minimal_function_seconds']:.2f} | {b['ratio_to_minimal_function']:.2f} | "
            f"{b['raw_producer_seconds']:.2f} | {b['ratio_to_raw']:.2f} |",
            "",
            f"Targets: 0 lost, <= {b['target']['seconds_max']} s, ratio to the minimal "
            f"function <= {b['target']['ratio_to_minimal_function_max']} (ratio to raw: "
            "information).",
            "",
        ]
    if "alert_storm" in results:
        st = results["alert_storm"]
        h, k = st["httppost"], st["kafka"]
        lines += [
            f"## Alert storm ({st['alerts']:,} tasks fire CRITICAL at once, "
            f"{st['pool']:,} emulator threads)",
            "",
            "| path | seconds | p50 ms | p99 ms | failed | retries | on topic | lost "
            "| duplicates | dead-lettered |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| httppost (POST per alert) | {h['seconds']:.2f} | {h['p50_ms']:.1f} | "
            f"{h['p99_ms']:.1f} | {h['failed_posts']} | - | {h['on_topic']:,} | {h['lost']} | "
            f"{h['duplicates']} | - |",
            f"| kafka (record per alert, KafkaSource) | {k['seconds']:.2f} | "
            f"{k['kapacitor_write_p50_ms']:.1f} | {k['kapacitor_write_p99_ms']:.1f} | 0 | "
            f"{k['retries']} | {k['on_topic']:,} | {k['lost']} | {k['duplicates']} | "
            f"{k['dead_lettered']} |",
            "",
            "httppost: first POST to last answer, latency per POST as the emulator saw it. "
            "kafka: firing to the last event on the topic; latency per record write "
            f"(all written in {k['kapacitor_write_seconds']:.2f} s).",
            "",
            "Target: 0 lost on both paths, 0 dead-lettered.",
            "",
        ]
    if "datapath_storm" in results:
        lines += datapath_storm.markdown(results["datapath_storm"])
    if "cold_start" in results:
        c = results["cold_start"]
        lines += [
            f"## Cold start (median of {c['launches_per_target']} launches)",
            "",
            "| target | launch to listening (s) | launch to first 2xx (s) | worst (s) |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {t['listening_s']:.3f} | {t['first_response_s']:.3f} | {t['max_s']:.3f} |"
            for name, t in c["targets"].items()
        ]
        memory = c["worker_memory_by_target"]
        lines += [
            "",
            f"`create_app` in a fresh interpreter (median of {c['import_runs']} alternating runs):",
            "",
            "| target | ms | minimal function ms | ratio to minimal "
            "| settings floor ms | ratio to settings floor |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {i['import_ms']:.1f} | {i['minimal_ms']:.1f} | "
            f"{i['import_ratio_to_minimal']:.3f} | {i['settings_floor_ms']:.1f} | "
            f"{i['import_ratio_to_settings_floor']:.3f} |"
            for name, i in c["imports"].items()
        ]
        attribution = c["import_attribution"]
        lines += [
            "",
            "Where `create_app`'s time goes, by library (`python -X importtime`, median of "
            f"{attribution['runs']} alternating runs, importtime's overhead included; "
            "bench/import_profile.py):",
            "",
            "| create_app of | total ms | framework | pydantic | pydantic-settings | project "
            "| other | outside imports | ratio to minimal | ratio without pydantic(-settings) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = {f"minimal `{s}` function": m for s, m in attribution["minimal"].items()}
        rows.update(attribution["targets"])
        lines += [
            f"| {name} | {a['total_ms']:.1f} | {a['framework_ms']:.1f} | {a['pydantic_ms']:.1f} "
            f"| {a['pydantic_settings_ms']:.1f} | {a['project_ms']:.1f} "
            f"| {a['other_ms']:.1f} | {a['outside_imports_ms']:.1f} "
            f"| {a.get('ratio_to_minimal', 1.0):.3f} "
            f"| {a.get('ratio_without_settings_libraries', 1.0):.3f} |"
            for name, a in rows.items()
        ]
        lines += [
            "",
            f"Worker RSS after {c['requests_before_rss']:,} requests: "
            + ", ".join(
                f"{name} {m['rss_mb']} MB (PSS {m['pss_mb']} MB)" for name, m in memory.items()
            )
            + ".",
            "",
            f"Targets: first 2xx <= {c['target']['first_response_s_max']} s, "
            f"worker RSS <= {c['target']['worker_rss_mb_max']} MB, import ratio to minimal "
            f"<= {c['target']['import_ratio_to_minimal_max']} for every target.",
            "",
        ]
    if "e2e_local" in results:
        e = results["e2e_local"]
        lines += [
            f"## Local end-to-end latency ({e['records']} records, one at a time)",
            "",
            "| p50 ms | p90 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|",
            f"| {e['p50_ms']:.1f} | {e['p90_ms']:.1f} | {e['p99_ms']:.1f} | {e['max_ms']:.1f} |",
            "",
        ]
    lines += ["## Targets met", ""]
    lines += [f"- {name}: {'yes' if ok else 'NO'}" for name, ok in results["targets_met"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the bulk and burst runs into bench/profiles/ (slows them: not for figures)",
    )
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    args = parser.parse_args()
    log_dir: Path = args.logs or Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    say(f"logs in {log_dir}")

    started = time.monotonic()
    context = {"machine": machine()}
    measured: dict[str, Any] = {}
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "bulk_lifecycle": lambda: _bulk(log_dir, args.profile),
        "alert_burst": lambda: _burst(log_dir, args.profile),
        "kapacitor_rates": kapacitor_rates.run,
        "ordered_lifecycle": ordered_lifecycle.run,
        "alert_storm": lambda: alert_storm.run(log_dir=log_dir),
        "datapath_storm": lambda: datapath_storm.run(log_dir=log_dir),
        "cold_start": lambda: cold_start.run(log_dir=log_dir),
        "e2e_local": lambda: e2e_local.run(log_dir=log_dir),
    }
    for name in NAMES:
        if name not in args.only:
            continue
        say(f"running {name}")
        outcome = runners[name]()
        if name == "bulk_lifecycle":
            measured["bulk_lifecycle_real"] = outcome.pop("real")
            measured["bulk_lifecycle"] = outcome.pop("entries")
            measured["bulk_lifecycle_setup"] = outcome
        else:
            measured[name] = outcome
    # A partial run keeps the other benchmarks' figures and the machine they were
    # measured on; each re-run entry says where and when it was measured.
    earlier = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    partial = set(args.only) != set(NAMES)
    names = [name for name in NAMES if name in args.only]
    results = merged_run(earlier, measured, context, parts=names, partial=partial, started=started)
    results["targets_met"] = _targets(results)

    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    RESULTS_MD.write_text(table)
    print(table)
    say(f"wrote {RESULTS_JSON.relative_to(BENCH_DIR.parent)} and {RESULTS_MD.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
