"""Sections of Kapacitor's configuration the local tools write or emulate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["TEMPLATE_ENDPOINT", "HttpPostEndpoint", "KafkaCluster"]

# The [[httppost]] endpoint the shipped templates post their alerts to.
TEMPLATE_ENDPOINT = "benthos"


@dataclass(frozen=True)
class HttpPostEndpoint:
    """One ``[[httppost]]`` section: ``endpoint``, ``url``, ``headers``, ``basic-auth``."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class KafkaCluster:
    """One ``[[kafka]]`` section: ``id`` and the brokers (``bootstrap.servers``)."""

    id: str
    bootstrap_servers: str
