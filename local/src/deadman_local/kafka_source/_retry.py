"""Retry policy of the Knative Kafka data plane's HTTP sender.

Facts (eventing-kafka-broker, ``WebClientCloudEventSender`` and
``ConsumerVerticleFactoryImpl.computeRetryPolicy``; vertx-circuit-breaker
``CircuitBreakerImpl``):

* retried: what ``deadman.knative.is_retried`` says (5xx, 404, 408, 409, 429, no
  response at all: refused, reset, per-attempt timeout); any other non-2xx ends
  the delivery at once;
* ``retry`` = number of retries, so at most ``retry + 1`` attempts;
* the delay before retry ``n`` (1-based: the circuit breaker passes
  ``retryCount + 1``) is ``backoffDelay * n`` (linear) or
  ``backoffDelay * 2**n`` (exponential, the default); no ``backoffDelay`` means 0;
* ``timeout`` bounds each attempt, not the whole delivery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from deadman.knative import is_retried

from ._manifests import DeliveryConfig

__all__ = ["Attempt", "Delivery", "backoff", "deliver"]


def backoff(delivery: DeliveryConfig, retry_number: int, scale: float = 1.0) -> float:
    """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
    if delivery.backoff_delay <= 0:
        return 0.0
    factor = retry_number if delivery.backoff_policy == "linear" else 2.0**retry_number
    return delivery.backoff_delay * factor * scale


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: a status and body, or ``error`` when nothing came back."""

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Delivery:
    """The outcome of all attempts at one event."""

    delivered: bool
    attempts: int
    last: Attempt


def deliver(
    send: Callable[[], Attempt],
    delivery: DeliveryConfig,
    stopping: threading.Event,
    *,
    scale: float = 1.0,
    on_retry: Callable[[int, Attempt, float], None] | None = None,
) -> Delivery | None:
    """Attempt until success, a final status or retries run out.

    Returns None when ``stopping`` is set while waiting to retry: the delivery
    has no outcome, so its offset must not be committed.
    """
    attempt_number = 0
    while True:
        attempt_number += 1
        attempt = send()
        if attempt.succeeded:
            return Delivery(True, attempt_number, attempt)
        retries_done = attempt_number - 1
        if not is_retried(attempt.status) or retries_done >= delivery.retry:
            return Delivery(False, attempt_number, attempt)
        delay = backoff(delivery, retries_done + 1, scale)
        if on_retry is not None:
            on_retry(attempt_number, attempt, delay)
        if stopping.wait(delay) or stopping.is_set():
            return None
