"""Loopback and process helpers shared by the processes the local tools start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Self

__all__ = ["Started", "free_port", "listens_on", "stop_process_group", "wait_until_listening"]

_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()
_LISTEN = "0A"  # the TCP state column of /proc/net/tcp


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now and never handed out before by this process.

    The local stack picks every function's port before it starts any of them, and
    the kernel may offer a port again once the probe socket is closed: two
    functions given one port would have one of them answer for both.
    """
    with _handed_out_lock:
        for _ in range(100):
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no port on {host} that was not handed out already")


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the listening socket of ``port``; None where
    there is no ``/proc`` to tell (then the caller cannot check)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].is_file():
        return None
    inodes = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    held = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        with contextlib.suppress(OSError):
            held.add(os.readlink(fd))
    return bool(inodes & held)


def wait_until_listening(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None, name: str
) -> None:
    """Return once ``host:port`` accepts connections on a listener ``process`` holds
    (any listener where /proc cannot tell, or without a process); raise if
    ``process`` exits first or the time runs out.

    A listener held by another process does not count: it may be a predecessor on
    the same port still dying after SIGKILL (the new process binds once it is gone)
    or another program, which must never be taken for this one.
    """
    deadline = time.monotonic() + timeout
    held_elsewhere = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode} before listening{held_elsewhere}"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            if process is None or listens_on(process.pid, port) is not False:
                return
            held_elsewhere = f"; port {port} is held by another process"
        time.sleep(0.02)
    raise TimeoutError(f"{name} did not listen on {host}:{port} in {timeout} s{held_elsewhere}")


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


class Started:
    """Something the local tools start and stop: ``with`` starts it, then stops it."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
