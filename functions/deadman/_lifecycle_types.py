"""The lifecycle contract: each event type's action, default CloudEvent type and
function target. Imported at start-up by every target (the settings and the runtime
derive from it), so it depends on nothing but the standard library."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["LIFECYCLE_TYPES", "ORDERED_TARGET", "Action", "EventTypes", "LifecycleType"]


class Action(enum.StrEnum):
    """What a lifecycle event asks for a device's deadman task."""

    CREATE = "created"
    ENABLE = "enabled"
    DISABLE = "disabled"
    DELETE = "deleted"


@dataclass(frozen=True)
class LifecycleType:
    """One lifecycle event type: its action, its default CloudEvent type (also the
    outbox ``type`` and, with the default routing, the topic's last part), the
    function target that applies it alone, and what that does to the task."""

    action: Action
    event_type: str
    target: str
    does: str

    @property
    def service(self) -> str:
        """The Knative Service (and KafkaSource) name of ``target``."""
        return self.target.replace("_", "-")


# The lifecycle contract: everything else (settings defaults, targets, the local
# stack, the manifests' and docs' tests) is derived from or checked against it.
LIFECYCLE_TYPES = (
    LifecycleType(
        Action.CREATE, "device-created", "create_alert", "make sure the device's task exists"
    ),
    LifecycleType(
        Action.ENABLE, "device-enabled", "enable_alert", "enable the task, creating it if missing"
    ),
    LifecycleType(
        Action.DISABLE, "device-disabled", "disable_alert", "disable the task if there is one"
    ),
    LifecycleType(Action.DELETE, "device-deleted", "delete_alert", "delete the task"),
)
# The ordered layout's one target, for every type.
ORDERED_TARGET = "device_lifecycle"
_DEFAULT_TYPE = {row.action: row.event_type for row in LIFECYCLE_TYPES}


@dataclass(frozen=True)
class EventTypes:
    """The configured CloudEvent type of each action."""

    created: str = _DEFAULT_TYPE[Action.CREATE]
    enabled: str = _DEFAULT_TYPE[Action.ENABLE]
    disabled: str = _DEFAULT_TYPE[Action.DISABLE]
    deleted: str = _DEFAULT_TYPE[Action.DELETE]

    def action_of(self, event_type: str) -> Action | None:
        by_type = {getattr(self, action.value): action for action in Action}
        return by_type.get(event_type)
