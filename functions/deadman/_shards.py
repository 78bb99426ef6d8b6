"""Kapacitor shards: which of several Kapacitors holds a device's task.

Kapacitor OSS has no clustering and one server holds a few thousand tasks, so
``KAPACITOR_URLS`` may list several unmodified Kapacitors (shards). Each device's
task lives on exactly one of them, chosen by rendezvous (highest random weight)
hashing of the device code:

* a shard's **key** is its URL without credentials, normalised: scheme and host in
  lower case, the port written out (80 or 443 when the URL has none), the path
  without its trailing slash: ``http://kapacitor-0:9092``;
* a device's **score** on a shard is the first 8 bytes of BLAKE2b over the UTF-8
  text ``key + "\\n" + device code`` (``hashlib.blake2b(digest_size=8)``), read as
  a big-endian unsigned integer;
* the device's shard is the one where it scores highest (a tie needs a 64-bit
  collision; the larger key wins it).

A score depends only on its key and the code, so adding a shard moves exactly the
devices that score highest on the new one (about 1/N of them, all onto it) and
removing one moves only its own devices; the order of the URLs in the setting does
not matter. This module is pure: no I/O, nothing but the standard library and
pydantic's ``SecretStr``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

__all__ = [
    "SHARD_EXTENSION",
    "Shard",
    "heartbeat_shard",
    "parse_shard_url",
    "parse_shard_urls",
    "redact_url",
    "shard_key",
    "shard_of",
    "shard_score",
]

# The CloudEvent extension (and data key ``shard``) naming the shard a heartbeat
# came from.
SHARD_EXTENSION = "kapacitorshard"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SEPARATOR = b"\n"


@dataclass(frozen=True)
class Shard:
    """One Kapacitor of ``KAPACITOR_URLS``: its key, the URL to call (credentials
    taken out) and the credentials its URL carried, if any."""

    key: str
    url: str
    username: str | None = None
    password: SecretStr | None = None


def redact_url(text: str) -> str:
    """``text`` with the credentials of its authority replaced by ``***``: what an
    error message may show."""
    scheme, separator, rest = text.strip().partition("://")
    if not separator:
        scheme, rest = "", text.strip()
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"


def parse_shard_url(text: str) -> Shard:
    """A Kapacitor base URL, ``http(s)://[user:password@]host[:port][/path]``, as a
    Shard; ``ValueError`` with a message that never shows the password."""
    shown = redact_url(text)
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{shown!r} is not a URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{shown!r} must be an http(s) URL such as http://kapacitor-0:9092")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown!r}: a Kapacitor base URL has no query or fragment")
    username = password = None
    if "@" in parts.netloc:
        if not parts.username or parts.password is None:
            raise ValueError(f"{shown!r}: credentials in a URL are user:password@")
        username, password = unquote(parts.username), SecretStr(unquote(parts.password))
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 address keeps its brackets in a URL
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    key = f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}{path}"
    netloc = parts.netloc.rpartition("@")[2]
    return Shard(key, f"{parts.scheme}://{netloc}{path}", username, password)


def shard_key(url: str) -> str:
    """The placement key of a Kapacitor URL (see the module's documentation)."""
    return parse_shard_url(url).key


def parse_shard_urls(text: str) -> tuple[Shard, ...]:
    """Comma-separated URLs as Shards, in the given order; ``ValueError`` for an
    empty list, a bad URL or two URLs naming the same Kapacitor."""
    shards = tuple(parse_shard_url(item) for item in text.split(",") if item.strip())
    if not shards:
        raise ValueError("name at least one Kapacitor URL")
    seen: set[str] = set()
    for shard in shards:
        if shard.key in seen:
            raise ValueError(f"{shard.key} is listed twice")
        seen.add(shard.key)
    return shards


def shard_score(key: str, device: str) -> int:
    """The device's score on the shard ``key``: 64 bits of BLAKE2b."""
    digest = hashlib.blake2b(key.encode() + _SEPARATOR + device.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(device: str, keys: Iterable[str]) -> str:
    """The key of the shard that holds ``device``'s task: its highest score."""
    return max(keys, key=lambda key: (shard_score(key, device), key))


def heartbeat_shard(details: str) -> str:
    """The shard key a heartbeat alert's ``details`` carries, or "".

    The installer sets each heartbeat task's ``shard`` var to its shard's key and
    the task sends it as its alert details; anything else found there (Kapacitor's
    default details are the alert as HTML-escaped JSON) names no shard.
    """
    text = details.strip()
    if not text or len(text) > 2048:
        return ""
    try:
        return text if shard_key(text) == text else ""
    except ValueError:
        return ""
