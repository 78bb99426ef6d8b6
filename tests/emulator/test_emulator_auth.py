"""Authentication when enabled: every route (ping included), compact 401 bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict, Unpack

import httpx
import pytest

from deadman_local.kapacitor_emulator import KapacitorEmulator, RunningEmulator, serve


@pytest.fixture(scope="module")
def secured() -> Iterator[RunningEmulator]:
    emulator = KapacitorEmulator(username="kapa", password="s3cret", bearer_token="tok-1")
    with serve(emulator) as running:
        yield running


class Credentials(TypedDict, total=False):
    """The ways a client presents credentials: basic auth, a header."""

    auth: tuple[str, str]
    headers: dict[str, str]


def _get(running: RunningEmulator, path: str, **kwargs: Unpack[Credentials]) -> httpx.Response:
    return httpx.get(f"{running.url}{path}", **kwargs)


@pytest.mark.parametrize(
    "path",
    ["/kapacitor/v1/ping", "/kapacitor/v1/tasks", "/kapacitor/v1/nope"],
)
def test_auth_without_credentials_is_401_on_every_route(
    secured: RunningEmulator, path: str
) -> None:
    response = _get(secured, path)
    assert response.status_code == 401
    assert response.content == (
        b'{"error":"unable to parse authentication credentials",'
        b'"message":"unable to parse authentication credentials"}'
    )
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (("kapa", "wrong"), "authorization failed"),
        (("other", "s3cret"), "authorization failed"),
        (("", "s3cret"), "username required"),
    ],
)
def test_auth_bad_basic_credentials(
    secured: RunningEmulator, auth: tuple[str, str], message: str
) -> None:
    response = _get(secured, "/kapacitor/v1/ping", auth=auth)
    assert response.status_code == 401
    assert response.json() == {"error": message, "message": message}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": ("kapa", "s3cret")},
        {"headers": {"Authorization": "Bearer tok-1"}},
    ],
    ids=["basic", "bearer"],
)
def test_auth_good_credentials_pass(secured: RunningEmulator, kwargs: Credentials) -> None:
    response = _get(secured, "/kapacitor/v1/ping", **kwargs)
    assert response.status_code == 204
    assert response.headers["X-Kapacitor-Version"] == "1.7.7-emulator"


def test_auth_wrong_bearer_token_is_invalid_token(secured: RunningEmulator) -> None:
    response = _get(secured, "/kapacitor/v1/ping", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid token: signature is invalid"


def test_auth_control_routes_need_no_credentials(secured: RunningEmulator) -> None:
    assert _get(secured, "/emulator/state").status_code == 200


def test_auth_disabled_by_default(emulator: KapacitorEmulator, running: RunningEmulator) -> None:
    assert _get(running, "/kapacitor/v1/ping", auth=("any", "thing")).status_code == 204
