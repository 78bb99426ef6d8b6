"""One Kapacitor client per shard, and which of them holds a device's task.

Every part that calls Kapacitor for a device (the lifecycle rules, the audit's
repairs) asks ``KapacitorShards.client_for(device)``; every part that keeps
something on each Kapacitor (the installer, the checks, the audit's listing) walks
all of them. With one shard (``KAPACITOR_URL``, or ``KAPACITOR_URLS`` naming one)
it is today's single client.

A shard being removed may be *draining*: its client is there to list and delete
its tasks (the audit moves them to their devices' shards), but no device is
placed on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Self, TypeVar

import httpx

from ._config import KapacitorSettings
from ._exceptions import ConfigurationError
from ._kapacitor import KapacitorClient
from ._shards import shard_of

__all__ = ["KapacitorShards"]

_T = TypeVar("_T")


class KapacitorShards:
    """The clients of the configured shards, in the configured order, and of the
    draining ones."""

    def __init__(
        self, clients: Sequence[KapacitorClient], draining: Sequence[KapacitorClient] = ()
    ) -> None:
        if not clients:
            raise ConfigurationError("no Kapacitor to call")
        self._by_key = {client.shard.key: client for client in [*clients, *draining]}
        if len(self._by_key) != len(clients) + len(draining):
            raise ConfigurationError(
                "two clients call the same Kapacitor (a draining shard must not be configured)"
            )
        # Where devices are placed; the draining shards only give their tasks up.
        self.keys = tuple(client.shard.key for client in clients)
        self.draining = tuple(client.shard.key for client in draining)

    @classmethod
    def from_settings(
        cls, settings: KapacitorSettings, *, transport: httpx.BaseTransport | None = None
    ) -> KapacitorShards:
        """A client for every shard of the settings."""
        return cls(
            [
                KapacitorClient(settings, shard=shard, transport=transport)
                for shard in settings.shards
            ]
        )

    @classmethod
    def of(cls, client: KapacitorClient) -> KapacitorShards:
        """The one shard ``client`` calls."""
        return cls([client])

    def with_draining(self, draining: Sequence[KapacitorClient]) -> KapacitorShards:
        """These shards (the same clients) and ``draining``; closing it closes all."""
        return KapacitorShards([self._by_key[key] for key in self.keys], draining)

    def close(self) -> None:
        for client in self._by_key.values():
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[KapacitorClient]:
        """The configured shards' clients (not the draining ones')."""
        return iter([self._by_key[key] for key in self.keys])

    def map(self, call: Callable[[KapacitorClient], _T], *, name: str) -> list[_T]:
        """``call`` of every configured shard's client, the shards at once (threads
        named ``name``), one result per shard in the shards' order."""
        clients = list(self)
        with ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix=name) as pool:
            return list(pool.map(call, clients))

    def client(self, key: str) -> KapacitorClient:
        """The client of the shard ``key`` (configured or draining)."""
        return self._by_key[key]

    def shard_of(self, device: str) -> str:
        """The key of the shard that holds ``device``'s task."""
        if len(self.keys) == 1:
            return self.keys[0]
        return shard_of(device, self.keys)

    def client_for(self, device: str) -> KapacitorClient:
        """The client of the shard that holds ``device``'s task."""
        return self._by_key[self.shard_of(device)]

    def only(self) -> KapacitorClient:
        """The one client, when there is one shard."""
        if len(self.keys) != 1:
            raise ConfigurationError(
                f"{len(self.keys)} Kapacitor shards: a device's client is client_for(device)"
            )
        return self._by_key[self.keys[0]]
