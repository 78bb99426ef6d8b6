"""Knative's delivery rules: what the Kafka data plane retries (facts from its code)."""

from __future__ import annotations

import pytest

from deadman.knative import is_retried


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (None, True),
        (500, True),
        (503, True),
        (404, True),
        (408, True),
        (409, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (410, False),
        (422, False),
        (302, False),
    ],
)
def test_knative_is_retried_status(status: int | None, retried: bool) -> None:
    assert is_retried(status) is retried
