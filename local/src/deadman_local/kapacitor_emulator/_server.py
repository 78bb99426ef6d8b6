"""Serving the emulator from a background thread with werkzeug's threaded server.

Connections are kept alive (HTTP/1.1), as Kapacitor's Go server keeps them and the
functions' client reuses them: without that every call would pay a TCP connection,
which the bulk benchmark's limit does not count. Each request body is read whole
before the emulator sees it, so a request it answers without reading cannot leave
bytes in front of the next one. ``stop_listening()`` closes the listening socket
and every open connection (clients then get "connection refused", as when
Kapacitor is down or restarting); ``resume_listening()`` binds the same port
again, the emulator's state untouched in between.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ._emulator import KapacitorEmulator

__all__ = ["RunningEmulator", "serve"]

# serve_forever polls for shutdown this often; shorter makes stop_listening quicker.
_POLL_INTERVAL = 0.05


class _KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # the emulator's request_log hook does the logging


def _read_whole_body(app: WSGIApplication) -> WSGIApplication:
    def buffered(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length) if length else b"")
        return app(environ, start_response)

    return buffered


class RunningEmulator:
    """A served emulator. Use as a context manager or call ``close()``."""

    def __init__(self, emulator: KapacitorEmulator, host: str, port: int) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
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
            self.host,
            self.port,
            _read_whole_body(self.emulator),
            threaded=True,
            request_handler=_KeepAliveHandler,
        )
        server.connections = set()  # type: ignore[attr-defined]
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
            for connection in list(server.connections):  # type: ignore[attr-defined]
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def resume_listening(self) -> None:
        """Listen again on the same port (no-op when already listening)."""
        with self._lock:
            if self._server is None and not self._closed:
                self._start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
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
