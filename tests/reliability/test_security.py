"""Security: the callback token, Kapacitor credentials from a mounted secret, no
secret in a log line or an error body, no debug server.

Covered elsewhere, not repeated here: the image runs as a numeric non-root user
and its command carries no --debug/DEBUG (tests/deploy/test_containerfile.py,
test_containerfile_runs_as_non_root and test_containerfile_no_debug_server).
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import httpx
import pytest
from werkzeug.test import TestResponse

from deadman_local.functions import FunctionProcess
from deadman_local.kapacitor_emulator import KapacitorEmulator
from deadman_local.kapacitor_emulator._auth import AuthConfig
from tests.support.apps import CALLBACK_TOKEN, Apps, check_error_body
from tests.support.emulator import served_emulator
from tests.support.events import inner_event, wrapped_delivery
from tests.support.logs import LogCapture
from tests.support.paths import FUNCTIONS_SOURCE
from tests.support.shared import captured_alerts
from tests.support.tasks import SUFFIX

USERNAME = "deadman-svc"
PASSWORD = "pw-Kx81!q-basic-secret"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.kapacitor-bearer-secret.sig"
ALERT = next(body for body in captured_alerts() if body["level"] == "CRITICAL")


def callback(apps: Apps, authorization: str | None, body: bytes) -> TestResponse:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return apps.post("alert_callback", headers, body)


WRONG_AUTHORIZATION = {
    "missing": None,
    "scheme only": "Bearer",
    "empty token": "Bearer ",
    "prefix of the token": "Bearer " + CALLBACK_TOKEN[:-1],
    "token plus one": "Bearer " + CALLBACK_TOKEN + "x",
    "two spaces": "Bearer  " + CALLBACK_TOKEN,
    "no scheme": CALLBACK_TOKEN,
    "other scheme": "Token " + CALLBACK_TOKEN,
    "basic": "Basic " + base64.b64encode(f"kapacitor:{CALLBACK_TOKEN}".encode()).decode(),
    "non-ascii": "Bearer jeton-é",
}


@pytest.mark.parametrize(
    "authorization", list(WRONG_AUTHORIZATION.values()), ids=list(WRONG_AUTHORIZATION)
)
def test_security_callback_wrong_token_401_nothing_sent_nothing_echoed(
    apps: Apps, captured_logs: LogCapture, authorization: str | None
) -> None:
    sent = len(apps.sink.requests("/"))
    response = callback(apps, authorization, json.dumps(ALERT).encode())
    assert response.status_code == 401
    assert check_error_body(response)["error"] == "unauthorized"
    assert len(apps.sink.requests("/")) == sent
    assert CALLBACK_TOKEN.encode() not in response.data
    assert CALLBACK_TOKEN not in captured_logs.text
    if authorization:
        assert authorization not in captured_logs.text


def test_security_callback_token_compared_in_constant_time(
    apps: Apps, captured_logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(presented: bytes, expected: bytes) -> bool:
        compared.append((presented, expected))
        return compare_digest(presented, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert callback(apps, "Bearer guess", b"{}").status_code == 401
    good = callback(apps, f"bearer {CALLBACK_TOKEN}", json.dumps(ALERT).encode())
    assert good.status_code == 200
    malformed = callback(apps, f"Bearer {CALLBACK_TOKEN}", b"{not json")
    assert malformed.status_code == 400
    assert (
        compared
        == [(b"guess", CALLBACK_TOKEN.encode())]
        + [(CALLBACK_TOKEN.encode(), CALLBACK_TOKEN.encode())] * 2
    )
    for response in (good, malformed):
        assert CALLBACK_TOKEN.encode() not in response.data
    assert CALLBACK_TOKEN not in captured_logs.text


def test_security_request_authorization_header_never_logged(
    apps: Apps, captured_logs: LogCapture
) -> None:
    """functions-framework's own 400 for a JSON body that is no CloudEvent lists the
    request headers; the log line keeps only its first line."""
    probe = "s3cr3t"
    headers = {
        "User-Agent": "k",
        "Authorization": f"Bearer {probe}",
        "Content-Type": "application/json",
    }
    response = apps.post("enable_alert", headers, b'{"a": 1}')
    assert response.status_code == 400
    check_error_body(response)
    assert any("request refused" in line for line in captured_logs.lines)
    assert probe not in captured_logs.text
    assert "Authorization" not in captured_logs.text
    assert "Got HTTP headers" not in captured_logs.text
    assert probe.encode() not in response.data


# Kapacitor credentials from a mounted secret, under gunicorn.


class Credentials(TypedDict, total=False):
    """What the emulator accepts: basic auth or one bearer token."""

    username: str
    password: str
    bearer_token: str


@dataclass
class SecuredFunction:
    function: FunctionProcess
    emulator: KapacitorEmulator
    log: Path
    secrets: tuple[str, ...]

    def enable(self, device: str) -> httpx.Response:
        delivery = wrapped_delivery(inner_event("device-enabled", [device]))
        return httpx.post(
            self.function.url, headers=delivery.headers, content=delivery.body, timeout=30
        )

    def check_no_secret_anywhere(self, *responses: httpx.Response) -> None:
        text = self.log.read_text(errors="replace")
        assert "request refused" in text or "device action done" in text  # logging works
        for secret in self.secrets:
            assert secret not in text
            for response in responses:
                assert secret not in response.text
        environ = Path(f"/proc/{self.function.pid}/environ").read_bytes()
        for secret in self.secrets:
            assert secret.encode() not in environ, "the secret came from the environment"


@pytest.fixture(scope="module", params=["basic", "bearer"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuredFunction]:
    """enable_alert reading Kapacitor credentials from SECRETS_DIR, at debug log level,
    started from a shell that has DEBUG set."""
    kind = request.param
    folder = tmp_path_factory.mktemp(f"secured-{kind}")
    secrets_dir = folder / "secrets"
    secrets_dir.mkdir()
    if kind == "basic":
        (secrets_dir / "KAPACITOR_USERNAME").write_text(USERNAME)
        (secrets_dir / "KAPACITOR_PASSWORD").write_text(PASSWORD)
        options: Credentials = {"username": USERNAME, "password": PASSWORD}
        basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        secrets: tuple[str, ...] = (PASSWORD, basic)
    else:
        (secrets_dir / "KAPACITOR_TOKEN").write_text(TOKEN)
        options = {"bearer_token": TOKEN}
        secrets = (TOKEN,)
    log = folder / "function.log"
    with served_emulator(**options) as running, pytest.MonkeyPatch.context() as env:
        env.setenv("DEBUG", "1")
        for name in ("KAPACITOR_USERNAME", "KAPACITOR_PASSWORD", "KAPACITOR_TOKEN"):
            env.delenv(name, raising=False)
        function = FunctionProcess(
            "enable_alert",
            env={
                "SECRETS_DIR": str(secrets_dir),
                "KAPACITOR_URL": running.url,
                "KAPACITOR_DB": "iot",
                "LOG_LEVEL": "DEBUG",
            },
            log_path=log,
            source=FUNCTIONS_SOURCE,
        )
        with function:
            yield SecuredFunction(function, running.emulator, log, secrets)


def test_security_kapacitor_credentials_from_secrets_dir_work(secured: SecuredFunction) -> None:
    response = secured.enable("sec-ok")
    assert response.status_code == 200, response.text
    task = secured.emulator.task("sec-ok" + SUFFIX)
    assert task is not None
    assert task.status == "enabled"
    secured.check_no_secret_anywhere(response)


def test_security_kapacitor_rejecting_credentials_503_without_echo(
    secured: SecuredFunction,
) -> None:
    """Kapacitor's credentials rotated under the function: its 401 becomes a 503
    (retried, then dead-lettered: the events are kept) and nothing echoes a secret."""
    configured = secured.emulator.auth
    secured.emulator.auth = AuthConfig(
        configured.username, "rotated" if configured.password else None, configured.bearer_token
    )
    if configured.bearer_token:
        secured.emulator.auth = AuthConfig(bearer_token="rotated-token")
    try:
        response = secured.enable("sec-rejected")
    finally:
        secured.emulator.auth = configured
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "devices_unavailable"
    assert "401" in body["devices"][0]["reason"]
    assert secured.emulator.task("sec-rejected" + SUFFIX) is None
    secured.check_no_secret_anywhere(response)


def test_security_unexpected_error_is_503_json_not_a_debugger(secured: SecuredFunction) -> None:
    # A 200 without a task in it: the client trips over it (KeyError), unexpectedly.
    secured.emulator.fail_next(times=1, status=200, method="GET")
    response = secured.enable("sec-crash")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "internal_error",
        "message": "internal error; the request can be retried",
    }
    for marker in ("Traceback", "Werkzeug", "debugger", "<html", "KeyError"):
        assert marker not in response.text
    assert "KeyError" in secured.log.read_text()  # the trace went to the log instead
    secured.check_no_secret_anywhere(response)


def test_security_function_process_is_gunicorn_without_debug(secured: SecuredFunction) -> None:
    """DEBUG in the caller's environment must not turn on Flask's debug server."""
    response = secured.enable("sec-server")
    assert response.headers.get("server", "").startswith("gunicorn")
    pid = secured.function.pid
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--debug" not in command
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(entry.startswith(b"DEBUG=") for entry in environ)
    assert "Debugger is active" not in secured.log.read_text()
