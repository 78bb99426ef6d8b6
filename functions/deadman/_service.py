"""A lifecycle event in, every device's task converged, one outcome per device out.

A bulk event is spread over the Kapacitor shards at once: each shard has its own
pool of ``BULK_CONCURRENCY`` workers (and its client as many connections), so a
fleet on N shards converges about N times as fast, and a slow or failing shard
holds up only its own devices.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

from ._config import LifecycleSettings
from ._events import LifecycleEvent, parse_lifecycle_event
from ._exceptions import (
    DevicesRejectedError,
    DevicesUnavailableError,
    KapacitorUnavailableError,
)
from ._kapacitor import KapacitorClient
from ._lifecycle import DeviceOutcome, Result, TaskRules
from ._lifecycle_types import Action
from ._logging import get_logger
from ._shard_clients import KapacitorShards
from ._telemetry import LIFECYCLE_DEVICES, telemetry

__all__ = ["LifecycleService"]

_log = get_logger("lifecycle")


class LifecycleService:
    """Owns the Kapacitor clients and the worker pools of one process.

    ``client`` stands for the one Kapacitor of a single-shard configuration,
    ``kapacitor`` for the shards' clients; neither given: made from the settings.
    """

    def __init__(
        self,
        settings: LifecycleSettings,
        client: KapacitorClient | None = None,
        *,
        kapacitor: KapacitorShards | None = None,
    ) -> None:
        self.settings = settings
        if kapacitor is None:
            kapacitor = (
                KapacitorShards.of(client)
                if client is not None
                else KapacitorShards.from_settings(settings)
            )
        self.kapacitor = kapacitor
        self.rules = TaskRules(
            kapacitor=kapacitor,
            template_id=settings.kapacitor_template_id,
            db=settings.kapacitor_db,
            rp=settings.kapacitor_rp,
            ids=settings.task_ids,
            create_status=settings.task_create_status,
            extra_vars=settings.task_extra_vars,
        )
        self.types = settings.event_types
        # Bound the calls in flight toward each Kapacitor for the whole process,
        # since a Kapacitor, not this function, is the bottleneck of a bulk event.
        self._pools = {
            key: ThreadPoolExecutor(
                max_workers=settings.bulk_concurrency,
                thread_name_prefix="kapacitor" if len(kapacitor) == 1 else f"kapacitor-{number}",
            )
            for number, key in enumerate(kapacitor.keys)
        }

    @property
    def client(self) -> KapacitorClient:
        """The Kapacitor client of a single-shard configuration."""
        return self.kapacitor.only()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self.kapacitor.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def handle(
        self,
        attributes: Mapping[str, Any],
        data: Any,
        action: Action | None,
        *,
        traceparent: str | None = None,
    ) -> list[DeviceOutcome]:
        """Apply a delivered CloudEvent if it asks for ``action`` (any lifecycle
        action when None); raise on failures.

        The delivery is one server span, continuing ``traceparent`` (the HTTP
        header Knative sends) or else the inner event's own ``traceparent``.
        """
        event = parse_lifecycle_event(
            attributes, data, self.types, self.settings.max_devices_per_event
        )
        handles = action or event.action
        name = handles.value if handles is not None else "ignored"
        span = telemetry().server_span(
            f"{name} devices",
            traceparent or event.traceparent,
            {
                "deadman.action": name,
                "cloudevents.event_id": event.id,
                "cloudevents.event_type": event.type,
                "deadman.devices": len(event.devices),
            },
        )
        with span:
            return self._handle(event, action)

    def _handle(self, event: LifecycleEvent, action: Action | None) -> list[DeviceOutcome]:
        if event.action is None or (action is not None and event.action is not action):
            handles = action.value if action is not None else "any"
            _log.info(
                "event not handled by this function",
                extra={"fields": {**event.log_fields(), "handles": handles, "outcome": "ignored"}},
            )
            return []
        outcomes = self.apply(event)
        _raise_for_failures(event, outcomes)
        return outcomes

    def apply(self, event: LifecycleEvent) -> list[DeviceOutcome]:
        assert event.action is not None
        action = event.action

        def apply_one(device: str) -> DeviceOutcome:
            outcome = self.rules.apply(device, action, event.stamp, event.id)
            # With several shards the log says which Kapacitor the device is on.
            shard = self.kapacitor.shard_of(device) if len(self.kapacitor) > 1 else ""
            _log_outcome(event, outcome, shard)
            telemetry().add(
                LIFECYCLE_DEVICES,
                1,
                {"deadman.action": action.value, "deadman.outcome": outcome.result.value},
            )
            return outcome

        if len(event.devices) == 1:
            return [apply_one(event.devices[0])]
        # Each device's calls run in a copy of this context: their spans are
        # children of the delivery's. Each goes to its shard's pool.
        futures = [
            self._pools[self.kapacitor.shard_of(device)].submit(
                contextvars.copy_context().run, apply_one, device
            )
            for device in event.devices
        ]
        return [future.result() for future in futures]


def _log_outcome(event: LifecycleEvent, outcome: DeviceOutcome, shard: str) -> None:
    fields = {
        **event.log_fields(),
        "device": outcome.device,
        "task_id": outcome.task_id,
        "action": outcome.action.value,
        "outcome": outcome.result.value,
        "detail": outcome.detail,
    }
    if shard:
        fields["kapacitor_shard"] = shard
    if outcome.result is Result.FAILED:
        fields["transient"] = isinstance(outcome.error, KapacitorUnavailableError)
        _log.warning("device action failed", extra={"fields": fields})
    else:
        _log.info("device action done", extra={"fields": fields})


def _raise_for_failures(event: LifecycleEvent, outcomes: list[DeviceOutcome]) -> None:
    failed = [outcome for outcome in outcomes if outcome.result is Result.FAILED]
    transient = [o for o in failed if isinstance(o.error, KapacitorUnavailableError)]
    if transient:
        # Redelivering the whole event is safe: applied devices are idempotent.
        raise DevicesUnavailableError(event.id, [(o.device, o.detail) for o in transient])
    if failed:
        raise DevicesRejectedError(event.id, [(o.device, o.detail) for o in failed])
