"""JSON log lines: one object per line, whole, whoever writes at the same time."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deadman import configure_logging, get_logger

WRITER = """
import sys, threading
from deadman import configure_logging, get_logger
configure_logging("INFO")
log = get_logger("test")
def write(thread):
    for n in range(200):
        log.info("line", extra={"fields": {"thread": thread, "n": n, "pad": "é" * 50}})
threads = [threading.Thread(target=write, args=(t,)) for t in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
log.info("long", extra={"fields": {"pad": "x" * 20000}})
"""


@pytest.mark.parametrize("target", ["file", "pipe"])
def test_logging_concurrent_lines_stay_whole(target: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-c", WRITER]
    if target == "file":
        path = tmp_path / "out.log"
        with path.open("ab") as out:
            subprocess.run(command, stdout=out, env=env, check=True, timeout=60)
        output = path.read_bytes()
    else:
        output = subprocess.run(
            command, stdout=subprocess.PIPE, env=env, check=True, timeout=60
        ).stdout
    lines = [json.loads(line) for line in output.decode().splitlines()]
    seen = {(line["thread"], line["n"]) for line in lines if line["message"] == "line"}
    assert len(seen) == 20 * 200
    assert lines[-1]["message"] == "long"
    assert len(lines[-1]["pad"]) == 20000


def test_logging_stream_without_a_file_is_written_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("deadman")
    saved = list(logger.handlers)
    for handler in saved:
        logger.removeHandler(handler)
    try:
        configure_logging("INFO")  # binds to the captured sys.stdout
        threads = [
            threading.Thread(target=get_logger("test").info, args=(f"captured {n}",))
            for n in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in saved:
            logger.addHandler(handler)
    assert sorted(line["message"] for line in lines) == [f"captured {n}" for n in range(5)]
