"""Serving the emulator from a background thread with werkzeug's threaded server.

Connections are persistent (HTTP/1.1 keep-alive), as with Kapacitor's Go server:
werkzeug's own handler closes every connection after one response, which would
make each emulated call pay a TCP connect and a thread start that a real
Kapacitor does not cost, and distort any timing taken against the emulator.

``stop_listening()`` closes the listening socket (clients then get "connection
refused", as when Kapacitor is down or restarting) and the idle keep-alive
connections; ``resume_listening()`` binds the same port again; the emulator's
state is untouched in between.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

from ._app import DRIBBLE_KEY
from ._emulator import KapacitorEmulator

__all__ = ["RunningEmulator", "serve"]

# serve_forever polls for shutdown this often; shorter makes stop_listening quicker.
_POLL_INTERVAL = 0.05
# Statuses that never carry a body (RFC 9110 6.4.1).
_NO_BODY = frozenset({204, 304})


class _Connections:
    """The open connections of one server, so that closing it can end idle ones."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: dict[_KeepAliveHandler, socket.socket] = {}
        self.closing = False

    def close_idle(self) -> None:
        """Stop accepting requests on every connection; idle ones end at once (the
        client sees them closed), busy ones after their current response."""
        with self.lock:
            self.closing = True
            for connection in self.idle.values():
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self.idle.clear()


class _KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler with persistent connections.

    The request body is always read to its end (so the next request starts where
    it should), the response is sent with a Content-Length, and the connection
    stays open unless the client asks otherwise or the app failed.
    """

    protocol_version = "HTTP/1.1"
    # As Go's net/http: no Nagle delay between a response's segments.
    disable_nagle_algorithm = True
    server: Any

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # the emulator's request_log hook does the logging

    def _connections(self) -> _Connections:
        return self.server.connections  # type: ignore[no-any-return]

    def handle_one_request(self) -> None:
        connections = self._connections()
        with connections.lock:
            if connections.closing:
                self.close_connection = True
                return
            connections.idle[self] = self.connection
        try:
            # Block until the next request starts (or the connection ends).
            waiting = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError:
            waiting = b""
        with connections.lock:
            # Gone from ``idle``: close_idle() shut this connection down meanwhile.
            shut = connections.idle.pop(self, None) is None
        if shut or not waiting:
            self.close_connection = True
            return
        super().handle_one_request()

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        terminated = bool(environ.get("wsgi.input_terminated"))
        body: Any = environ["wsgi.input"]
        if not terminated:
            try:
                length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
            except ValueError:
                length, self.close_connection = 0, True
            body = environ["wsgi.input"] = LimitedStream(environ["wsgi.input"], length)
        self.environ = environ
        captured: list[Any] = []

        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured[:] = [status, headers]
            return chunks.append

        try:
            self._collect(self.server.app, environ, start_response, chunks)
        except Exception:  # noqa: BLE001 - answered 500, as werkzeug does
            self.close_connection = True
            chunks.clear()
            self._collect(InternalServerError(), environ, start_response, chunks)
        # Read what the app left of the body: the next request line follows it.
        if terminated:
            while body.read(65536):
                pass
        else:
            body.exhaust()
        self._respond(str(captured[0]), captured[1], b"".join(chunks))

    @staticmethod
    def _collect(app: Any, environ: Any, start_response: Any, chunks: list[bytes]) -> None:
        result: Iterable[bytes] = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _respond(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        has_length = False
        for key, value in headers:
            lowered = key.lower()
            if lowered in ("connection", "transfer-encoding"):
                continue
            has_length = has_length or lowered == "content-length"
            self.send_header(key, value)
        if not has_length and code not in _NO_BODY and code >= 200:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        with_body = bool(body) and self.command != "HEAD" and code not in _NO_BODY
        dribble = float(self.environ.get(DRIBBLE_KEY) or 0.0)
        if dribble:
            self._dribble(
                b"".join(self._headers_buffer) + b"\r\n" + (body if with_body else b""), dribble
            )
        elif with_body:
            # One write for the head and the body (end_headers() flushes the buffer).
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        else:
            self.end_headers()

    def _dribble(self, answer: bytes, interval: float) -> None:
        """Send the answer one byte at a time: each byte resets a per-read timeout."""
        self._headers_buffer: list[bytes] = []
        try:
            for index in range(len(answer)):
                self.wfile.write(answer[index : index + 1])
                self.wfile.flush()
                time.sleep(interval)
        except OSError:
            self.close_connection = True  # the client gave up


class RunningEmulator:
    """A served emulator. Use as a context manager or call ``close()``."""

    def __init__(self, emulator: KapacitorEmulator, host: str, port: int) -> None:
        self.emulator = emulator
        self.host = host
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._closed = False
        self.port = port
        self._start()
        emulator.listener = self
        emulator.scheduler.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._server is not None

    def _start(self) -> None:
        server = make_server(
            self.host, self.port, self.emulator, threaded=True, request_handler=_KeepAliveHandler
        )
        server.connections = _Connections()  # type: ignore[attr-defined]
        self.port = server.server_port
        thread = threading.Thread(
            target=server.serve_forever,
            args=(_POLL_INTERVAL,),
            name=f"kapacitor-emulator:{self.port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop_listening(self) -> None:
        """Close the listening socket; requests already accepted still complete."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.connections.close_idle()  # type: ignore[attr-defined]
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def resume_listening(self) -> None:
        """Listen again on the same port (no-op when already listening)."""
        with self._lock:
            if self._server is None and not self._closed:
                self._start()

    def refuse_for(self, seconds: float) -> None:
        """Stop listening now and resume after ``seconds`` (used by the control route)."""
        self.stop_listening()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(seconds, self.resume_listening)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        # Let calls held by hang faults end, or their threads would outlive the server.
        self.emulator.faults.clear()
        self.emulator.scheduler.stop()
        self.stop_listening()
        self.emulator.close()
        if self.emulator.listener is self:
            self.emulator.listener = None

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve(emulator: KapacitorEmulator, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Serve ``emulator`` on ``host:port`` in a daemon thread (port 0: a free port)."""
    return RunningEmulator(emulator, host, port)
