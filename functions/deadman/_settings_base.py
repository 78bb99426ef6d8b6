"""What every settings class shares: pydantic-settings' configuration, the
duration text Kapacitor reads, the heartbeat task's settings (every function knows
the heartbeat), and ``load_settings``, which turns a validation error into one
readable ``ConfigurationError``."""

from __future__ import annotations

import os
import re
from typing import TypeVar

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._exceptions import ConfigurationError
from ._task_ids import task_id_problem

__all__ = ["HeartbeatSettings", "influxql_duration_ns", "load_settings"]

# The units Kapacitor reads in a duration var (seen on a real 1.5.7: "10us" and
# "10ns" are refused with 400).
_DURATION_PART = re.compile(r"(\d+)(u|µ|ms|s|m|h|d|w)")
_NANOS = {
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
# A Kafka topic name, as Kafka accepts it.
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def influxql_duration_ns(text: str) -> int:
    """Nanoseconds of an InfluxQL duration such as ``10s`` or ``1h30m``.

    Kapacitor stores durations as integer nanoseconds and returns them that way,
    so extra vars are normalised before they are compared with a stored task.
    """
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 10s, 5m or 1h30m")
    return sum(int(number) * _NANOS[unit] for number, unit in parts)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        # Values such as "" for an optional secret mean "not set".
        env_ignore_empty=True,
        # A schema is built on first use, not at import: each function target
        # validates one of these classes and should not pay for the others.
        defer_build=True,
    )


class HeartbeatSettings(_Base):
    """The heartbeat task: made by the installer, recognised by the callback, the
    lifecycle functions and the audit, watched by ``deadmanctl heartbeat check``."""

    heartbeat_task_id: str = "deadman_heartbeat"
    heartbeat_period: str = "1m"
    alert_type_heartbeat: str = "deadman-heartbeat"

    @field_validator("heartbeat_task_id")
    @classmethod
    def _heartbeat_is_a_task_id(cls, value: str) -> str:
        problem = task_id_problem(value)
        if problem:
            raise ValueError(f"not a Kapacitor task id: {problem}")
        return value

    @field_validator("heartbeat_period")
    @classmethod
    def _period_is_a_duration(cls, value: str) -> str:
        if influxql_duration_ns(value) < 1_000_000_000:
            raise ValueError("must be at least 1s")
        return value

    @property
    def heartbeat_period_seconds(self) -> float:
        return influxql_duration_ns(self.heartbeat_period) / 1e9


_SettingsT = TypeVar("_SettingsT", bound=_Base)


def load_settings(kind: type[_SettingsT]) -> _SettingsT:
    """Build ``kind`` from the environment, or raise a readable ``ConfigurationError``."""
    secrets_dir = os.environ.get("SECRETS_DIR") or None
    try:
        return kind(_secrets_dir=secrets_dir)  # type: ignore[call-arg]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            lines.append(f"  {where}: {problem['msg']}")
        raise ConfigurationError(
            f"invalid {kind.__name__} in the environment:\n" + "\n".join(lines)
        ) from None
