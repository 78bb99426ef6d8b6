"""Structured logs: one JSON object per line on standard output.

Fields passed with ``extra={"fields": {...}}`` become top-level keys, so a log
pipeline can filter on ``device``, ``ce_id``, ``kafka_offset`` or ``outcome``.
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "get_logger"]

_ROOT = "deadman"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        entry: dict[str, Any] = dict(fields) if isinstance(fields, dict) else {}
        # The record's own keys come last so that no field can overwrite them.
        entry.update(
            time=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            level=record.levelname.lower(),
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        try:
            line.encode()
        except UnicodeEncodeError:
            # Lone surrogates (from a hostile "\ud800" in an event) cannot be written.
            line = json.dumps(entry, default=str)
        return line


# POSIX: a write of up to PIPE_BUF bytes to a pipe is never interleaved.
_ATOMIC_WRITE_BYTES = getattr(select, "PIPE_BUF", 512)


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """One JSON line per record, written with a single ``os.write`` and no lock.

    Request threads would otherwise queue on the handler's lock while one of them
    formats and writes. POSIX keeps a write of at most ``PIPE_BUF`` bytes to a pipe
    (how a container's stdout reaches its runtime) whole, so such lines need no
    lock; longer ones take it, which orders them within this process only (as the
    stdlib's handler does; a Service runs one worker). Linux also keeps such writes
    to a regular file whole, appending or not.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._fd = _fileno(stream)

    def handle(self, record: logging.LogRecord) -> bool:
        if self._fd is None:  # a stream without a file (a test's capture)
            return super().handle(record)
        if not self.filter(record):
            return False
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            self.stream.flush()  # what was buffered before goes first
            if len(data) <= _ATOMIC_WRITE_BYTES:
                _write_all(self._fd, data)
            else:
                with self._write_lock:
                    _write_all(self._fd, data)
        except Exception:  # noqa: BLE001 - a log line must never fail the request
            self.handleError(record)
        return True

    @property
    def _write_lock(self) -> threading.RLock:
        assert self.lock is not None  # made by Handler.__init__
        return self.lock


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def configure_logging(level: str | None = None) -> None:
    """Send this package's logs to stdout as JSON lines (idempotent)."""
    logger = logging.getLogger(_ROOT)
    logger.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    if not any(getattr(handler, "_deadman", False) for handler in logger.handlers):
        handler = _LineHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._deadman = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{_ROOT}.{name}")
