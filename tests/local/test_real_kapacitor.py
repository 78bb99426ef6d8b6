"""The real-server harness: how binaries are found, what it leaves behind, and the
local stack's choice between the real Kapacitor and the emulator."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from deadman_local.kapacitor_config import TEMPLATE_ENDPOINT, HttpPostEndpoint, KafkaCluster
from deadman_local.real_kapacitor import KapacitorNotFoundError, RealKapacitor, find_binaries
from deadman_local.stack import LocalStack
from tests.support.backends import real_binaries


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KAPACITORD/INFLUXD, no binaries on PATH, no build script."""
    for name in ("KAPACITORD", "INFLUXD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("KAPACITOR_BUILD_SCRIPT", str(tmp_path / "no-build.sh"))


@pytest.mark.usefixtures("nothing_installed")
def test_find_binaries_nothing_found_says_how_in_one_line() -> None:
    with pytest.raises(KapacitorNotFoundError) as missing:
        find_binaries()
    message = str(missing.value)
    assert "\n" not in message
    assert all(way in message for way in ("KAPACITORD", "PATH", "build.sh"))


def test_find_binaries_environment_names_a_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITORD", "/nonexistent/kapacitord")
    monkeypatch.setenv("INFLUXD", "/nonexistent/influxd")
    with pytest.raises(KapacitorNotFoundError, match="KAPACITORD='/nonexistent/kapacitord'"):
        find_binaries()


def test_find_binaries_path_before_build_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A user with InfluxData's packages: kapacitord and influxd on PATH."""
    for name in ("kapacitord", "influxd"):
        binary = tmp_path / name
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    for name in ("KAPACITORD", "INFLUXD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = find_binaries(build=False)
    assert (found.kapacitord, found.influxd, found.found_by) == (
        tmp_path / "kapacitord",
        tmp_path / "influxd",
        "PATH",
    )


@pytest.mark.usefixtures("nothing_installed")
def test_local_stack_without_binaries_falls_back_to_the_emulator_in_one_line() -> None:
    said: list[str] = []
    assert LocalStack(say=said.append)._real_binaries() is None
    assert len(said) == 1
    assert said[0].startswith("Kapacitor: emulator, no real server: no kapacitord")


@pytest.mark.usefixtures("nothing_installed")
def test_local_stack_kapacitor_real_without_binaries_refuses() -> None:
    with pytest.raises(KapacitorNotFoundError):
        LocalStack(kapacitor="real")._real_binaries()


def test_local_stack_unknown_kapacitor_kind_refused() -> None:
    with pytest.raises(ValueError, match="KAPACITOR='fake'"):
        LocalStack(kapacitor="fake")._real_binaries()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.real_kapacitor
def test_real_kapacitor_configured_then_gone_without_trace() -> None:
    """Both servers answer with the database and sections asked for; after stop
    no process, no listener and no folder is left."""
    endpoint = HttpPostEndpoint(TEMPLATE_ENDPOINT, "http://127.0.0.1:9/", {"X-Token": "t"})
    real = RealKapacitor(
        real_binaries(), endpoints=[endpoint], kafka_clusters=[KafkaCluster("c1", "127.0.0.1:9")]
    )
    with real:
        assert real.folder is not None
        folder = real.folder
        pids = [real.kapacitor_pid(), real.influxdb_pid()]
        databases = real.query("SHOW DATABASES").json()["results"][0]["series"][0]["values"]
        assert ["iot"] in databases
        config = httpx.get(f"{real.kapacitor_url}/kapacitor/v1/config/httppost").json()
        [element] = config["elements"]
        assert element["options"]["url"] == endpoint.url
        assert element["options"]["headers"] == {"X-Token": "t"}
        kafka = httpx.get(f"{real.kapacitor_url}/kapacitor/v1/config/kafka").json()
        assert [e["options"]["id"] for e in kafka["elements"]] == ["c1"]
    assert not folder.exists()
    assert not any(listening(port) for port in (real.kapacitor_port, real.influxdb_port))
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped


@pytest.mark.real_kapacitor
def test_real_kapacitor_restart_keeps_its_tasks() -> None:
    """Tasks live in Kapacitor's store: a restart brings them back."""
    with RealKapacitor(real_binaries()) as real:
        script = 'var x = batch|query(\'SELECT * FROM "iot"."autogen"."m"\').period(1m).every(1m)'
        body = {"id": "kept", "type": "batch", "dbrps": [{"db": "iot", "rp": "autogen"}]}
        created = httpx.post(
            f"{real.kapacitor_url}/kapacitor/v1/tasks",
            json={**body, "script": script, "status": "disabled"},
        )
        assert created.status_code == 200, created.text
        real.stop_kapacitor()
        assert not listening(real.kapacitor_port)
        real.start_kapacitor()
        kept = httpx.get(f"{real.kapacitor_url}/kapacitor/v1/tasks/kept")
        assert (kept.status_code, kept.json()["status"]) == (200, "disabled")


def test_real_kapacitor_paused_influxdb_answers_nothing_until_resumed(
    real_kapacitor: RealKapacitor,
) -> None:
    """SIGSTOP: InfluxDB keeps its socket but answers nothing, as a stalled one does."""
    ping = f"{real_kapacitor.influxdb_url}/ping"
    real_kapacitor.pause_influxdb()
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(ping, timeout=0.5)
    finally:
        real_kapacitor.resume_influxdb()
    assert httpx.get(ping, timeout=10).status_code == 204


def test_local_stack_datapath_needs_the_real_servers() -> None:
    with pytest.raises(ValueError, match="real Kapacitor"):
        LocalStack(kapacitor="emulator", datapath=True).start()
