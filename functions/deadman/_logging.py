"""Structured logs: one JSON object per line on standard output.

Fields passed with ``extra={"fields": {...}}`` become top-level keys, so a log
pipeline can filter on ``device``, ``ce_id``, ``kafka_offset`` or ``outcome``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
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


def configure_logging(level: str | None = None) -> None:
    """Send this package's logs to stdout as JSON lines (idempotent)."""
    logger = logging.getLogger(_ROOT)
    logger.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    if not any(getattr(handler, "_deadman", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._deadman = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{_ROOT}.{name}")
