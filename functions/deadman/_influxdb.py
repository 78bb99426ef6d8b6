"""A small client of InfluxDB 1.x's HTTP API, for the data-path check.

Each call ends by ``INFLUXDB_TIMEOUT_SECONDS``, answer included (the same
``DeadlineTransport`` as Kapacitor's client): a paused InfluxDB accepts the
connection and never answers, and a caller must learn that quickly. Every failure
(refused, timed out, an error status, an error in the result) is an
``InfluxDBUnavailableError``; the statement is never in its message when it could
carry credentials (it never does here: they travel as basic auth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import httpx

from ._exceptions import InfluxDBUnavailableError
from ._transport import DeadlineTransport, basic_auth

__all__ = ["InfluxDBClient", "Series", "quoted"]

# Concurrent calls of one process: a storm's probes and reads are single-flight.
_MAX_CONNECTIONS = 4


class _InfluxDBConnection(Protocol):
    influxdb_url: str | None
    influxdb_username: str | None
    influxdb_timeout_seconds: float

    @property
    def influxdb_password(self) -> Any: ...


@dataclass(frozen=True)
class Series:
    """One series of a query's result: ``values`` rows of ``columns``, times in ns."""

    name: str
    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    tags: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.values]


def quoted(name: str) -> str:
    """An InfluxQL identifier in double quotes (names here never hold quotes)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxDBClient:
    """Thread-safe; one per process."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        username: str | None = None,
        password: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "deadman-functions"}
        if username is not None and password is not None:
            headers["Authorization"] = basic_auth(username, password)
        self.url = url
        self._client = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport or DeadlineTransport(timeout, max_connections=_MAX_CONNECTIONS),
        )

    @classmethod
    def from_settings(
        cls, settings: _InfluxDBConnection, *, transport: httpx.BaseTransport | None = None
    ) -> InfluxDBClient:
        assert settings.influxdb_url is not None
        password = settings.influxdb_password
        return cls(
            settings.influxdb_url,
            timeout=settings.influxdb_timeout_seconds,
            username=settings.influxdb_username,
            password=None if password is None else password.get_secret_value(),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ping(self) -> None:
        """Return when InfluxDB answers ``/ping``; raise InfluxDBUnavailableError otherwise."""
        self._call("GET", "/ping", "ping")

    def query(self, statement: str) -> list[Series]:
        """Every series the statement returned (times as integer nanoseconds)."""
        response = self._call(
            "POST", "/query", "query", data={"q": statement}, params={"epoch": "ns"}
        )
        try:
            body = response.json()
        except ValueError as error:
            raise InfluxDBUnavailableError(f"InfluxDB answered no JSON: {error}") from error
        found: list[Series] = []
        for result in body.get("results") or []:
            if result.get("error"):
                raise InfluxDBUnavailableError(
                    f"InfluxDB could not run the query: {result['error']}"
                )
            for series in result.get("series") or []:
                found.append(
                    Series(
                        name=str(series.get("name", "")),
                        columns=tuple(series.get("columns") or ()),
                        values=tuple(tuple(row) for row in series.get("values") or ()),
                        tags=dict(series.get("tags") or {}),
                    )
                )
        return found

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise InfluxDBUnavailableError(
                f"InfluxDB at {self.url} did not answer the {what}: {type(error).__name__}"
            ) from error
        if not response.is_success:
            raise InfluxDBUnavailableError(
                f"InfluxDB at {self.url} answered {response.status_code} to the {what}:"
                f" {response.text[:200]}"
            )
        return response
