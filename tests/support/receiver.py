"""A scripted HTTP receiver standing in for the functions: per-path answers, a log.

Each path has its own script of answers, used one per request (then the path's
default): a status, a ``(status, body)`` pair, or a callable that gets the request
and returns either. Every request is recorded with when it arrived and when its
answer was decided, so tests can check the order deliveries happened in.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tests.support.wsgi import serve_wsgi


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float
    answered: float = 0.0
    status: int = 0

    def ce(self, name: str) -> str | None:
        return self.headers.get(f"ce-{name}")


Answer = int | tuple[int, bytes]
Script = Answer | Callable[[Received], Answer]


@dataclass
class ScriptedReceiver:
    url: str = ""
    default: Answer = 200
    _scripts: dict[str, deque[Script]] = field(default_factory=lambda: defaultdict(deque))
    _defaults: dict[str, Script] = field(default_factory=dict)
    _log: list[Received] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def script(self, path: str, answers: Iterable[Script], default: Script | None = None) -> None:
        """Answer the next requests on ``path`` with ``answers``, then ``default``."""
        with self._changed:
            self._scripts[path].extend(answers)
            if default is not None:
                self._defaults[path] = default

    def requests(self, path: str) -> list[Received]:
        with self._changed:
            return [item for item in self._log if item.path == path and item.answered]

    def wait_for(self, path: str, count: int, timeout: float = 15.0) -> list[Received]:
        """The first ``count`` answered requests on ``path``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self.requests(path)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path}: {len(found)} of {count} requests arrived")
                self._changed.wait(remaining)
            return found

    def wait_arrived(self, path: str, count: int, timeout: float = 15.0) -> bool:
        """Whether ``count`` requests have arrived on ``path`` (answered or not)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(item.path == path for item in self._log) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        item = Received(
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            request.get_data(),
            time.monotonic(),
        )
        with self._changed:
            self._log.append(item)
            self._changed.notify_all()
            script = self._scripts[item.path]
            answer: Script = (
                script.popleft() if script else self._defaults.get(item.path, self.default)
            )
        if callable(answer):
            answer = answer(item)
        status, body = answer if isinstance(answer, tuple) else (answer, b"")
        with self._changed:
            item.status, item.answered = status, time.monotonic()
            self._changed.notify_all()
        response = Response(body, status=status, mimetype="application/json")
        return response(environ, start_response)


@contextmanager
def serve_scripted() -> Iterator[ScriptedReceiver]:
    receiver = ScriptedReceiver()
    with serve_wsgi(receiver) as url:
        receiver.url = url
        yield receiver
