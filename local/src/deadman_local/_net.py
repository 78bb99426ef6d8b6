"""Loopback and process helpers shared by the processes the local tools start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

__all__ = ["free_port", "stop_process_group", "wait_until_listening"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until_listening(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None, name: str
) -> None:
    """Return once ``host:port`` accepts connections; raise if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{name} did not listen on {host}:{port} in {timeout} s")


def stop_process_group(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0
) -> int:
    """Signal a process started with ``start_new_session`` and all its children
    (gunicorn's master and workers), then SIGKILL them if they outlive ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()
