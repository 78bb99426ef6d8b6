"""An httpx transport whose every call ends by a deadline, answer included.

httpx's timeouts bound each socket operation, not a call: a Kapacitor, or a proxy
before it, that sends its answer a byte at a time resets the read timeout with
every byte and holds the caller for as long as bytes keep coming. Here each
connect, TLS handshake, write, read and retry pause of a call gets what is left
of the call's deadline as its timeout, and the body is read inside the call, so
the whole exchange (connection retries included) ends within the deadline or
raises a timeout.

It is httpcore's own connection pool (keep-alive, connect retries) over a
network backend that wraps httpcore's ``SyncBackend``; httpx's ``HTTPTransport``
cannot be given a network backend. A request may carry its own deadline in the
``"deadline"`` extension (seconds), e.g. a quick probe.
"""

from __future__ import annotations

import base64
import ssl
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

__all__ = ["DeadlineTransport", "basic_auth"]

_deadline: ContextVar[float | None] = ContextVar("deadman_call_deadline", default=None)

# httpcore's errors as httpx raises them; the most specific class is matched first.
_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.NetworkError: httpx.NetworkError,
}


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the current call's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        # The pause between connection retries counts against the deadline too.
        left = _left(seconds, httpcore.ConnectTimeout)
        self._inner.sleep(seconds if left is None else left)


class DeadlineTransport(httpx.BaseTransport):
    """Sends a call and reads its whole answer within ``deadline`` seconds."""

    def __init__(
        self,
        deadline: float,
        *,
        max_connections: int,
        retries: int = 0,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self.deadline = deadline
        self._pool = httpcore.ConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            retries=retries,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        seconds = float(request.extensions.get("deadline", self.deadline))
        token = _deadline.set(time.monotonic() + seconds)
        try:
            with _mapped_errors():
                response = self._pool.handle_request(
                    httpcore.Request(
                        method=request.method,
                        url=httpcore.URL(
                            scheme=request.url.raw_scheme,
                            host=request.url.raw_host,
                            port=request.url.port,
                            target=request.url.raw_path,
                        ),
                        headers=request.headers.raw,
                        content=request.stream,
                        extensions={**request.extensions, "timeout": _timeouts(request, seconds)},
                    )
                )
                try:
                    content = b"".join(response.iter_stream())
                finally:
                    response.close()
        finally:
            _deadline.reset(token)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._pool.close()


def _timeouts(request: httpx.Request, deadline: float) -> dict[str, float | None]:
    """The request's per-operation timeouts; waiting for a pooled connection is
    bounded by the deadline as well."""
    given = dict(request.extensions.get("timeout") or {})
    pool = given.get("pool")
    given["pool"] = deadline if pool is None else min(pool, deadline)
    return given


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except httpcore.TimeoutException as error:
        raise _httpx_error(error) from error
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        raise _httpx_error(error) from error


def _httpx_error(error: Exception) -> httpx.TransportError:
    for kind in type(error).__mro__:
        if kind in _ERRORS:
            return _ERRORS[kind](str(error) or kind.__name__)
    return httpx.TransportError(str(error))


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP basic auth (what ``httpx.BasicAuth`` sends),
    set once as a client header: the clients here send requests past httpx's auth flow."""
    credentials = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")
