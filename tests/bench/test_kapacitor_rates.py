"""The figures bench/kapacitor_rates.py derives from what it measured."""

from __future__ import annotations

import pytest
from _common import BenchError
from _kapacitor import per_second
from kapacitor_rates import memory_growth


def test_a_rate_is_a_count_over_seconds() -> None:
    assert per_second(1_000, 40.0) == 25.0
    assert per_second(7, 3.0) == 2.3
    with pytest.raises(BenchError):
        per_second(5, 0.0)


def test_memory_grows_per_task_in_kib() -> None:
    fresh = {"rss_mb": 40.0, "go_heap_mb": 6.0}
    after = {"rss_mb": 140.0, "go_heap_mb": 106.0}
    assert memory_growth(fresh, after, 50) == {
        "rss_mb_fresh": 40.0,
        "rss_mb_after": 140.0,
        "rss_kib_per_task": 2048.0,
        "go_heap_mb_fresh": 6.0,
        "go_heap_mb_after": 106.0,
        "go_heap_kib_per_task": 2048.0,
    }
