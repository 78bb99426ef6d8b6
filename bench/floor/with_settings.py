"""The floor of the project's stack: the minimal functions plus what any function
that validates pydantic-settings at start-up pays (one settings class read from the
environment at import, as ``deadman.runtime.startup()`` does)."""

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request
from pydantic import Field
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    url: str = "http://localhost:9092"
    timeout_seconds: float = Field(default=5.0, gt=0)


SETTINGS = Settings()


@functions_framework.cloud_event
def event(cloud_event: CloudEvent) -> None:
    return None


@functions_framework.http
def http(request: Request) -> str:
    return SETTINGS.url
