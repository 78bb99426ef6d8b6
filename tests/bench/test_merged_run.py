"""What a benchmark run writes over the results of an earlier one."""

from __future__ import annotations

import time

from _common import merged_run

EARLIER = {
    "machine": {"cpu_model": "earlier"},
    "ladder": {"steps": 3},
    "shards": {"speed_up": 1.0},
    "duration_s": 100.0,
    "finished_at": "2026-12-01 10:00:00 UTC",
    "partial_runs": {"shards": {"machine": {"cpu_model": "older"}}},
}
CONTEXT = {"machine": {"cpu_model": "now"}}


def test_merged_run_full_run_stands_alone() -> None:
    merged = merged_run(
        EARLIER,
        {"ladder": {"steps": 4}},
        CONTEXT,
        parts=["ladder"],
        partial=False,
        started=time.monotonic(),
    )
    assert merged["machine"] == {"cpu_model": "now"}
    assert merged["ladder"] == {"steps": 4}
    assert "shards" not in merged
    assert "partial_runs" not in merged, "no stale record of an older partial run"
    assert merged["finished_at"] != EARLIER["finished_at"]


def test_merged_run_partial_run_keeps_the_full_runs_context_and_time() -> None:
    merged = merged_run(
        EARLIER,
        {"shards": {"speed_up": 1.7}},
        CONTEXT,
        parts=["shards"],
        partial=True,
        started=time.monotonic(),
    )
    assert merged["machine"] == {"cpu_model": "earlier"}
    assert (merged["duration_s"], merged["finished_at"]) == (100.0, EARLIER["finished_at"])
    assert merged["ladder"] == {"steps": 3}
    assert merged["shards"] == {"speed_up": 1.7}
    assert merged["partial_runs"]["shards"]["machine"] == {"cpu_model": "now"}


def test_merged_run_partial_run_without_a_full_one_stands_alone() -> None:
    merged = merged_run(
        {},
        {"shards": {"speed_up": 1.7}},
        CONTEXT,
        parts=["shards"],
        partial=True,
        started=time.monotonic(),
    )
    assert merged["machine"] == {"cpu_model": "now"}
    assert "partial_runs" not in merged
    assert "finished_at" in merged
