"""Installing the TICKscript template every deadman task is made from.

Idempotent: the template is created when missing and updated only when its script
differs, because Kapacitor re-renders and restarts every task made from a
template on each update.
"""

from __future__ import annotations

import enum
from importlib import resources
from pathlib import Path

from .._kapacitor import KapacitorClient

__all__ = ["InstallResult", "bundled_template", "install_template", "read_template"]


class InstallResult(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def bundled_template(template_id: str) -> str:
    """The script shipped with the package for ``template_id``."""
    name = f"{template_id}.tick"
    resource = resources.files("deadman").joinpath("templates", name)
    if not resource.is_file():
        raise FileNotFoundError(
            f"no bundled template {name}; set KAPACITOR_TEMPLATE_FILE to the script's path"
        )
    return resource.read_text(encoding="utf-8")


def read_template(template_id: str, path: str | None) -> str:
    return Path(path).read_text(encoding="utf-8") if path else bundled_template(template_id)


def install_template(
    client: KapacitorClient, template_id: str, script: str, *, dry_run: bool = False
) -> InstallResult:
    existing = client.get_template(template_id)
    if existing is None:
        if not dry_run:
            client.create_template(template_id, script)
        return InstallResult.CREATED
    # Trailing white space is not a reason to restart every task.
    if existing.script.strip() == script.strip():
        return InstallResult.UNCHANGED
    if not dry_run:
        client.update_template(template_id, script)
    return InstallResult.UPDATED
