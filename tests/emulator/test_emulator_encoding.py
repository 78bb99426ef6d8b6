"""Go-compatible JSON, quoting, times and template rendering."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman_local.kapacitor_emulator._gojson import JSONValue, go_quote, marshal, rfc3339nano
from deadman_local.kapacitor_emulator._gotemplate import GoDuration, GoTime, render

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(_JSON, st.booleans())
def test_marshal_round_trips_through_json(value: JSONValue, indent: bool) -> None:
    assert json.loads(marshal(value, indent=indent)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (12.0, "12"),
        (2.5, "2.5"),
        (0.00001, "0.00001"),
        (1e21, "1e+21"),
        (1e-7, "1e-07"),
        ("<&>", '"\\u003c\\u0026\\u003e"'),
        ({}, "{}"),
        ([], "[]"),
        ("\u2028", '"\\u2028"'),
    ],
)
def test_marshal_matches_go_encoding(value: JSONValue, text: str) -> None:
    assert marshal(value, indent=False).decode() == text


def test_marshal_indent_is_four_spaces_without_trailing_newline() -> None:
    assert marshal({"a": [1, {"b": None}]}, indent=True).decode() == (
        '{\n    "a": [\n        1,\n        {\n            "b": null\n        }\n    ]\n}'
    )


@pytest.mark.parametrize(
    ("text", "quoted"),
    [("a b", '"a b"'), ('a"b', '"a\\"b"'), ("\x01é", '"\\x01é"'), ("\u200b", '"\\u200b"')],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_times_and_durations_print_like_go() -> None:
    ns = 1_795_110_430_000_000_000
    assert rfc3339nano(ns) == "2026-11-19T17:47:10Z"
    assert rfc3339nano(ns + 120_000) == "2026-11-19T17:47:10.00012Z"
    assert rfc3339nano(None) == "0001-01-01T00:00:00Z"
    assert str(GoTime(ns)) == "2026-11-19 17:47:10 +0000 UTC"
    assert [str(GoDuration(n)) for n in (0, 1500, 20 * 10**9, 5400 * 10**9)] == [
        "0s",
        "1.5µs",
        "20s",
        "1h30m0s",
    ]


def test_render_supports_fields_index_and_leaves_other_actions() -> None:
    data = {"ID": "i", "Fields": {"emitted": 8.0}, "Tags": {"device": "d<1>"}}
    assert render('{{.ID}} {{ .Fields }} {{ index .Tags "device" }} {{ if .X }}', data) == (
        "i map[emitted:8] d<1> {{ if .X }}"
    )
    assert render('{{ index .Tags "device" }}', data, escape=True) == "d&lt;1&gt;"
