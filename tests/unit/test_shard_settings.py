"""``KAPACITOR_URLS``: validated at startup, never printed, and each shard called
with its own credentials or the shared ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from deadman import (
    ConfigurationError,
    HeartbeatCheckSettings,
    KapacitorClient,
    KapacitorSettings,
    KapacitorShards,
    LifecycleSettings,
    load_settings,
)

SECRET = "s3cret-Pw"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAPACITOR_URL",
        "KAPACITOR_URLS",
        "KAPACITOR_USERNAME",
        "KAPACITOR_PASSWORD",
        "KAPACITOR_TOKEN",
        "SECRETS_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAPACITOR_DB", "iot")


def test_load_settings_without_kapacitor_urls_one_shard_kapacitor_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [s.key for s in KapacitorSettings().shards] == ["http://127.0.0.1:9092"]
    monkeypatch.setenv("KAPACITOR_URL", "http://kapacitor:9092/")
    [shard] = load_settings(LifecycleSettings).shards
    assert (shard.key, shard.url, shard.username) == (
        "http://kapacitor:9092",
        "http://kapacitor:9092",
        None,
    )


def test_load_settings_kapacitor_urls_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITOR_URLS", f"http://k-1:9092, https://ops:{SECRET}@K-0:9092/")
    lifecycle, check = load_settings(LifecycleSettings), load_settings(HeartbeatCheckSettings)
    for settings in (lifecycle, check):
        assert SECRET not in repr(settings)
        assert SECRET not in str(settings.model_dump())
    for shards in (lifecycle.shards, check.shards):
        assert [s.key for s in shards] == ["http://k-1:9092", "https://k-0:9092"]


@pytest.mark.parametrize(
    ("url", "urls", "message"),
    [
        (None, f"http://k-0:9092,http://ops:{SECRET}@k-0:9092", "listed twice"),
        (None, f"http://ops:{SECRET}@k-0:bad", "KAPACITOR_URLS"),
        (None, f"kapacitor-0:9092,http://ops:{SECRET}@k-1", "http"),
        ("http://k-0:9092", "http://k-0:9092,http://k-1:9092", "different Kapacitors"),
        ("http://k-9:9092", f"http://ops:{SECRET}@k-0:9092", "different Kapacitors"),
    ],
)
def test_load_settings_kapacitor_urls_refused_readably(
    monkeypatch: pytest.MonkeyPatch, url: str | None, urls: str, message: str
) -> None:
    if url is not None:
        monkeypatch.setenv("KAPACITOR_URL", url)
    monkeypatch.setenv("KAPACITOR_URLS", urls)
    with pytest.raises(ConfigurationError, match=message) as refused:
        load_settings(LifecycleSettings)
    assert SECRET not in str(refused.value)


def test_kapacitor_settings_errors_never_echo_the_urls() -> None:
    with pytest.raises(ValidationError) as refused:
        KapacitorSettings(kapacitor_urls=SecretStr(f"http://ops:{SECRET}@k:9092,http://k:9092"))
    assert SECRET not in str(refused.value)


def test_load_settings_same_url_in_both_settings_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITOR_URL", "http://K-0:9092/")
    monkeypatch.setenv("KAPACITOR_URLS", f"http://ops:{SECRET}@k-0:9092")
    [shard] = load_settings(LifecycleSettings).shards
    assert shard.username == "ops"


def test_load_settings_kapacitor_urls_from_a_secret_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "KAPACITOR_URLS").write_text(f"http://ops:{SECRET}@k-0:9092,http://k-1:9092\n")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    settings = load_settings(LifecycleSettings)
    assert [s.key for s in settings.shards] == ["http://k-0:9092", "http://k-1:9092"]


def recording() -> tuple[dict[str, str], Callable[[httpx.Request], httpx.Response]]:
    seen: dict[str, str] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("Authorization", "")
        return httpx.Response(204, headers={"X-Kapacitor-Version": "1.5.7"})

    return seen, answer


@pytest.mark.parametrize(
    ("shared", "expected_k1"),
    [
        ("none", ""),
        ("basic", "Basic YWxsOmV2ZXJ5"),
        ("token", "Bearer jwt"),
    ],
)
def test_kapacitor_shards_url_credentials_else_the_shared_ones(
    monkeypatch: pytest.MonkeyPatch, shared: str, expected_k1: str
) -> None:
    if shared == "basic":
        monkeypatch.setenv("KAPACITOR_USERNAME", "all")
        monkeypatch.setenv("KAPACITOR_PASSWORD", "every")
    elif shared == "token":
        monkeypatch.setenv("KAPACITOR_TOKEN", "jwt")
    monkeypatch.setenv("KAPACITOR_URLS", "http://ops:pw@k-0:9092,http://k-1:9092")
    settings = load_settings(KapacitorSettings)
    seen, answer = recording()
    with KapacitorShards.from_settings(settings, transport=httpx.MockTransport(answer)) as shards:
        for client in shards:
            client.ping()
        assert [client.url for client in shards] == ["http://k-0:9092", "http://k-1:9092"]
    assert seen == {"k-0": "Basic b3BzOnB3", "k-1": expected_k1}


def test_kapacitor_client_of_several_shards_needs_its_shard() -> None:
    settings = KapacitorSettings(kapacitor_urls=SecretStr("http://k-0:9092,http://k-1:9092"))
    with pytest.raises(ConfigurationError, match="2 Kapacitors"):
        KapacitorClient(settings)
    with KapacitorClient(settings, shard=settings.shards[1]) as client:
        assert client.url == "http://k-1:9092"


def test_kapacitor_shards_route_each_device_to_its_shard() -> None:
    settings = KapacitorSettings(
        kapacitor_urls=SecretStr("http://k-0:9092,http://k-1:9092,http://k-2:9092")
    )
    with KapacitorShards.from_settings(settings) as shards:
        routed = {shards.client_for(f"dev-{n}").shard.key for n in range(60)}
        assert routed == set(shards.keys)
        with pytest.raises(ConfigurationError, match="3 Kapacitor shards"):
            shards.only()
