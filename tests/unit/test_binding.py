"""The CloudEvents binding rules, written once in deadman.binding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman.binding import (
    KAFKA_WRAPPER_TYPE,
    binary_record,
    decode_header_value,
    encode_header_value,
    http_headers,
    kafka_header_extension,
    read_record,
    unwrapped_record,
    wrapped_attributes,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("dev-1", "dev-1"),
        ("Gerät-ß", "Ger%C3%A4t-%C3%9F"),
        ("100%", "100%25"),
        ('say "hi"', "say%20%22hi%22"),
        ("tab\there", "tab%09here"),
        ("🙂", "%F0%9F%99%82"),
    ],
)
def test_encode_header_value_percent_encodes_what_http_binding_requires(
    value: str, encoded: str
) -> None:
    assert encode_header_value(value) == encoded
    assert encoded.isascii()
    assert decode_header_value(encoded) == value


@given(st.text())
def test_header_value_round_trip(value: str) -> None:
    encoded = encode_header_value(value)
    assert all("!" <= char <= "~" for char in encoded)
    assert decode_header_value(encoded) == value


@pytest.mark.parametrize(
    "value",
    ["plain", "name:connector-mysql;file:binlog.000003;pos:1547", "50%", "%zz", "%C3"],
)
def test_decode_header_value_leaves_unencoded_values_alone(value: str) -> None:
    """What Knative's data plane sends raw (no %XX sequence, or none that is UTF-8)."""
    assert decode_header_value(value) == value


def test_decode_header_value_accepts_unnecessary_encoding() -> None:
    assert decode_header_value("%64%65%76-1") == "dev-1"


def test_http_headers_binary_mode() -> None:
    headers = http_headers(
        {"specversion": "1.0", "subject": "Gerät 1", "datacontenttype": "application/json"}
    )
    assert headers == {
        "ce-specversion": "1.0",
        "ce-subject": "Ger%C3%A4t%201",
        "Content-Type": "application/json",
    }


def test_read_record_binary_structured_and_raw() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"x"),
        ("ce_source", b"/s"),
        ("ce_type", b"t"),
        ("content-type", b"application/json"),
    ]
    binary = read_record(headers, b"{}")
    assert (binary.encoding, binary.attributes["id"], binary.data) == ("binary", "x", b"{}")
    assert binary.attributes["datacontenttype"] == "application/json"
    envelope = {"specversion": "1.0", "id": "y", "source": "/s", "type": "t", "data": {"a": 1}}
    structured = read_record(
        [("content-type", b"application/cloudevents+json")],
        json.dumps({**envelope, "extra": 2}).encode(),
    )
    assert structured.encoding == "structured"
    assert structured.attributes == {
        "specversion": "1.0",
        "id": "y",
        "source": "/s",
        "type": "t",
        "extra": "2",
    }
    assert json.loads(structured.data or b"") == {"a": 1}
    raw = read_record([("source", b"{}")], b'{"specversion":"1.0"}')
    assert (raw.encoding, raw.attributes, raw.data) == ("raw", {}, b'{"specversion":"1.0"}')


@pytest.mark.parametrize("missing", ["id", "source", "type"])
def test_read_record_invalid_cloudevent_is_raw_as_the_source_wraps_it(missing: str) -> None:
    """Knative's InvalidCloudEventInterceptor: an event without a required
    attribute, or of another version, is delivered wrapped, like any record."""
    envelope = {"specversion": "1.0", "id": "y", "source": "/s", "type": "t"}
    del envelope[missing]
    value = json.dumps(envelope).encode()
    structured = read_record([("content-type", b"application/cloudevents+json")], value)
    assert (structured.encoding, structured.data) == ("raw", value)
    headers = [(f"ce_{name}", text.encode()) for name, text in envelope.items()]
    assert read_record(headers, b"{}").encoding == "raw"
    version = [("ce_specversion", b"0.3"), ("ce_id", b"y"), ("ce_source", b"/s"), ("ce_type", b"t")]
    assert read_record(version, b"{}").encoding == "raw"


def test_wrapped_attributes_then_unwrapped_record_restore_the_record() -> None:
    headers = [("Debezium-Table_Name", b"outbox"), ("content-type", b"Application/JSON")]
    attributes = wrapped_attributes(2, 41, b"dev-1", headers)
    assert attributes["type"] == KAFKA_WRAPPER_TYPE
    assert attributes["id"] == "partition:2/offset:41"
    assert attributes["key"] == attributes["partitionkey"] == "dev-1"
    assert attributes[kafka_header_extension("Debezium-Table_Name")] == "outbox"
    assert kafka_header_extension("Debezium-Table_Name") == "kafkaheaderdebeziumtablename"
    assert attributes["datacontenttype"] == "application/json"
    key, value, restored = unwrapped_record(attributes, b"{}")
    assert (key, value) == (b"dev-1", b"{}")
    assert restored == [
        ("debeziumtablename", b"outbox"),
        ("content-type", b"application/json"),
    ]


def test_binary_record_keys_by_partitionkey_and_drops_source_positions() -> None:
    key, value, headers = binary_record(
        {
            "id": "1",
            "partitionkey": "dev-9",
            "knativekafkaoffset": "3",
            "datacontenttype": "application/json",
        },
        b"{}",
        key=b"other",
    )
    assert (key, value) == (b"dev-9", b"{}")
    assert headers == [
        ("ce_id", b"1"),
        ("ce_partitionkey", b"dev-9"),
        ("content-type", b"application/json"),
    ]
