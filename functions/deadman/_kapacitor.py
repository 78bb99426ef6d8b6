"""A small client of Kapacitor's HTTP API (tasks and templates).

Statuses and error texts follow what a real Kapacitor answers (see the captures
the tests replay): create of an existing task is 400 ``task X already exists``,
GET of a missing task 404, PATCH of a missing task 404, DELETE always 204. Errors
are sorted into permanent (``KapacitorRejectedError``: the same call would fail
again) and transient (``KapacitorUnavailableError``: retry later).

Every call ends within ``KAPACITOR_TIMEOUT_SECONDS``, answer included
(``DeadlineTransport``). When a task call times out while ``/ping`` still
answers, Kapacitor is most likely wedged in its start/stop deadlock
(kapacitor#1829): every task call hangs until it is restarted. That is logged
once a minute as an error naming the failure mode, beside the per-call failures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Self
from urllib.parse import quote

import httpx

from ._config import KapacitorSettings
from ._exceptions import ConfigurationError, KapacitorUnavailableError
from ._kapacitor_api import Task, Template, error_for
from ._logging import get_logger
from ._shards import Shard
from ._telemetry import KAPACITOR_DURATION, telemetry
from ._transport import DeadlineTransport, basic_auth

__all__ = ["WEDGED_MESSAGE", "KapacitorClient", "Task", "Template"]

_API = "/kapacitor/v1"
# Connection failures are retried by the transport: nothing reached Kapacitor yet.
_CONNECT_RETRIES = 2
# A task call that timed out is followed by a ping this quick, at most this often.
WEDGE_PING_DEADLINE = 2.0
_WEDGE_CHECK_INTERVAL = 60.0
WEDGED_MESSAGE = (
    "Kapacitor's task API does not answer while /ping does: Kapacitor is most likely"
    " wedged in its start/stop deadlock (kapacitor#1829) and only a restart clears it;"
    " its liveness probe should restart it (docs/kapacitor-versions.md: the wedge)"
)

_log = get_logger("kapacitor")


class KapacitorClient:
    """Thread-safe; one per process and Kapacitor, shared by every request of a worker.

    ``shard`` is the Kapacitor to call, one of ``settings.shards``; it may be left
    out when the settings name only one. A shard's own credentials (from its URL)
    take the place of KAPACITOR_USERNAME/PASSWORD or KAPACITOR_TOKEN.
    """

    def __init__(
        self,
        settings: KapacitorSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        shard: Shard | None = None,
    ) -> None:
        if shard is None:
            shards = settings.shards
            if len(shards) != 1:
                raise ConfigurationError(
                    f"KAPACITOR_URLS names {len(shards)} Kapacitors: say which one to call"
                )
            shard = shards[0]
        self.shard = shard
        headers = {"Accept": "application/json", "User-Agent": "deadman-functions"}
        if shard.username is not None and shard.password is not None:
            headers["Authorization"] = basic_auth(shard.username, shard.password.get_secret_value())
        elif settings.kapacitor_username is not None and settings.kapacitor_password is not None:
            headers["Authorization"] = basic_auth(
                settings.kapacitor_username, settings.kapacitor_password.get_secret_value()
            )
        elif settings.kapacitor_token is not None:
            headers["Authorization"] = f"Bearer {settings.kapacitor_token.get_secret_value()}"
        self._transport = transport or DeadlineTransport(
            settings.kapacitor_timeout_seconds,
            max_connections=settings.bulk_concurrency,
            retries=_CONNECT_RETRIES,
        )
        self._client = httpx.Client(
            base_url=shard.url + _API,
            headers=headers,
            timeout=httpx.Timeout(
                settings.kapacitor_timeout_seconds,
                connect=settings.kapacitor_connect_timeout_seconds,
            ),
            transport=self._transport,
        )
        # Requests go straight to the transport (see _send): the client's own layers
        # (URL merging, auth flow, redirects, cookies) cost more CPU per call than
        # the call itself, and 8 threads pay it under one GIL during a bulk event.
        self._base_url = shard.url + _API
        self._headers = httpx.Headers(self._client.headers)
        self._extensions = {"timeout": self._client.timeout.as_dict()}
        # Never with credentials: it names this Kapacitor in messages and logs.
        self.url = shard.url
        self._lock = threading.Lock()
        self._next_wedge_check = 0.0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ping(self, *, deadline: float | None = None) -> str:
        """Kapacitor's version, from the ping reply."""
        response = self._send("GET", "/ping", deadline=deadline)
        return str(response.headers.get("X-Kapacitor-Version", ""))

    # Tasks

    def get_task(self, task_id: str) -> Task | None:
        response = self._send(
            "GET", _task_path(task_id), params={"script-format": "raw"}, missing_ok=True
        )
        return None if response.status_code == 404 else Task.from_json(response.json())

    def create_task(self, body: Mapping[str, Any]) -> Task:
        """Create a task; after a 5xx or a lost reply, read it back before failing.

        Kapacitor may store a task and still answer 500 (an enabled task that fails
        to start stays stored), and a timeout says nothing about what happened.
        """
        task_id = str(body["id"])
        try:
            return Task.from_json(self._send("POST", "/tasks", json=body).json())
        except KapacitorUnavailableError as error:
            stored = self.get_task(task_id)
            if stored is None:
                raise
            if body.get("status") == "enabled" and not stored.executing:
                raise KapacitorUnavailableError(
                    f"task {task_id} was stored but did not start: {stored.error or error}",
                    method="POST",
                    path="/tasks",
                    status_code=error.status_code,
                ) from error
            return stored

    def update_task(self, task_id: str, body: Mapping[str, Any]) -> Task:
        return Task.from_json(self._send("PATCH", _task_path(task_id), json=body).json())

    def delete_task(self, task_id: str) -> None:
        self._send("DELETE", _task_path(task_id))

    def list_tasks(
        self, *, pattern: str = "", fields: tuple[str, ...] = (), page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every task matching ``pattern``, page by page (Kapacitor's default page is 100)."""
        offset = 0
        while True:
            page = self.list_page(pattern=pattern, fields=fields, offset=offset, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def list_page(
        self,
        *,
        pattern: str = "",
        fields: tuple[str, ...] = (),
        offset: int = 0,
        limit: int = 100,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """One page of the task list."""
        params: list[tuple[str, str | int]] = [("offset", offset), ("limit", limit)]
        if pattern:
            params.append(("pattern", pattern))
        params.extend(("fields", name) for name in fields)
        body = self._send("GET", "/tasks", params=params, deadline=deadline).json()
        return list(body.get("tasks") or [])

    # Templates

    def get_template(self, template_id: str) -> Template | None:
        response = self._send(
            "GET", _template_path(template_id), params={"script-format": "raw"}, missing_ok=True
        )
        if response.status_code == 404:
            return None
        body = response.json()
        return Template(id=str(body["id"]), script=str(body.get("script", "")))

    def create_template(self, template_id: str, script: str) -> Template:
        body = self._send("POST", "/templates", json={"id": template_id, "script": script}).json()
        return Template(id=str(body["id"]), script=str(body.get("script", "")))

    def update_template(self, template_id: str, script: str) -> Template:
        body = self._send("PATCH", _template_path(template_id), json={"script": script}).json()
        return Template(id=str(body["id"]), script=str(body.get("script", "")))

    # Alert topics: one per task's alert node, ``main:<task id>:alert<N>``

    def alert_topics(self, *, min_level: str = "OK") -> list[dict[str, Any]]:
        """Every alert topic whose level (its events' highest) is ``min_level`` or
        above, each with its ``id`` and ``level``."""
        body = self._send("GET", "/alerts/topics", params={"min-level": min_level}).json()
        return list(body.get("topics") or [])

    def topic_events(self, topic: str, *, min_level: str = "OK") -> list[dict[str, Any]]:
        """The events of ``topic`` at ``min_level`` or above, each with its ``id`` (the
        alert id) and last ``state`` (``level``, ``time``, ``duration``, ``message``)."""
        path = "/alerts/topics/" + quote(topic, safe="") + "/events"
        body = self._send("GET", path, params={"min-level": min_level}).json()
        return list(body.get("events") or [])

    # Transport

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        missing_ok: bool = False,
        deadline: float | None = None,
    ) -> httpx.Response:
        url = self._base_url + path
        if params:
            url = f"{url}?{httpx.QueryParams(params)}"
        extensions: dict[str, Any] = self._extensions
        if deadline is not None:
            extensions = {**extensions, "deadline": deadline}
        route = _route(path)
        attributes: dict[str, Any] = {"http.request.method": method, "http.route": route}
        started = time.monotonic()
        with telemetry().client_span(f"{method} {route}", attributes) as trace_headers:
            headers = self._headers
            if trace_headers:
                # The W3C trace context travels to Kapacitor (and any proxy before it).
                headers = httpx.Headers({**self._headers, **trace_headers})
            try:
                request = httpx.Request(
                    method, url, headers=headers, json=json, extensions=extensions
                )
                response = self._transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
            except httpx.TransportError as error:
                attributes["error.type"] = type(error).__name__
                telemetry().record(KAPACITOR_DURATION, time.monotonic() - started, attributes)
                if isinstance(error, httpx.TimeoutException) and path != "/ping":
                    self._check_wedged(method, path)
                raise KapacitorUnavailableError(
                    f"Kapacitor did not answer {method} {path}: {type(error).__name__}: {error}",
                    method=method,
                    path=path,
                ) from error
        attributes["http.response.status_code"] = response.status_code
        telemetry().record(KAPACITOR_DURATION, time.monotonic() - started, attributes)
        if response.is_success or (missing_ok and response.status_code == 404):
            return response
        raise error_for(method, path, response)

    def _check_wedged(self, method: str, path: str) -> None:
        """After a task call timed out: say so loudly if ``/ping`` still answers."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_wedge_check:
                return
            self._next_wedge_check = now + _WEDGE_CHECK_INTERVAL
        try:
            version = self.ping(deadline=WEDGE_PING_DEADLINE)
        except KapacitorUnavailableError:
            return  # down or unreachable, not wedged: the call's own error says enough
        fields = {
            "kapacitor_url": self.url,
            "kapacitor_version": version,
            "method": method,
            "path": path,
            "failure": "kapacitor_wedged",
        }
        _log.error(WEDGED_MESSAGE, extra={"fields": fields})


def _route(path: str) -> str:
    """The path with its id templated, as a low-cardinality metric attribute."""
    if path.startswith("/alerts/topics/"):
        return "/alerts/topics/{id}/events"
    for collection in ("/tasks/", "/templates/"):
        if path.startswith(collection):
            return collection + "{id}"
    return path


def _task_path(task_id: str) -> str:
    # Ids are validated before they get here; quoting keeps the path one segment anyway.
    return "/tasks/" + quote(task_id, safe="")


def _template_path(template_id: str) -> str:
    return "/templates/" + quote(template_id, safe="")
