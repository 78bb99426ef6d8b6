"""Keeping one Kapacitor task as the installer wants it (the heartbeat, the data-path task)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._kapacitor import KapacitorClient
from .template import InstallResult

__all__ = ["keep_task"]


def keep_task(client: KapacitorClient, wanted: Mapping[str, Any], *, dry_run: bool = False) -> str:
    """Create the task ``wanted`` describes, or update it when its script or vars
    differ or it is not running; leave it alone otherwise.

    PATCH does not reload a running task: an update disables it with the new
    definition and enables it again.
    """
    task_id = str(wanted["id"])
    existing = client.get_task(task_id)
    if existing is None:
        if not dry_run:
            client.create_task(wanted)
        return InstallResult.CREATED.value
    same_vars = {n: (v.get("type"), v.get("value")) for n, v in existing.vars.items()} == {
        n: (v["type"], v["value"]) for n, v in wanted["vars"].items()
    }
    same = existing.script.strip() == str(wanted["script"]).strip() and same_vars
    if same and existing.status == "enabled" and existing.executing:
        return InstallResult.UNCHANGED.value
    if not dry_run:
        client.update_task(
            task_id, {k: wanted[k] for k in ("dbrps", "script", "vars")} | {"status": "disabled"}
        )
        client.update_task(task_id, {"status": "enabled"})
    return InstallResult.UPDATED.value
