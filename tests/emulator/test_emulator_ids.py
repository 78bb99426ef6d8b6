"""Task and template ids: ``^[-\\._\\p{L}0-9]+$``, Go-quoted in the error text."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman_local.kapacitor_emulator import KapacitorEmulator
from deadman_local.kapacitor_emulator._tasks import valid_id

_ALLOWED = st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo")) | st.sampled_from(
    list("0123456789-._")
)


@given(st.text(_ALLOWED, min_size=1, max_size=30))
def test_valid_id_accepts_letters_digits_and_punctuation(text: str) -> None:
    assert valid_id(text)


# A combining accent (category Mn) and non-ASCII digits are not in the class either.
_FORBIDDEN = [" ", "/", '"', "'", ":", "\t", "\n", "\\", "*", "\u0301", "\u0663", "\u00b2"]


@given(st.text(_ALLOWED, max_size=10), st.sampled_from(_FORBIDDEN), st.text(_ALLOWED, max_size=10))
def test_valid_id_rejects_any_other_character(prefix: str, bad: str, suffix: str) -> None:
    assert not valid_id(prefix + bad + suffix)


@pytest.mark.parametrize("task_id", ["dev-1_not_fed", "Gerät.7", "устройство_1", "設備-3", "a"])
def test_create_accepts_unicode_letter_ids(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
    task_id: str,
) -> None:
    response = api.post("/tasks", json=make_task_body(task_id, "m"))
    assert response.status_code == 200, response.text
    assert response.json()["link"]["href"] == f"/kapacitor/v1/tasks/{task_id}"
    assert api.get(f"/tasks/{task_id}").status_code == 200


@pytest.mark.parametrize(
    ("task_id", "quoted"),
    [("a b", '"a b"'), ("a/b", '"a/b"'), ('a"b', '"a\\"b"'), ("a\nb", '"a\\nb"'), ("x:y", '"x:y"')],
)
def test_create_rejects_ids_outside_the_regex(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
    task_id: str,
    quoted: str,
) -> None:
    response = api.post("/tasks", json=make_task_body(task_id, "m"))
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"task ID must contain only letters, numbers, '-', '.' and '_'. {quoted}"
    )
    assert seeded.tasks() == {}


def test_create_without_id_gets_a_uuid4(
    api: httpx.Client,
    seeded: KapacitorEmulator,
    make_task_body: Callable[..., dict[str, Any]],
) -> None:
    body = make_task_body("", "m")
    response = api.post("/tasks", json=body)
    assert response.status_code == 200, response.text
    assert uuid.UUID(response.json()["id"]).version == 4


def test_template_id_is_checked_with_its_own_message(
    api: httpx.Client, emulator: KapacitorEmulator, deadman_script: str
) -> None:
    response = api.post("/templates", json={"id": "bad id", "script": deadman_script})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "template ID must contain only letters, numbers, '-', '.' and '_'. \"bad id\""
    )


def test_task_path_with_slash_is_a_missing_id(
    api: httpx.Client, seeded: KapacitorEmulator, make_task_body: Callable[..., dict[str, Any]]
) -> None:
    assert api.post("/tasks", json=make_task_body("a", "m")).status_code == 200
    response = api.get("/tasks/a/b")
    assert response.status_code == 404
    assert response.json()["error"] == "no task exists"
