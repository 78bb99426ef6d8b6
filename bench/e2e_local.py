"""Local end-to-end latency: an outbox record produced to Kafka until the device's
task is visible, enabled and running, in the Kapacitor emulator.

The path is the whole local loop (``LocalStack``): Tansu, the KafkaSource
stand-in (consumer group, wrapping, delivery spec from ``kafka-sources/``),
``enable_alert`` under gunicorn, and the emulator, which the stack runs in this
process without a capacity limit. Records are produced one at a time, each
naming one new device, as Debezium writes them (structured CloudEvent JSON, no
content-type header). The clock starts just before ``produce()`` and stops when
a poll of the emulator's state (every 0.5 ms, a dictionary lookup under the
store's lock) first sees the task enabled and executing; the next record is only
produced after that, so records never queue behind each other.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import TASK_SUFFIX, check, outbox_record, percentile, rounded, say
from confluent_kafka import Producer

from deadman_local.stack import LocalStack

RECORDS = 500
WARM_UP = 5
POLL_S = 0.0005
TIMEOUT_S = 30.0


def _wait_enabled(stack: LocalStack, task_id: str, started: float) -> float:
    deadline = started + TIMEOUT_S
    while True:
        task = stack.emulator.task(task_id)
        now = time.perf_counter()
        if task is not None and task.status == "enabled" and task.executing:
            return now - started
        check(now < deadline, f"{task_id} not enabled {TIMEOUT_S} s after its record")
        time.sleep(POLL_S)


def run(records: int = RECORDS, log_dir: Path | None = None) -> dict[str, Any]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    stack = LocalStack(kapacitor="emulator", log_dir=log_dir)
    stack.start()
    try:
        assert stack.state is not None
        topic = next(t for t in stack.state.lifecycle_topics if t.endswith("device-enabled"))
        # Debezium's producer settings do not matter here; no batching delay.
        producer = Producer({"bootstrap.servers": stack.state.bootstrap_servers, "linger.ms": 0})
        latencies: list[float] = []
        for index in range(-WARM_UP, records):
            device = f"e2e-{index + WARM_UP}"
            value = outbox_record("device-enabled", [device], index + WARM_UP, f"e2e-{index}")
            started = time.perf_counter()
            producer.produce(topic, key=device.encode(), value=value)
            producer.poll(0)
            latency = _wait_enabled(stack, device + TASK_SUFFIX, started)
            if index >= 0:
                latencies.append(latency)
        producer.flush(10)
        # The task is visible before the function's answer reaches the stand-in.
        counters = stack.stand_in.wait_until(
            lambda now: now.outcomes >= records + WARM_UP, timeout=TIMEOUT_S
        )
        check(
            counters.delivered >= records + WARM_UP and counters.dead_lettered == 0,
            f"stand-in counters {counters}",
        )
    finally:
        stack.stop()
    result = {
        "records": records,
        "p50_ms": rounded(percentile(latencies, 50) * 1000, 2),
        "p90_ms": rounded(percentile(latencies, 90) * 1000, 2),
        "p99_ms": rounded(percentile(latencies, 99) * 1000, 2),
        "max_ms": rounded(max(latencies) * 1000, 2),
        "mean_ms": rounded(sum(latencies) / len(latencies) * 1000, 2),
    }
    say(f"e2e: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {records} records")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=RECORDS)
    args = parser.parse_args()
    print(json.dumps(run(args.records), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
