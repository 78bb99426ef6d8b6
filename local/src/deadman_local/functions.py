"""Running a function the way its container does: functions-framework on gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .net import Started, free_port, stop_process_group, wait_until_listening

__all__ = ["FUNCTIONS_SOURCE", "FunctionProcess"]

# Relative to the working directory: the repository root, where make runs.
FUNCTIONS_SOURCE = Path("functions/main.py")


@dataclass
class FunctionProcess(Started):
    """One target served by ``functions-framework`` (gunicorn) on a loopback port."""

    target: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    stdout: IO[bytes] | int | None = None
    source: Path = FUNCTIONS_SOURCE
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port(self.host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> FunctionProcess:
        if not self.source.is_file():
            raise FileNotFoundError(
                f"{self.source} not found: run from the repository root or pass source="
            )
        output: IO[bytes] | int | None = self.stdout
        if self.log_path is not None:
            self._log = output = self.log_path.open("ab")
        signature = "http" if self.target == "alert_callback" else "cloudevent"
        # functions-framework reads DEBUG as --debug: the Flask development server
        # with its interactive debugger. Never inherit it from the caller's shell.
        inherited = {name: value for name, value in os.environ.items() if name != "DEBUG"}
        env = {
            **inherited,
            "FUNCTION_TARGET": self.target,
            "FUNCTION_SIGNATURE_TYPE": signature,
            "FUNCTION_SOURCE": str(self.source.resolve()),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_listening(timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the whole process group (gunicorn master and workers)."""
        code = None
        if self._process is not None:
            code = stop_process_group(self._process, sig)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def _wait_until_listening(self, timeout: float) -> None:
        try:
            # Only this gunicorn's listener counts (see wait_until_listening).
            wait_until_listening(self.host, self.port, timeout, self._process, self.target)
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
