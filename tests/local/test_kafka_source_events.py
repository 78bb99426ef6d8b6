"""Records to CloudEvents, as the Knative Kafka dispatcher converts them (no broker)."""

from __future__ import annotations

import base64
import json

from deadman.binding import KAFKA_WRAPPER_TYPE, binary_record, structured_record
from deadman.ops.dlq import decode_record
from deadman_local.kafka_source import (
    KafkaRecord,
    SourceConfig,
    event_from_record,
    http_request,
)
from deadman_local.kafka_source._events import with_error_extensions
from tests.support.kafka_source import outbox_event

SOURCE = SourceConfig(
    name="enable-alert",
    namespace="deadman",
    topics=("t",),
    consumer_group="g",
    sink_url="http://fn",
    ce_overrides={"team": "iot"},
)


def record(
    value: bytes | None, headers: list[tuple[str, bytes | None]], key: bytes | None = b"dev-1"
) -> KafkaRecord:
    return KafkaRecord("t", 2, 41, 1_795_284_272_580, key, value, tuple(headers))


def test_event_from_record_wraps_a_plain_record() -> None:
    value = json.dumps(outbox_event("e-1")).encode()
    event = event_from_record(
        record(value, [("Debezium-Table_Name", b"outbox"), ("Content-Type", b"Application/JSON")]),
        SOURCE,
    )
    assert event.wrapped
    assert dict(event.attributes) == {
        "specversion": "1.0",
        "id": "partition:2/offset:41",
        "source": "/apis/v1/namespaces/deadman/kafkasources/enable-alert#t",
        "type": KAFKA_WRAPPER_TYPE,
        "subject": "partition:2#41",
        "time": "2026-11-21T18:04:32.58Z",
        "key": "dev-1",
        "partitionkey": "dev-1",
        "kafkaheaderdebeziumtablename": "outbox",
        "datacontenttype": "application/json",
        "knativekafkapartition": "2",
        "knativekafkaoffset": "41",
        "team": "iot",
    }
    assert event.data == value


def test_event_from_record_without_key_or_content_type_sends_no_content_type() -> None:
    event = event_from_record(record(b"{}", [], key=None), SOURCE)
    headers, body = http_request(event)
    assert "ce-key" not in headers
    assert "ce-partitionkey" not in headers
    assert "Content-Type" not in headers
    assert headers["Prefer"] == "reply"
    assert body == b"{}"


def test_event_from_record_reads_binary_and_structured_cloudevents() -> None:
    inner = outbox_event("e-2")
    binary = event_from_record(
        record(
            b'{"a":1}',
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"e-2"),
                ("ce_source", b"/s"),
                ("ce_type", b"device-enabled"),
                ("content-type", b"application/json"),
            ],
        ),
        SOURCE,
    )
    structured = event_from_record(
        record(json.dumps(inner).encode(), [("content-type", b"application/cloudevents+json")]),
        SOURCE,
    )
    for event in (binary, structured):
        assert not event.wrapped
        assert event.attributes["type"] == "device-enabled"
        assert event.attributes["knativekafkaoffset"] == "41"
        assert "key" not in event.attributes
    assert binary.data == b'{"a":1}'
    assert json.loads(structured.data or b"") == inner["data"]
    assert structured.attributes["iodebeziumop"] == "c"


def test_event_from_record_wraps_an_invalid_cloudevent() -> None:
    broken = record(b"not json", [("content-type", b"application/cloudevents+json")])
    no_id = record(b"x", [("ce_specversion", b"1.0"), ("ce_type", b"t"), ("ce_source", b"/")])
    assert event_from_record(broken, SOURCE).attributes["datacontenttype"] == (
        "application/cloudevents+json"
    )
    assert event_from_record(no_id, SOURCE).attributes["kafkaheadercespecversion"] == "1.0"


def test_http_request_percent_encodes_non_ascii_header_values() -> None:
    event = event_from_record(record(b"x", [("note", "café".encode())]), SOURCE)
    headers, _ = http_request(event)
    assert headers["ce-kafkaheadernote"] == "caf%C3%A9"


def test_with_error_extensions_response_and_no_response() -> None:
    event = event_from_record(record(b"x", []), SOURCE)
    body = b'{"error": "invalid device code"}' + b"." * 2000
    failed = with_error_extensions(event, "http://fn/x", 400, body, {"Kne-Reason": "bad"})
    assert failed.attributes["knativeerrorcode"] == "400"
    assert failed.attributes["knativeerrordest"] == "http://fn/x"
    assert base64.b64decode(failed.attributes["knativeerrordata"]) == body[:1024]
    assert failed.attributes["reason"] == "bad"
    refused = with_error_extensions(event, "http://fn/x", None, None)
    assert refused.attributes["knativeerrordest"] == "http://fn/x"
    assert "knativeerrorcode" not in refused.attributes
    assert "knativeerrordata" not in refused.attributes


def test_kafka_encodings_round_trip_through_the_dlq_reader() -> None:
    event = event_from_record(record(json.dumps(outbox_event("e-3")).encode(), []), SOURCE)
    failed = with_error_extensions(event, "http://fn", 422, b"rejected")
    for key, value, headers in (
        binary_record(failed.attributes, failed.data, keep_position=True),
        structured_record(failed.attributes, failed.data),
    ):
        letter = decode_record("dlq", 0, 5, key, value, headers)
        assert key == b"dev-1"
        assert letter.error_code == "422"
        assert letter.error_data == "rejected"
        assert letter.attributes["id"] == "partition:2/offset:41"
        assert json.loads(letter.data or b"") == outbox_event("e-3")
