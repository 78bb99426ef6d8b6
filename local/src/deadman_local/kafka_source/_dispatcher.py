"""One KafkaSource's consumer loop: fetch, dispatch, dead-letter, commit.

Mirrors the Knative Kafka dispatcher: ``ordered`` sends one event per partition
at a time and the next only once the previous has an outcome; ``unordered``
sends concurrently (bounded). An outcome is a 2xx from the sink, the event in the
dead-letter sink, a failure to write it there, or no dead-letter sink at all: the
data plane commits the offset in each case (``OffsetManager``), and only the
contiguous prefix of finished offsets, never an offset whose record is still in
flight, so a stand-in stopped mid-retry delivers that record again on restart.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ..broker import CONSUMER_SESSION_TIMEOUT_MS
from ._counters import Counters
from ._deadletter import DeadLetterWriter
from ._events import Event, KafkaRecord, event_from_record, http_request, with_error_extensions
from ._manifests import DeliveryConfig, SourceConfig
from ._retry import Attempt, backoff, deliver

__all__ = ["SourceRunner"]

logger = logging.getLogger("deadman_local.kafka_source")
Partition = tuple[str, int]
# How long a fetch may wait for records (see _consumer_config): Tansu holds a fetch
# for about half of it (25 ms here) even when records arrive meanwhile. Shorter is
# quicker but costs Tansu CPU while idle (4 sources: ~8 % of a core at 50 ms,
# ~14 % at 20 ms, ~1 % at librdkafka's default 500 ms, which delays every event
# by 250 ms).
FETCH_WAIT_MAX_MS = 50


class _Tracker:
    """Finished offsets of one partition; commits only the contiguous prefix."""

    def __init__(self, first_offset: int) -> None:
        self.next = first_offset
        self.committed = first_offset
        self.done: set[int] = set()

    def finish(self, offset: int) -> None:
        self.done.add(offset)
        while self.next in self.done:
            self.done.discard(self.next)
            self.next += 1


class SourceRunner:
    """Runs one source in its own consumer thread plus a bounded worker pool."""

    def __init__(
        self,
        config: SourceConfig,
        delivery: DeliveryConfig,
        bootstrap_servers: str,
        client: httpx.Client,
        counters: Counters,
        *,
        backoff_scale: float = 1.0,
        max_in_flight: int = 64,
        topic_extension: bool = False,
    ) -> None:
        self.config = config
        self.delivery = delivery
        self.counters = counters
        self.assigned = threading.Event()
        self._bootstrap_servers = bootstrap_servers
        self._client = client
        self._scale = backoff_scale
        self._max_in_flight = max(1, max_in_flight)
        self._topic_extension = topic_extension
        self._ordered = config.ordering != "unordered"
        self._stopping = threading.Event()
        self._finished: queue.Queue[tuple[Partition, int]] = queue.Queue()
        self._queues: dict[Partition, deque[KafkaRecord]] = {}
        self._busy: set[Partition] = set()
        self._in_flight = 0
        self._trackers: dict[Partition, _Tracker] = {}
        self._dead_letter = (
            DeadLetterWriter(delivery.dead_letter, bootstrap_servers, client)
            if delivery.dead_letter is not None
            else None
        )
        self._pool = ThreadPoolExecutor(self._max_in_flight, f"kafka-source-{config.name}")
        self._thread = threading.Thread(
            target=self._run, name=f"kafka-source-{config.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._dead_letter is not None:
            self._dead_letter.close()

    # The consumer thread: the only one that touches the consumer and the queues.

    def _run(self) -> None:
        consumer = Consumer(self._consumer_config())
        consumer.subscribe(
            list(self.config.topics), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not self._stopping.is_set():
                self._drain(consumer, timeout=0.0)
                if self._buffered() < 2 * self._max_in_flight:
                    self._take(consumer.poll(0.05))
                    # Deliveries that ended during the poll free their partition now,
                    # not one poll later: an ordered partition's next record would
                    # otherwise wait up to 50 ms with nothing else to do.
                    self._drain(consumer, timeout=0.0)
                else:
                    self._drain(consumer, timeout=0.05)
                self._schedule()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._drain(consumer, timeout=0.0)
            consumer.close()

    def _consumer_config(self) -> dict[str, Any]:
        delivery = self.delivery
        worst = sum(
            delivery.timeout + backoff(delivery, n, self._scale) + 10
            for n in range(1, delivery.retry + 2)
        )
        return {
            "bootstrap.servers": self._bootstrap_servers,
            "group.id": self.config.consumer_group,
            "auto.offset.reset": self.config.initial_offset,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "session.timeout.ms": CONSUMER_SESSION_TIMEOUT_MS,
            # A Kafka broker answers a fetch as soon as one byte is there; Tansu
            # waits (see FETCH_WAIT_MAX_MS), so the wait is kept short.
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
            # The data plane sizes this from retries and timeouts, twice over (the
            # sink, then the dead-letter sink), so slow deliveries keep the member.
            "max.poll.interval.ms": int(min(86_400_000, max(300_000, 2_000 * worst))),
        }

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        if partitions:
            self.assigned.set()
        self._log("assigned", partitions=[f"{p.topic}:{p.partition}" for p in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        self._commit(consumer, revoked)
        for partition in revoked:
            self._trackers.pop(partition, None)
            self._queues.pop(partition, None)
            self._busy.discard(partition)

    def _take(self, message: Any) -> None:
        if message is None:
            return
        if message.error():
            if message.error().code() != KafkaError._PARTITION_EOF:
                self._log("consumer-error", level=logging.WARNING, error=str(message.error()))
            return
        raw_key, raw_value = message.key(), message.value()
        record = KafkaRecord(
            topic=str(message.topic()),
            partition=int(message.partition()),
            offset=int(message.offset()),
            timestamp_ms=int(message.timestamp()[1]),
            key=raw_key.encode() if isinstance(raw_key, str) else raw_key,
            value=raw_value.encode() if isinstance(raw_value, str) else raw_value,
            headers=tuple((str(n), v) for n, v in (message.headers() or [])),
        )
        partition = (record.topic, record.partition)
        self._trackers.setdefault(partition, _Tracker(record.offset))
        self._queues.setdefault(partition, deque()).append(record)

    def _buffered(self) -> int:
        return self._in_flight + sum(len(pending) for pending in self._queues.values())

    def _schedule(self) -> None:
        for partition, pending in self._queues.items():
            while pending and self._in_flight < self._max_in_flight:
                if self._ordered and partition in self._busy:
                    break
                record = pending.popleft()
                self._busy.add(partition)
                self._in_flight += 1
                self._pool.submit(self._dispatch, record)

    def _drain(self, consumer: Any, timeout: float) -> None:
        finished: set[Partition] = set()
        try:
            item = self._finished.get(timeout=timeout) if timeout else self._finished.get_nowait()
            while True:
                partition, offset = item
                self._in_flight -= 1
                self._busy.discard(partition)
                tracker = self._trackers.get(partition)
                if tracker is not None:
                    tracker.finish(offset)
                    finished.add(partition)
                item = self._finished.get_nowait()
        except queue.Empty:
            pass
        if finished:
            self._commit(consumer, finished)

    def _commit(self, consumer: Any, partitions: set[Partition]) -> None:
        offsets = [
            TopicPartition(topic, number, self._trackers[(topic, number)].next)
            for topic, number in sorted(partitions)
            if (topic, number) in self._trackers
            and self._trackers[(topic, number)].next > self._trackers[(topic, number)].committed
        ]
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            self._log("commit-failed", level=logging.WARNING, error=str(error))
            return
        records = 0
        for offset in offsets:
            tracker = self._trackers[(offset.topic, offset.partition)]
            records += offset.offset - tracker.committed
            tracker.committed = offset.offset
        self.counters.add("committed", records)

    # Worker threads: one record each, from first attempt to outcome.

    def _dispatch(self, record: KafkaRecord) -> None:
        try:
            finished = self._deliver(record)
        except Exception:  # a bug must not wedge the partition; the data plane discards too
            logger.exception("dispatch of %s:%s@%s failed", *self._where(record))
            finished = True
        if finished:
            self._finished.put(((record.topic, record.partition), record.offset))

    def _deliver(self, record: KafkaRecord) -> bool:
        event = event_from_record(record, self.config, topic_extension=self._topic_extension)

        def retrying(attempt_number: int, attempt: Attempt, delay: float) -> None:
            self.counters.add("retries")
            self._log_outcome(record, event, attempt_number, attempt, "retrying", delay=delay)

        outcome = deliver(
            lambda: self._send(event),
            self.delivery,
            self._stopping,
            scale=self._scale,
            on_retry=retrying,
        )
        if outcome is None:
            return False
        if outcome.delivered:
            self.counters.add("delivered")
            self._log_outcome(record, event, outcome.attempts, outcome.last, "delivered")
            return True
        last = outcome.last
        failed = with_error_extensions(
            event, self.config.sink_url, last.status, last.body, last.headers
        )
        if self._dead_letter is None:
            self.counters.add("dropped")
            self._log_outcome(record, event, outcome.attempts, last, "dropped")
            return True
        writer = self._dead_letter
        stored = deliver(
            lambda: writer.send(failed, self.delivery.timeout),
            self.delivery,
            self._stopping,
            scale=self._scale,
        )
        if stored is None:
            return False
        outcome_name = "dead-lettered" if stored.delivered else "dead-letter-failed"
        self.counters.add(outcome_name.replace("-", "_"))
        self._log_outcome(
            record,
            event,
            outcome.attempts,
            last,
            outcome_name,
            dead_letter=writer.target.describe(),
            dead_letter_error=stored.last.error,
        )
        return True

    def _send(self, event: Event) -> Attempt:
        self.counters.add("attempts")
        headers, body = http_request(event)
        try:
            response = self._client.post(
                self.config.sink_url,
                headers=headers,
                content=body,
                timeout=self.delivery.timeout,
            )
        except httpx.TimeoutException as error:
            return Attempt(None, error=f"timeout: {type(error).__name__}")
        except httpx.HTTPError as error:
            return Attempt(None, error=f"{type(error).__name__}: {error}")
        return Attempt(response.status_code, response.content, dict(response.headers))

    def _where(self, record: KafkaRecord) -> tuple[str, int, int]:
        return record.topic, record.partition, record.offset

    def _log_outcome(
        self,
        record: KafkaRecord,
        event: Event,
        attempt_number: int,
        attempt: Attempt,
        outcome: str,
        **extra: Any,
    ) -> None:
        level = {"delivered": logging.INFO, "retrying": logging.WARNING}.get(outcome, logging.ERROR)
        self._log(
            outcome,
            level=level,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempt=attempt_number,
            status=attempt.status,
            error=attempt.error,
            ce_id=event.id,
            ce_type=event.type,
            **extra,
        )

    def _log(self, outcome: str, level: int = logging.INFO, **fields: Any) -> None:
        if logger.isEnabledFor(level):
            line = {"source": self.config.name, "outcome": outcome, **fields}
            logger.log(level, json.dumps({k: v for k, v in line.items() if v is not None}))
