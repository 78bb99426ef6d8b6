"""functions-framework entry points; each Knative Service picks one with FUNCTION_TARGET.

The lifecycle targets receive the outbox CloudEvents a KafkaSource delivers and
converge each named device's Kapacitor deadman task; ``alert_callback`` receives
Kapacitor's alert POST and publishes a historicization CloudEvent.
"""

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request
from werkzeug.wrappers import Response

from deadman import Action, runtime

runtime.startup()


@functions_framework.errorhandler(Exception)
def render_error(error: Exception) -> Response:
    return runtime.render_error(error)


@functions_framework.cloud_event
def create_alert(event: CloudEvent) -> None:
    """device-created: make sure the device's task exists."""
    runtime.handle_lifecycle(event, Action.CREATE)


@functions_framework.cloud_event
def enable_alert(event: CloudEvent) -> None:
    """device-enabled: enable the task, creating it when missing."""
    runtime.handle_lifecycle(event, Action.ENABLE)


@functions_framework.cloud_event
def disable_alert(event: CloudEvent) -> None:
    """device-disabled: disable the task if there is one."""
    runtime.handle_lifecycle(event, Action.DISABLE)


@functions_framework.cloud_event
def delete_alert(event: CloudEvent) -> None:
    """device-deleted: delete the task."""
    runtime.handle_lifecycle(event, Action.DELETE)


@functions_framework.cloud_event
def device_lifecycle(event: CloudEvent) -> None:
    """Every lifecycle event type, each applied as its own target would, in the
    order the KafkaSource delivers them (the ordered layout)."""
    runtime.handle_lifecycle(event)


@functions_framework.http
def alert_callback(request: Request) -> Response:
    """Kapacitor's [[httppost]] target: publish the alert, 2xx only once the sink has it."""
    return runtime.alert_callback().handle(request)
