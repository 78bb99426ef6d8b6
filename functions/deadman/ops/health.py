"""Is Kapacitor's task API alive? The check behind ``deadmanctl kapacitor check``.

A Kapacitor wedged in its start/stop deadlock (kapacitor#1829) still answers
``/ping`` while every task call hangs, so ping alone says nothing. The check
pings, then lists one task, each with a deadline: a list that has a task to
show needs the task master, which is what the deadlock holds.

With several Kapacitor shards each is checked (at once), one line each; the
command's exit code is the worst shard's.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .._exceptions import KapacitorError, KapacitorUnavailableError
from .._kapacitor import KapacitorClient
from .._shard_clients import KapacitorShards
from . import EXIT_ERROR

__all__ = [
    "KapacitorHealth",
    "KapacitorState",
    "ShardsHealth",
    "check_kapacitor",
    "check_kapacitors",
]


class KapacitorState(enum.StrEnum):
    HEALTHY = "healthy"
    WEDGED = "wedged"  # ping answers, the task API does not
    DOWN = "down"  # ping does not answer, or the task API fails
    # Refused the credentials: nothing can be told (one shard of several).
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class KapacitorHealth:
    state: KapacitorState
    url: str
    version: str = ""
    ping_seconds: float | None = None
    tasks_seconds: float | None = None
    detail: str = ""

    @property
    def exit_code(self) -> int:
        if self.state is KapacitorState.UNCHECKED:
            return EXIT_ERROR
        return 0 if self.state is KapacitorState.HEALTHY else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "url": self.url,
            "version": self.version,
            "ping_seconds": self.ping_seconds,
            "tasks_seconds": self.tasks_seconds,
            "detail": self.detail,
            "exit_code": self.exit_code,
        }

    def describe(self) -> str:
        timing = []
        if self.ping_seconds is not None:
            timing.append(f"ping {self.ping_seconds * 1000:.0f} ms")
        if self.tasks_seconds is not None:
            timing.append(f"task list {self.tasks_seconds * 1000:.0f} ms")
        version = f" {self.version}" if self.version else ""
        head = f"Kapacitor{version} at {self.url}: {self.state.value}"
        return (
            head
            + (f" ({', '.join(timing)})" if timing else "")
            + (f": {self.detail}" if self.detail else "")
        )


def check_kapacitor(client: KapacitorClient, deadline: float) -> KapacitorHealth:
    """Ping, then list one task, each within ``deadline`` seconds.

    A Kapacitor that refuses the credentials raises ``KapacitorError`` (the
    check cannot tell anything then); every other failure is a state.
    """
    started = time.monotonic()
    try:
        version = client.ping(deadline=deadline)
    except KapacitorUnavailableError as error:
        if error.status_code in (401, 403):
            raise
        return KapacitorHealth(KapacitorState.DOWN, client.url, detail=error.message)
    pinged = time.monotonic()
    try:
        client.list_page(fields=("executing",), limit=1, deadline=deadline)
    except KapacitorUnavailableError as error:
        if error.status_code in (401, 403):
            raise
        if isinstance(error.__cause__, httpx.TimeoutException):
            detail = (
                f"/ping answers but the task API did not answer within {deadline:g} s:"
                " wedged (kapacitor#1829); restart Kapacitor"
            )
            return KapacitorHealth(
                KapacitorState.WEDGED, client.url, version, pinged - started, detail=detail
            )
        return KapacitorHealth(
            KapacitorState.DOWN, client.url, version, pinged - started, detail=error.message
        )
    except KapacitorError as error:
        return KapacitorHealth(
            KapacitorState.DOWN, client.url, version, pinged - started, detail=error.message
        )
    return KapacitorHealth(
        KapacitorState.HEALTHY, client.url, version, pinged - started, time.monotonic() - pinged
    )


@dataclass(frozen=True)
class ShardsHealth:
    """The health of every shard; the worst decides the exit code."""

    healths: tuple[KapacitorHealth, ...]

    @property
    def exit_code(self) -> int:
        return max(health.exit_code for health in self.healths)

    def as_json(self) -> dict[str, Any]:
        return {
            "shards": [health.as_json() for health in self.healths],
            "unhealthy": [h.url for h in self.healths if h.state is not KapacitorState.HEALTHY],
            "exit_code": self.exit_code,
        }

    def describe(self) -> str:
        return "\n".join(health.describe() for health in self.healths)


def check_kapacitors(shards: KapacitorShards, deadline: float) -> KapacitorHealth | ShardsHealth:
    """``check_kapacitor`` of the one Kapacitor, or of every shard at once."""
    if len(shards) == 1:
        return check_kapacitor(shards.only(), deadline)

    def check(client: KapacitorClient) -> KapacitorHealth:
        try:
            return check_kapacitor(client, deadline)
        except KapacitorError as error:
            return KapacitorHealth(KapacitorState.UNCHECKED, client.url, detail=error.message)

    return ShardsHealth(tuple(shards.map(check, name="check")))
