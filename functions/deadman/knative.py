"""Knative's delivery rules, as its Kafka data plane applies them: written once.

Every part of the project that answers Knative, imitates it or reads what it
dead-lettered takes these from here: the status table (``_statuses``), the alert
sinks, the local KafkaSource stand-in, the dead-letter tool.

* **Retries** (eventing-kafka-broker's HTTP sender): a delivery is tried again
  after a 5xx, 404, 408, 409 or 429 answer and after no answer at all (refused,
  reset, a per-attempt timeout); any other non-2xx ends it at once and, with a
  dead-letter sink, sends the event there.
* **Dead letters** carry three extensions: ``knativeerrorcode`` (the last status,
  absent without an answer), ``knativeerrordest`` (the URL that failed) and
  ``knativeerrordata`` (the first ``ERROR_DATA_MAX_BYTES`` bytes of the answer's
  body, base64).
"""

from __future__ import annotations

__all__ = [
    "ERROR_CODE",
    "ERROR_DATA",
    "ERROR_DATA_MAX_BYTES",
    "ERROR_DEST",
    "ERROR_EXTENSIONS",
    "RETRIED_STATUSES",
    "is_retried",
]

# Besides every 5xx.
RETRIED_STATUSES = frozenset({404, 408, 409, 429})
ERROR_CODE = "knativeerrorcode"
ERROR_DEST = "knativeerrordest"
ERROR_DATA = "knativeerrordata"
ERROR_EXTENSIONS = (ERROR_CODE, ERROR_DEST, ERROR_DATA)
ERROR_DATA_MAX_BYTES = 1024


def is_retried(status: int | None) -> bool:
    """Whether the data plane tries again after this answer (None: no answer)."""
    return status is None or status >= 500 or status in RETRIED_STATUSES
