"""Where Kapacitor 1.5, 1.6 and 1.7 answer differently, keyed by the version served.

The emulator answers as the version it reports in ``X-Kapacitor-Version`` (default
1.7). Differences modelled, each from the contract or the captures
(``../shared/kapacitor-captures``):

* error bodies: ``{"error": m}`` up to 1.5; ``message`` (same text) added in 1.6;
* task lists: ``template-id`` is a list field from 1.7.0 only; 1.5 and 1.6 answer
  400 ``unsupported field "template-id"`` when asked for it and a task matches,
  and never include it in a list.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["error_has_message", "lists_template_id"]


@lru_cache(maxsize=16)
def _release(version: str) -> tuple[int, int]:
    """(major, minor) of ``1.5.7`` or ``1.7.7-emulator``; 1.7 without a number."""
    match = re.match(r"v?(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (1, 7)


def error_has_message(version: str) -> bool:
    return _release(version) >= (1, 6)


def lists_template_id(version: str) -> bool:
    return _release(version) >= (1, 7)
