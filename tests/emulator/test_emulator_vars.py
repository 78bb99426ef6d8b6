"""Var decoding and normalisation (contract §3), unit level and through the API.
Kapacitor's own var rules are also tested on the real server (tests/unit)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman_local.kapacitor_emulator import KapacitorEmulator, Var
from deadman_local.kapacitor_emulator._request import InvalidJSON, decode_task

# What a real Kapacitor 1.5.7 reads ("ns" and "us" it refuses: tests/unit).
_UNITS = {"u": 1_000, "µ": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNITS |= {"h": 3600 * 10**9, "d": 86400 * 10**9, "w": 604800 * 10**9}


def _vars(raw: dict[str, Any]) -> dict[str, Var]:
    return decode_task(json.dumps({"vars": raw}).encode()).vars


@given(st.integers(min_value=0, max_value=10**4), st.sampled_from(sorted(_UNITS)))
def test_duration_var_string_or_int_becomes_nanoseconds(number: int, unit: str) -> None:
    expected = {"p": Var("duration", number * _UNITS[unit])}
    assert _vars({"p": {"type": "duration", "value": f"{number}{unit}"}}) == expected
    assert _vars({"p": {"type": "duration", "value": number * _UNITS[unit]}}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "duration", "value": value}
        for value in ("1.5s", "30", "s", "", "10x", "10ns", "10us", 1.5, True, [1])
    ]
    + [
        {"type": "int", "value": 4.5},
        {"type": "int", "value": "4"},
        {"type": "float", "value": "1"},
        {"type": "nope", "value": 1},
        {"type": "list", "value": "a"},
        "not-an-object",
    ],
)
def test_var_the_client_cannot_read_is_invalid_json(raw: object) -> None:
    with pytest.raises(InvalidJSON):
        _vars({"x": raw})


def test_var_values_normalise_per_type() -> None:
    converted = _vars(
        {
            "b": {"type": "bool", "value": False},
            "i": {"type": "int", "value": 7},
            "f": {"type": "float", "value": 42},
            "s": {"type": "string", "value": "v", "description": "d"},
            "star": {"type": "star", "value": "ignored"},
            "l": {"type": "list", "value": [{"type": "string", "value": "host"}]},
        }
    )
    assert converted == {
        "b": Var("bool", False),
        "i": Var("int", 7),
        "f": Var("float", 42.0),
        "s": Var("string", "v", "d"),
        "star": Var("star", None),
        "l": Var("list", (Var("string", "host"),)),
    }


def _create(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post("/tasks", json=body)


def test_api_undeclared_var_is_stored_and_returned(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
) -> None:
    body = make_task_body("dev-1_not_fed", "dev-1")
    body["vars"]["applied_at"] = {"type": "string", "value": "2026-11-21T17:45:01Z"}
    response = _create(api, body)
    assert response.status_code == 200, response.text
    assert response.json()["vars"]["applied_at"] == {
        "type": "string",
        "value": "2026-11-21T17:45:01Z",
        "description": "",
    }
    task = seeded.task("dev-1_not_fed")
    assert task is not None
    assert task.vars["applied_at"].value == "2026-11-21T17:45:01Z"


def test_api_duration_string_comes_back_as_nanoseconds(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
) -> None:
    body = make_task_body("dev-2_not_fed", "dev-2")
    body["vars"]["period"] = {"type": "duration", "value": "30s"}
    response = _create(api, body)
    assert response.status_code == 200, response.text
    assert response.json()["vars"]["period"]["value"] == 30_000_000_000


@pytest.mark.parametrize(
    ("var", "error"),
    [
        (
            {"period": {"type": "string", "value": "30s"}},
            "invalid TICKscript: invalid type supplied for period, got string exp duration",
        ),
        (
            {"threshold": {"type": "bool", "value": True}},
            "invalid TICKscript: invalid type supplied for threshold, got boolean exp float",
        ),
        ({"period": {"type": "duration", "value": "30"}}, "invalid JSON"),
        (
            {"name": {"type": "string", "value": None}},
            "invalid var name: mismatched type and value",
        ),
    ],
)
def test_api_var_type_errors_answer_400(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
    var: dict[str, Any],
    error: str,
) -> None:
    body = make_task_body("dev-3_not_fed", "dev-3")
    body["vars"].update(var)
    response = _create(api, body)
    assert response.status_code == 400
    assert response.json() == {"error": error, "message": error}
    assert seeded.task("dev-3_not_fed") is None


def test_api_patch_vars_replace_the_whole_map(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
) -> None:
    body = make_task_body("dev-4_not_fed", "dev-4")
    assert _create(api, body).status_code == 200
    partial = api.patch(
        "/tasks/dev-4_not_fed", json={"vars": {"period": {"type": "duration", "value": "30s"}}}
    )
    assert partial.status_code == 400
    assert partial.json()["error"] == 'invalid TICKscript: missing value for var "name".'
    full = dict(body["vars"], period={"type": "duration", "value": 60_000_000_000})
    replaced = api.patch("/tasks/dev-4_not_fed", json={"vars": full})
    assert replaced.status_code == 200
    assert replaced.json()["vars"]["period"]["value"] == 60_000_000_000
    narrower = {k: v for k, v in body["vars"].items()}
    assert api.patch("/tasks/dev-4_not_fed", json={"vars": narrower}).json()["vars"].keys() == (
        narrower.keys()
    )
