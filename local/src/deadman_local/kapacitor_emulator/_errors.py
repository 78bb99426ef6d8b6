"""The error type handlers raise to answer with a Kapacitor error body."""

from __future__ import annotations

__all__ = ["ApiError", "TickError"]


class ApiError(Exception):
    """An HTTP error answered as ``{"error": message, "message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TickError(Exception):
    """A TICKscript parse or evaluation failure; the text is Kapacitor's wording
    without the ``invalid TICKscript: `` prefix the HTTP layer adds."""
