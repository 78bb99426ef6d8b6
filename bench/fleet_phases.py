"""Why a fed device's batch deadman can fire: each task's query phase against the
aligned tick, on the real Kapacitor 1.5.7 and InfluxDB 1.6.7.

The shipped template queries every period on the task's own schedule (``every``
without ``align``: from when the task started), while its deadman counts what the
query node emitted in each period aligned on the clock. A task whose query starts
just before an aligned instant emits just after it when InfluxDB answers late: one
interval sees nothing (CRITICAL), the next one two results (OK).

``devices`` fed tasks (a point each every period ÷ 3) run for ``periods`` periods
after a settling period; every CRITICAL is recorded. Each task's phase is when it
was last enabled (``last-enabled``), modulo the period, as a fraction of it. Kept: how
many fed devices fired, their phases, and how the phases of those that fired and of
all tasks fall in the last tenth of the period.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from _common import TASK_SUFFIX, TEMPLATE_FILE, TEMPLATE_ID, check, rounded, say
from _fleet import create, fed_server, install
from _kapacitor import API

from deadman_local.real_kapacitor import Binaries, RealKapacitor

LATE_SHARE = 0.1  # the last tenth of the period before an aligned instant


def phases(real: RealKapacitor, period_s: float) -> dict[str, float]:
    """Each device's task phase in [0, 1): its last start, modulo the period."""
    answer = httpx.get(
        f"{real.kapacitor_url}{API}/tasks",
        params={"pattern": "*" + TASK_SUFFIX, "fields": "last-enabled", "limit": 100_000},
        timeout=120,
    )
    check(answer.status_code == 200, f"list tasks: {answer.text[:300]}")
    found: dict[str, float] = {}
    for task in answer.json()["tasks"]:
        started = datetime.fromisoformat(str(task["last-enabled"]).replace("Z", "+00:00"))
        found[str(task["id"]).removesuffix(TASK_SUFFIX)] = (
            started.timestamp() % period_s
        ) / period_s
    return found


def run(binaries: Binaries, devices: int, period_s: float, periods: int) -> dict[str, Any]:
    names = [f"dev-{i}" for i in range(devices)]
    with fed_server(binaries, period_s / 3) as (recorder, real, feeder):
        install(real, TEMPLATE_ID, TEMPLATE_FILE.read_text())
        feeder.add(names)
        create(real, names, TEMPLATE_ID, period_s)
        time.sleep(2 * period_s)  # every task has evaluated once: the first count is a reference
        started = time.time()
        say(f"fleet phases: {devices:,} fed tasks at {period_s:g} s, {periods} periods")
        time.sleep(periods * period_s)
        fired = sorted(recorder.since(started))
        by_task = phases(real, period_s)
        # A query that failed emits nothing either: Kapacitor logs each one.
        failed_queries = real.log("kapacitor").count("error executing query")
    check(len(by_task) == devices, f"{len(by_task)} tasks listed of {devices}")
    late = [device for device, phase in by_task.items() if phase >= 1 - LATE_SHARE]
    fired_late = [device for device in fired if by_task[device] >= 1 - LATE_SHARE]
    result = {
        "devices": devices,
        "period_s": period_s,
        "periods": periods,
        "fed_fired": len(fired),
        "fired_phases": [rounded(by_task[device], 3) for device in fired],
        "late_share": LATE_SHARE,
        "tasks_in_late_share": len(late),
        "fired_in_late_share": len(fired_late),
        "failed_queries": failed_queries,
    }
    say(f"fleet phases: {result}")
    return result


def markdown(found: dict[str, Any]) -> list[str]:
    share = f"the last {found['late_share']:.0%} of the period"
    return [
        f"## Fed devices that fired: {found['devices']:,} fed tasks at "
        f"{found['period_s']:g} s for {found['periods']} periods",
        "",
        f"{found['fed_fired']} fired CRITICAL; {found['fired_in_late_share']} of them started "
        f"in {share} before an aligned instant, where {found['tasks_in_late_share']:,} of "
        f"{found['devices']:,} tasks started. Phases of those that fired: "
        f"{', '.join(f'{p:g}' for p in found['fired_phases']) or 'none'}. Queries that "
        f"failed (Kapacitor's log): {found['failed_queries']}.",
        "",
    ]
