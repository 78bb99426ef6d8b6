"""The deadman loggers' output, captured in process."""

from __future__ import annotations

import logging

from deadman import JsonFormatter


class LogCapture(logging.Handler):
    """The deadman loggers' JSON lines, as the functions write them to stdout."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
