"""A fleet on a real Kapacitor 1.5.7 and InfluxDB 1.6.7: what each device costs,
how far one server goes, and what the template changes.

    .venv/bin/python bench/fleet.py                      # make bench-fleet (~32 min)
    .venv/bin/python bench/fleet.py --only ladder --sizes 1000 2000
    .venv/bin/python bench/fleet.py --only templates --template-devices 500

**ladder**: one fresh server, the shipped template at its 1 m period. At each size
the new devices are fed first (a point each every ``FEED_EVERY_S``), then their
tasks are made (100 one call at a time, the rest ``BULK_CONCURRENCY`` in flight: the
creation rate, idle at the first size and busy later); after a period to settle,
``SILENT`` fed devices stop being fed and the stage lasts until each of them has
alerted (or 4 periods). Over the stage: kapacitord's and influxd's CPU, InfluxDB's
queries per second (its ``/debug/vars``, sampled each second: the mean and the
busiest second), every alert the endpoint receives; at its end kapacitord's
memory. Alert latency is from the last point written for a silent device to its
CRITICAL at the endpoint; a silent device without one is a miss, a CRITICAL of any
other fed device a false alert. Five devices are never fed at all. At the largest
size the template's period is then set to 30 s and 10 s (every task is re-rendered)
and the stage repeats at each.

**templates**: the same fleet and writer on a fresh server per template, at a 20 s
period: the shipped batch template, the lean batch variant (query, deadman and
alert only) and the stream variant (InfluxDB's subscription feeds Kapacitor, no
query). Besides the costs: does a device that never sent alert, and does a device
that goes silent just before Kapacitor restarts?

**phases**: why a fed device's batch deadman fires (``fleet_phases``): ``--phase-devices``
fed tasks at ``--phase-period`` for ``--phase-periods`` periods, each task's query phase
against the aligned tick, and which fired.

**shards**: a bulk enable event through the product (``LifecycleService``) on one
real Kapacitor and on three (``KAPACITOR_URLS``), each with its own InfluxDB.

Results are merged into ``bench/results.json`` under ``fleet``; the markdown goes
to ``bench/results-fleet.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, machine, merged_run, say
from _fleet import ladder, markdown, template_variants
from _kapacitor import real_binaries, server_facts, skipped

RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results-fleet.md"
PARTS = ("ladder", "templates", "shards", "phases")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 2_000, 4_000])
    parser.add_argument("--periods", nargs="*", type=int, default=[30, 10])
    parser.add_argument("--ladder-period", type=float, default=60.0, help="seconds")
    parser.add_argument("--template-devices", type=int, default=1_000)
    parser.add_argument("--template-period", type=float, default=20.0, help="seconds")
    parser.add_argument("--shard-devices", type=int, default=600)
    parser.add_argument("--phase-devices", type=int, default=3_000)
    parser.add_argument("--phase-period", type=float, default=5.0, help="seconds")
    parser.add_argument("--phase-periods", type=int, default=60)
    args = parser.parse_args()
    binaries, reason = real_binaries()
    if binaries is None:
        print(json.dumps(skipped(reason)))
        return 1
    started = time.monotonic()
    context = {"server": server_facts(binaries), "machine": machine()}
    fleet: dict[str, Any] = {}
    if "ladder" in args.only:
        fleet["ladder"] = ladder(binaries, args.sizes, args.periods, args.ladder_period)
    if "templates" in args.only:
        fleet["templates"] = template_variants(
            binaries, args.template_devices, args.template_period
        )
    if "shards" in args.only:
        import fleet_shards

        log_dir = Path(tempfile.mkdtemp(prefix="bench-fleet-logs-"))
        fleet["shards"] = fleet_shards.run(binaries, args.shard_devices, log_dir)
    if "phases" in args.only:
        import fleet_phases

        fleet["phases"] = fleet_phases.run(
            binaries, args.phase_devices, args.phase_period, args.phase_periods
        )
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    results["fleet"] = merged_run(
        results.get("fleet", {}),
        fleet,
        context,
        parts=args.only,
        partial=set(args.only) != set(PARTS),
        started=started,
    )
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results["fleet"])
    RESULTS_MD.write_text(table)
    print(table)
    say(f"wrote {RESULTS_JSON.name} (fleet) and {RESULTS_MD.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
