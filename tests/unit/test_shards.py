"""Kapacitor shards: the placement keys, the rendezvous hashing of device codes,
and how a heartbeat names its shard."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from deadman import (
    SHARD_EXTENSION,
    AlertMapper,
    KapacitorAlert,
    TaskIds,
    alert_event_id,
    parse_shard_urls,
    shard_key,
    shard_of,
    shard_score,
)

CODES = [f"dev-{number:05d}" for number in range(10_000)]
THREE = ("http://kapacitor-0:9092", "http://kapacitor-1:9092", "http://kapacitor-2:9092")
FOURTH = "http://kapacitor-3:9092"


def placement(keys: tuple[str, ...]) -> dict[str, str]:
    return {code: shard_of(code, keys) for code in CODES}


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://kapacitor-0:9092", "http://kapacitor-0:9092"),
        ("HTTP://Kapacitor-0:9092/", "http://kapacitor-0:9092"),
        ("https://kapacitor.example", "https://kapacitor.example:443"),
        ("http://kapacitor.example/", "http://kapacitor.example:80"),
        ("http://k:9092/base/path/", "http://k:9092/base/path"),
        ("https://user:pa%40ss@K-0:9092", "https://k-0:9092"),
        ("http://[::1]:9092", "http://[::1]:9092"),
        (" http://k:9092 ", "http://k:9092"),
    ],
)
def test_shard_key_normalises_scheme_host_port_and_path(url: str, key: str) -> None:
    assert shard_key(url) == key


def test_parse_shard_urls_takes_credentials_out_of_the_url() -> None:
    [with_credentials, without] = parse_shard_urls("https://ops:pa%40ss@k-0:9092/, http://k-1:9092")
    assert (with_credentials.url, with_credentials.username) == ("https://k-0:9092", "ops")
    assert with_credentials.password is not None
    assert with_credentials.password.get_secret_value() == "pa@ss"
    assert "pa@ss" not in repr(with_credentials)
    assert "pa%40ss" not in repr(with_credentials)
    assert (without.url, without.username, without.password) == ("http://k-1:9092", None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        (" , ", "at least one"),
        ("kapacitor:9092", "http"),
        ("ftp://u:secret-pw@k:21", "http"),
        ("http://u:secret-pw@k:notaport", "not a URL"),
        ("http://u:secret-pw@k:9092?db=x", "no query"),
        ("http://secret-pw@k:9092", "user:password@"),
        ("http://k:9092,http://u:secret-pw@K:9092/", "listed twice"),
        ("http://k,http://k:80", "listed twice"),
    ],
)
def test_parse_shard_urls_refuses_without_showing_passwords(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_shard_urls(text)
    assert "secret-pw" not in str(refused.value)


def test_shard_score_is_64_bits_of_blake2b_over_key_newline_code() -> None:
    key, code = THREE[0], "dev-42"
    digest = hashlib.blake2b(f"{key}\n{code}".encode(), digest_size=8).digest()
    assert shard_score(key, code) == int.from_bytes(digest, "big")
    assert shard_of(code, THREE) == max(THREE, key=lambda k: shard_score(k, code))


def test_shard_of_spreads_10000_codes_evenly_over_three_shards() -> None:
    shares = Counter(placement(THREE).values())
    assert set(shares) == set(THREE)
    for key in THREE:
        assert abs(shares[key] / len(CODES) - 1 / 3) < 0.02, shares


def test_shard_of_ignores_the_order_of_the_shards() -> None:
    assert placement(THREE) == placement(tuple(reversed(THREE)))
    assert placement(THREE) == placement((THREE[1], THREE[2], THREE[0]))


def test_shard_of_adding_a_fourth_moves_a_quarter_only_onto_it() -> None:
    before, after = placement(THREE), placement((*THREE, FOURTH))
    moved = {code for code in CODES if before[code] != after[code]}
    assert {after[code] for code in moved} == {FOURTH}
    assert abs(len(moved) / len(CODES) - 0.25) < 0.02, len(moved)


def test_shard_of_removing_one_moves_only_its_devices() -> None:
    before, after = placement((*THREE, FOURTH)), placement(THREE)
    moved = {code for code in CODES if before[code] != after[code]}
    assert moved == {code for code in CODES if before[code] == FOURTH}
    # They spread over the rest, not onto one of them.
    assert set(Counter(after[code] for code in moved)) == set(THREE)


# ------------------------------------------------------------- heartbeat events


def heartbeat(details: str) -> KapacitorAlert:
    return KapacitorAlert(
        id="deadman_heartbeat",
        message="deadman_heartbeat is CRITICAL: the alert path is alive",
        details=details,
        time="2026-12-01T07:00:00Z",  # type: ignore[arg-type]
        level="CRITICAL",
        previousLevel="CRITICAL",
    )


MAPPER = AlertMapper(
    source="/kapacitor/deadman",
    types={"CRITICAL": "historicization-stopped"},
    ids=TaskIds("_not_fed", reserved=frozenset({"deadman_heartbeat"})),
    heartbeat_id="deadman_heartbeat",
    heartbeat_type="deadman-heartbeat",
)


def test_alert_mapper_heartbeat_names_the_shard_its_details_carry() -> None:
    events = [MAPPER.to_event(heartbeat(key)) for key in THREE]
    assert all(event is not None for event in events)
    assert [event[SHARD_EXTENSION] for event in events if event] == list(THREE)
    assert [(event.get_data() or {})["shard"] for event in events if event] == list(THREE)
    # Fired at the same aligned instant, still three events to a deduplicating consumer.
    ids = {event["id"] for event in events if event}
    assert len(ids) == 3
    assert alert_event_id(heartbeat(THREE[0])) not in ids


@pytest.mark.parametrize(
    "details",
    ["", "{&#34;Name&#34;:&#34;stats&#34;}\n", "not a url", "http://K-0:9092/", "http://k:9092?x"],
)
def test_alert_mapper_heartbeat_without_a_shard_key_is_as_before(details: str) -> None:
    alert = heartbeat(details)
    event = MAPPER.to_event(alert)
    assert event is not None
    assert SHARD_EXTENSION not in event.get_attributes()
    assert "shard" not in (event.get_data() or {})
    assert event["id"] == alert_event_id(alert)
