"""HTTP authentication as Kapacitor's ``[http] auth-enabled = true`` applies it.

Credentials come from ``Authorization: Bearer <token>`` or ``Authorization: Basic``
(Kapacitor also reads ``?u=&p=``, which the product never sends). Real Kapacitor
verifies a bearer token as an HS-signed JWT; the emulator only compares it with a
configured static token string.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

__all__ = ["AuthConfig"]


@dataclass(frozen=True)
class AuthConfig:
    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None

    @property
    def enabled(self) -> bool:
        return self.username is not None or self.bearer_token is not None

    def check(self, authorization: str | None) -> str | None:
        """Return the 401 message for this request, or ``None`` when it may pass."""
        if not self.enabled:
            return None
        parts = (authorization or "").split(" ")
        if len(parts) == 2 and parts[0] == "Bearer":
            return self._check_token(parts[1])
        user, password = _parse_basic(authorization or "") or (None, "")
        if user is None:
            return "unable to parse authentication credentials"
        if user == "":
            return "username required"
        if self.username is None or not (
            _same(user, self.username) and _same(password, self.password or "")
        ):
            return "authorization failed"
        return None

    def _check_token(self, token: str) -> str | None:
        if self.bearer_token is not None and _same(token, self.bearer_token):
            return None
        return "invalid token: signature is invalid"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _parse_basic(header: str) -> tuple[str, str] | None:
    """Go's ``Request.BasicAuth``: a case-insensitive ``Basic `` prefix, base64, a colon."""
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
