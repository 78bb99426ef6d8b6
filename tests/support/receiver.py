"""A local HTTP receiver that records requests and answers with scripted statuses."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    default_status: int = 202
    requests: list[Received] = field(default_factory=list)
    _script: deque[int] = field(default_factory=deque)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def script(self, statuses: Iterable[int]) -> None:
        """Answer the next requests with these statuses, then ``default_status``."""
        self._script.extend(statuses)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def __call__(self, environ: dict[str, object], start_response: object) -> Iterable[bytes]:
        request = Request(environ)  # type: ignore[arg-type]
        status = self._script.popleft() if self._script else self.default_status
        with self._arrived:
            self.requests.append(
                Received(request.method, request.path, dict(request.headers), request.get_data())
            )
            self._arrived.notify_all()
        response = Response(b'{"answer": %d}' % status, status=status, mimetype="application/json")
        return response(environ, start_response)  # type: ignore[arg-type]


@contextmanager
def serve_receiver(default_status: int = 202) -> Iterator[Receiver]:
    receiver = Receiver(default_status=default_status)
    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        thread.join()
