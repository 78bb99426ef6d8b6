"""Installing the TICKscript template every deadman task is made from.

Idempotent: the template is created when missing and updated only when its script
differs, because Kapacitor re-renders and restarts every task made from a
template on each update. That same re-rendering is what makes a change of alert
delivery one command: the template file holds the original pipeline's ``.post()``
handler, and with ``ALERT_DELIVERY=kafka`` the installer renders the Kafka event handler
in its place (``.kafka().cluster(KAPACITOR_KAFKA_CLUSTER)
.kafkaTopic(KAPACITOR_ALERTS_TOPIC)``); installing it moves every existing task
to the new delivery, and tasks made later inherit it. No task var is involved.
"""

from __future__ import annotations

import enum
import re
from importlib import resources
from pathlib import Path

from .._config import KapacitorSettings
from .._exceptions import ConfigurationError
from .._kapacitor import KapacitorClient

__all__ = [
    "InstallResult",
    "bundled_template",
    "install_template",
    "read_template",
    "render_template",
]

# The alert handler of a script: `.post(...)` and the properties that configure it.
_POST_HANDLER = re.compile(
    r"^(?P<indent>[ \t]*)\.post\([^)]*\)[ \t]*\n"
    r"(?:(?P=indent)\.(?:endpoint|header|timeout|captureResponse)\([^)]*\)[ \t]*(?:\n|$))*",
    re.MULTILINE,
)
_KAFKA_HANDLER = re.compile(r"^[ \t]*\.kafka\(", re.MULTILINE)


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


def render_template(script: str, settings: KapacitorSettings) -> str:
    """The script to install for the configured alert delivery.

    ``httppost``: the script as it is. ``kafka``: its ``.post()`` handler (with
    ``.endpoint()``, ``.header()`` ...) replaced by the Kafka event handler; a
    script that already has a ``.kafka()`` handler is left as it is.
    """
    if settings.alert_delivery == "httppost":
        return script
    if _KAFKA_HANDLER.search(script):
        return script
    match = _POST_HANDLER.search(script)
    if match is None:
        raise ConfigurationError(
            "ALERT_DELIVERY=kafka needs a template with a .post() alert handler to replace"
            " (or a .kafka() handler of its own)"
        )
    indent = match["indent"]
    kafka = (
        f"{indent}.kafka()\n"
        f"{indent}.cluster('{settings.kapacitor_kafka_cluster}')\n"
        f"{indent}.kafkaTopic('{settings.kapacitor_alerts_topic}')\n"
    )
    return script[: match.start()] + kafka + script[match.end() :]


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
