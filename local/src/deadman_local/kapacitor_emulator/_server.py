"""Serving the emulator from a background thread with werkzeug's threaded server.

Each connection carries one request: werkzeug answers ``Connection: close``. A
real Kapacitor keeps connections alive; the real one in the tests shows how the
product's client reuses them, and here it keeps ``stop_listening()`` simple:
closing the listening socket (clients then get "connection refused", as when
Kapacitor is down or restarting) leaves no open connection that would still be
served. ``resume_listening()`` binds the same port again; the emulator's state
is untouched in between.
"""

from __future__ import annotations

import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ._emulator import KapacitorEmulator

__all__ = ["RunningEmulator", "serve"]

# serve_forever polls for shutdown this often; shorter makes stop_listening quicker.
_POLL_INTERVAL = 0.05


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # the emulator's request_log hook does the logging


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
            self.host, self.port, self.emulator, threaded=True, request_handler=_QuietHandler
        )
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
