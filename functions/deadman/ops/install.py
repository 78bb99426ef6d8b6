"""What ``deadmanctl install-template`` keeps on every Kapacitor shard.

The installer's work is a list of steps (the template, the heartbeat task, and
whatever else a feature needs next to them), each run on every shard. Shards are
installed at once, each going through the steps in order and stopping at its
first failure; the other shards go on. Every shard reports what each step did, or
where it failed and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._config import InstallerSettings
from .._exceptions import DeadmanError
from .._kapacitor import KapacitorClient
from .._shard_clients import KapacitorShards
from .._task_ids import DATAPATH_TASK_ID
from .datapath import install_datapath
from .heartbeat import install_heartbeat
from .template import install_template

__all__ = ["InstallStep", "ShardInstall", "install_on_shards", "installer_steps"]


@dataclass(frozen=True)
class InstallStep:
    """One thing kept on every shard: what it is (``template X``, ``heartbeat task
    Y``) and how to install it on one Kapacitor, answering what was done
    (``created``, ``updated``, ``unchanged``, ``removed``)."""

    what: str
    install: Callable[[KapacitorClient], str]


@dataclass(frozen=True)
class ShardInstall:
    """What the steps did on one shard: ``(what, result)`` per step done, and the
    step that failed with its error, if one did."""

    shard: str
    url: str
    done: tuple[tuple[str, str], ...]
    failed_step: str = ""
    error: DeadmanError | OSError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def describe(self, verb: str = "was") -> str:
        """One line: what each step did on this shard, or where it failed and why."""
        done = ", ".join(f"{what} {verb} {result}" for what, result in self.done)
        if self.error is None:
            return f"shard {self.shard}: {done}"
        reason = self.error.message if isinstance(self.error, DeadmanError) else str(self.error)
        before = f"{done}; " if done else ""
        return f"shard {self.shard}: {before}FAILED at {self.failed_step}: {reason}"


def installer_steps(
    settings: InstallerSettings, script: str, *, dry_run: bool = False
) -> list[InstallStep]:
    """The template first (tasks are made from it), then the heartbeat task, and the
    data-path task when ``INFLUXDB_URL`` is set."""
    template_id = settings.kapacitor_template_id
    steps = [
        InstallStep(
            f"template {template_id}",
            lambda client: install_template(client, template_id, script, dry_run=dry_run).value,
        ),
        InstallStep(
            f"heartbeat task {settings.heartbeat_task_id}",
            lambda client: install_heartbeat(client, settings, dry_run=dry_run),
        ),
    ]
    if settings.influxdb_url:
        steps.append(
            InstallStep(
                f"data-path task {DATAPATH_TASK_ID}",
                lambda client: install_datapath(client, settings, script, dry_run=dry_run),
            )
        )
    return steps


def install_on_shards(shards: KapacitorShards, steps: Sequence[InstallStep]) -> list[ShardInstall]:
    """Run ``steps`` on every shard, the shards at once; one result per shard, in
    the shards' order."""

    def install(client: KapacitorClient) -> ShardInstall:
        done: list[tuple[str, str]] = []
        for step in steps:
            try:
                done.append((step.what, step.install(client)))
            except (DeadmanError, OSError) as error:
                return ShardInstall(client.shard.key, client.url, tuple(done), step.what, error)
        return ShardInstall(client.shard.key, client.url, tuple(done))

    # A template update restarts every task made from it, inside one call: the
    # shards should not wait for each other.
    return shards.map(install, name="install")
