"""``python -m deadman_local.kapacitor_emulator`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deadman_local.kapacitor_emulator.__main__ import main
from tests.support.paths import ROOT


@pytest.fixture
def process(tmp_path: Path, deadman_script: str) -> Iterator[subprocess.Popen[str]]:
    template = tmp_path / "deadman.tick"
    template.write_text(deadman_script, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "functions"), str(ROOT / "local" / "src"), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deadman_local.kapacitor_emulator",
            "--port",
            "0",
            "--service-time-ms",
            "1",
            "--concurrency",
            "4",
            "--alert-endpoint",
            "benthos=http://127.0.0.1:9/alerts",
            "--alert-header",
            "benthos=X-Token:abc",
            "--template",
            f"device_deadman={template}",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the emulator writes the next event
    assert line, "the emulator exited early"
    return dict(json.loads(line))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_logs_json_and_stops_on_signal(
    process: subprocess.Popen[str], signum: int
) -> None:
    started = _line(process)
    assert started["event"] == "listening"
    url = started["url"]
    assert httpx.get(f"{url}/kapacitor/v1/ping").status_code == 204
    assert _line(process) | {"time": "", "duration_ms": 0} == {
        "time": "",
        "event": "request",
        "method": "GET",
        "path": "/kapacitor/v1/ping",
        "kind": "ping",
        "status": 204,
        "duration_ms": 0,
    }
    template = httpx.get(f"{url}/kapacitor/v1/templates/device_deadman")
    assert template.json()["vars"]["name"]["value"] is None
    assert _line(process)["status"] == 200
    state = httpx.get(f"{url}/emulator/state").json()
    assert state["capacity"]["concurrency"] == 4
    assert state["templates"] == ["device_deadman"]
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0


def test_cli_rejects_malformed_endpoint_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--alert-endpoint", "no-equals-sign"])
    assert excinfo.value.code == 2
    assert "--alert-endpoint expects NAME=VALUE" in capsys.readouterr().err


def test_cli_missing_template_file_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--port", "0", "--template", f"t={tmp_path / 'missing.tick'}"]) == 1
    assert '"event": "error"' in capsys.readouterr().err
