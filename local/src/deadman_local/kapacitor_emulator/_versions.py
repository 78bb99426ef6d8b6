"""Where Kapacitor 1.5, 1.6 and 1.7 answer differently, keyed by the version served.

The emulator answers as the version it reports in ``X-Kapacitor-Version`` (default
1.7). Differences modelled, each from the contract or the captures:

* error bodies: ``{"error": m}`` up to 1.5; ``message`` (same text) added in 1.6;
* task lists: ``template-id`` is a list field from 1.7.0 only; 1.5 and 1.6 answer
  400 ``unsupported field "template-id"`` when asked for it and a task matches,
  and never include it in a list;
* the Kafka event handler: 1.5.0 ignores ``.kafkaTopic()`` and crashes the
  server on the first alert (``cannot create a kafka writer with an empty
  topic``), fixed in 1.5.1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ApiVersion", "api_version"]

_NUMBERS = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ApiVersion:
    major: int
    minor: int
    patch: int

    @property
    def error_has_message(self) -> bool:
        return (self.major, self.minor) >= (1, 6)

    @property
    def lists_template_id(self) -> bool:
        return (self.major, self.minor) >= (1, 7)

    @property
    def ignores_kafka_topic(self) -> bool:
        return (self.major, self.minor, self.patch) == (1, 5, 0)


@lru_cache(maxsize=16)
def api_version(version: str) -> ApiVersion:
    """The behaviour of ``version`` (e.g. ``1.5.7`` or ``1.7.7-emulator``); 1.7.7 when
    the text starts with no version number."""
    match = _NUMBERS.match(version)
    if match is None:
        return ApiVersion(1, 7, 7)
    return ApiVersion(int(match[1]), int(match[2]), int(match[3] or 0))
