"""The floor of the cold-start benchmark: functions-framework functions with the
signatures of the project's targets and nothing else (``event`` is a lifecycle
target's signature, ``http`` the alert callback's)."""

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request


@functions_framework.cloud_event
def event(cloud_event: CloudEvent) -> None:
    return None


@functions_framework.http
def http(request: Request) -> str:
    return "ok"
