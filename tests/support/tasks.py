"""Task bodies shaped like the ones the lifecycle rules send to Kapacitor."""

from __future__ import annotations

from typing import Any

from tests.support.paths import TEMPLATE_ID

# What the functions append to a device code to name its task (TASK_ID_SUFFIX).
SUFFIX = "_not_fed"


def task_body(
    task_id: str,
    device: str,
    status: str = "enabled",
    *,
    template_id: str = TEMPLATE_ID,
    **extra: Any,
) -> dict[str, Any]:
    """A create body like the project's: the template, its vars and the dbrps."""
    body: dict[str, Any] = {
        "id": task_id,
        "template-id": template_id,
        "status": status,
        "dbrps": [{"db": "iot", "rp": "autogen"}],
        "vars": {
            "name": {"type": "string", "value": task_id},
            "measurement": {"type": "string", "value": device},
            "db": {"type": "string", "value": "iot"},
            "rp": {"type": "string", "value": "autogen"},
        },
    }
    body.update(extra)
    return body
