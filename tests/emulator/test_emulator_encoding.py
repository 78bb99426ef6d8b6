"""Go's printing where clients read it: JSON, quoting, times, template fields."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman_local.kapacitor_emulator._gofmt import (
    JSONValue,
    go_quote,
    go_time,
    marshal,
    render,
    rfc3339nano,
)

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


@pytest.mark.parametrize(("text", "quoted"), [("a b", '"a b"'), ('a"b', '"a\\"b"')])
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_times_print_like_go() -> None:
    ns = 1_795_110_430_000_000_000
    assert rfc3339nano(ns) == "2026-11-19T17:47:10Z"
    assert rfc3339nano(ns + 120_000) == "2026-11-19T17:47:10.00012Z"
    assert rfc3339nano(None) == "0001-01-01T00:00:00Z"
    assert go_time(ns) == "2026-11-19 17:47:10 +0000 UTC"


def test_render_prints_fields_like_go_and_leaves_other_actions() -> None:
    data = {"ID": "i", "Fields": {"emitted": 8.0}, "Tags": {}, "Group": "nil"}
    template = "{{.ID}} {{ .Fields }} {{.Tags}} {{.Group}} {{ if .X }} {{.Missing}}"
    assert render(template, data) == "i map[emitted:8] map[] nil {{ if .X }} {{.Missing}}"
