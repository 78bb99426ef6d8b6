"""A real InfluxDB and Kapacitor as child processes on free loopback ports.

For tests, benchmarks and the local run. Everything lives under one temporary
folder, removed on stop; both servers run in their own process groups, stopped
(and, if they linger, killed) when the block ends::

    binaries = find_binaries()            # or raise KapacitorNotFoundError
    with RealKapacitor(binaries, endpoints=[HttpPostEndpoint("benthos", url)]) as real:
        httpx.get(f"{real.kapacitor_url}/kapacitor/v1/ping")
        real.write("dev-1 value=1")

Binaries are found, in this order: ``KAPACITORD`` and ``INFLUXD`` from the
environment; ``kapacitord`` and ``influxd`` on ``PATH`` (InfluxData's packages);
``../shared/kapacitor/build.sh`` beside the repository (``KAPACITOR_BUILD_SCRIPT``
names another), which builds Kapacitor 1.5.7 from source and installs Debian's
InfluxDB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .kapacitor_config import HttpPostEndpoint, KafkaCluster
from .net import Started, free_port, stop_process_group, wait_until_listening

__all__ = [
    "BUILD_SCRIPT",
    "Binaries",
    "KapacitorNotFoundError",
    "RealKapacitor",
    "find_binaries",
]

# The repository's sibling folder that holds Kapacitor's source and its build script.
BUILD_SCRIPT = Path(__file__).resolve().parents[3].parent / "shared" / "kapacitor" / "build.sh"
HOW_TO_GET = (
    "set KAPACITORD and INFLUXD, put kapacitord and influxd on PATH "
    "(InfluxData's packages), or provide ../shared/kapacitor/build.sh"
)


class KapacitorNotFoundError(FileNotFoundError):
    """No kapacitord/influxd could be found or built; the message says how to get them."""


@dataclass(frozen=True)
class Binaries:
    """Where ``kapacitord`` and ``influxd`` are, and how they were found."""

    kapacitord: Path
    influxd: Path
    found_by: str

    def kapacitor_version(self) -> str:
        """What ``kapacitord version`` prints, e.g. ``Kapacitor OSS 1.5.7 (git: ...)``."""
        done = subprocess.run(
            [str(self.kapacitord), "version"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()


def find_binaries(
    build_script: Path | None = None,
    *,
    build: bool = True,
    on_build: Callable[[Path], None] | None = None,
) -> Binaries:
    """The servers to start, from the environment, ``PATH`` or the build script.

    ``build=False`` only looks: it never runs the build script (which may install
    packages and compile for a minute; ``on_build`` is told before it runs).
    Raises KapacitorNotFoundError with a one-line reason when nothing is found.
    """
    kapacitord, influxd = os.environ.get("KAPACITORD"), os.environ.get("INFLUXD")
    if kapacitord or influxd:
        missing = [
            f"{name}={value!r}"
            for name, value in (("KAPACITORD", kapacitord), ("INFLUXD", influxd))
            if not value or not os.access(value, os.X_OK)
        ]
        if missing:
            raise KapacitorNotFoundError(f"not an executable: {', '.join(missing)}")
        return Binaries(Path(str(kapacitord)), Path(str(influxd)), "KAPACITORD/INFLUXD")
    on_path = shutil.which("kapacitord"), shutil.which("influxd")
    if on_path[0] and on_path[1]:
        return Binaries(Path(on_path[0]), Path(on_path[1]), "PATH")
    script = build_script or Path(os.environ.get("KAPACITOR_BUILD_SCRIPT", BUILD_SCRIPT))
    if not script.is_file():
        raise KapacitorNotFoundError(f"no kapacitord/influxd found: {HOW_TO_GET}")
    if not build:
        raise KapacitorNotFoundError(f"kapacitord not built yet: run {script}")
    if on_build is not None:
        on_build(script)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if line.count("=") >= 1)
    if done.returncode != 0 or "KAPACITORD" not in printed or "INFLUXD" not in printed:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KapacitorNotFoundError(f"{script} failed ({done.returncode}): {last}")
    return Binaries(Path(printed["KAPACITORD"]), Path(printed["INFLUXD"]), str(script))


@dataclass
class RealKapacitor(Started):
    """InfluxDB with database ``db``, and Kapacitor querying it, until ``stop()``.

    ``endpoints`` become ``[[httppost]]`` sections and ``kafka_clusters`` ``[[kafka]]``
    sections of Kapacitor's configuration, as an operator writes them. InfluxDB
    pushes no points to Kapacitor unless ``subscriptions`` (the batch templates
    query; a stream template needs them: InfluxDB then copies every write to
    Kapacitor over HTTP).
    """

    binaries: Binaries
    db: str = "iot"
    endpoints: Sequence[HttpPostEndpoint] = ()
    kafka_clusters: Sequence[KafkaCluster] = ()
    subscriptions: bool = False
    # InfluxDB's own monitor statistics (``_internal``), stored at this interval
    # (e.g. ``1s``): the canary of the data-path task. None: not stored.
    influxdb_monitor_interval: str | None = None
    kapacitor_port: int = 0
    influxdb_port: int = 0
    start_timeout: float = 60.0
    folder: Path | None = field(default=None, init=False)
    _influxd: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _kapacitord: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kapacitor_port = self.kapacitor_port or free_port()
        self.influxdb_port = self.influxdb_port or free_port()
        self._rpc_port = free_port()

    @property
    def kapacitor_url(self) -> str:
        return f"http://127.0.0.1:{self.kapacitor_port}"

    @property
    def influxdb_url(self) -> str:
        return f"http://127.0.0.1:{self.influxdb_port}"

    def start(self) -> RealKapacitor:
        try:
            self.folder = Path(tempfile.mkdtemp(prefix="deadman-kapacitor-"))
            self._influxd = self._spawn("influxd", self.binaries.influxd, self._influxdb_conf())
            self._wait_for_ping(self._influxd, self.influxdb_port, f"{self.influxdb_url}/ping")
            self.query(f'CREATE DATABASE "{self.db}"')
            self.start_kapacitor()
        except BaseException:
            self.stop()
            raise
        return self

    def start_kapacitor(self) -> None:
        """Start Kapacitor (again, after ``stop_kapacitor``) on the same port and store."""
        assert self.folder is not None, "start() first"
        self._kapacitord = self._spawn(
            "kapacitord", self.binaries.kapacitord, self._kapacitor_conf()
        )
        self._wait_for_ping(
            self._kapacitord, self.kapacitor_port, f"{self.kapacitor_url}/kapacitor/v1/ping"
        )

    def stop_kapacitor(self) -> None:
        """Stop Kapacitor only; its tasks stay in its store for ``start_kapacitor``."""
        if self._kapacitord is not None:
            stop_process_group(self._kapacitord)
            self._kapacitord = None

    def stop(self) -> None:
        self.stop_kapacitor()
        if self._influxd is not None:
            # A paused influxd would only take the SIGTERM once continued.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._influxd.pid, signal.SIGCONT)
            stop_process_group(self._influxd)
            self._influxd = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def query(self, statement: str) -> httpx.Response:
        """Run one InfluxQL statement on ``db`` (POST /query); raises on an error status."""
        response = httpx.post(
            f"{self.influxdb_url}/query", data={"q": statement, "db": self.db}, timeout=30
        )
        response.raise_for_status()
        return response

    def write(self, lines: Iterable[str] | str, precision: str = "ns") -> None:
        """Write points in line protocol to ``db`` (its default retention policy)."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = httpx.post(
            f"{self.influxdb_url}/write",
            params={"db": self.db, "precision": precision},
            content=body.encode(),
            timeout=30,
        )
        response.raise_for_status()

    def wait_for_monitor(self, timeout: float = 30.0) -> None:
        """Wait until InfluxDB stored its first monitor statistics (the database
        ``_internal`` exists only from then on)."""
        assert self.influxdb_monitor_interval is not None, "influxdb_monitor_interval not set"
        statement = 'SELECT * FROM "_internal"."monitor"."runtime" LIMIT 1'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            results = self.query(statement).json().get("results") or [{}]
            if results[0].get("series"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"InfluxDB stored no monitor statistics in {timeout} s")

    def pause_influxdb(self) -> None:
        """Freeze influxd (SIGSTOP): it keeps its sockets, and every query and write
        hangs until ``resume_influxdb``, as a stalled InfluxDB does. Kapacitor runs on."""
        assert self._influxd is not None, "start() first"
        os.kill(self._influxd.pid, signal.SIGSTOP)

    def resume_influxdb(self) -> None:
        """Let a paused influxd run again (SIGCONT); the hung calls then complete."""
        assert self._influxd is not None, "start() first"
        os.kill(self._influxd.pid, signal.SIGCONT)

    def kapacitor_pid(self) -> int | None:
        return None if self._kapacitord is None else self._kapacitord.pid

    def influxdb_pid(self) -> int | None:
        return None if self._influxd is None else self._influxd.pid

    def log(self, name: str = "kapacitor") -> str:
        """The server's log so far (``kapacitor`` or ``influxd``), for a failure's report."""
        assert self.folder is not None
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, name: str, binary: Path, config: str) -> subprocess.Popen[bytes]:
        assert self.folder is not None
        conf = self.folder / f"{name}.conf"
        conf.write_text(config)
        log = (self.folder / f"{name.removesuffix('d')}.out").open("ab")
        with log:
            return subprocess.Popen(
                [str(binary), "-config", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,
            )

    def _wait_for_ping(self, process: subprocess.Popen[bytes], port: int, url: str) -> None:
        name = Path(str(process.args[0])).name  # type: ignore[index]
        deadline = time.monotonic() + self.start_timeout
        wait_until_listening("127.0.0.1", port, self.start_timeout, process, name)
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 204:
                    return
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer {url} in {self.start_timeout} s")

    def _influxdb_conf(self) -> str:
        folder = self.folder
        return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{self._rpc_port}"
[meta]
  dir = "{folder}/influxdb/meta"
[data]
  dir = "{folder}/influxdb/data"
  wal-dir = "{folder}/influxdb/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.influxdb_port}"
  log-enabled = false
{self._monitor_conf()}
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"""

    def _monitor_conf(self) -> str:
        if self.influxdb_monitor_interval is None:
            return "[monitor]\n  store-enabled = false"
        return (
            '[monitor]\n  store-enabled = true\n  store-database = "_internal"\n'
            f'  store-interval = "{self.influxdb_monitor_interval}"'
        )

    def _kapacitor_conf(self) -> str:
        folder = self.folder
        sections = [
            f"""\
hostname = "127.0.0.1"
data_dir = "{folder}/kapacitor"
skip-config-overrides = true
[http]
  bind-address = "127.0.0.1:{self.kapacitor_port}"
  log-enabled = false
[replay]
  dir = "{folder}/kapacitor/replay"
[storage]
  boltdb = "{folder}/kapacitor/kapacitor.db"
[load]
  enabled = false
[logging]
  file = "{folder}/kapacitor.log"
  level = "INFO"
[reporting]
  enabled = false
[stats]
  enabled = false
[[influxdb]]
  enabled = true
  default = true
  name = "localhost"
  urls = ["{self.influxdb_url}"]
  disable-subscriptions = {"false" if self.subscriptions else "true"}
  subscription-protocol = "http"
"""
        ]
        for endpoint in self.endpoints:
            section = f'[[httppost]]\n  endpoint = "{endpoint.name}"\n  url = "{endpoint.url}"\n'
            if endpoint.basic_auth is not None:
                user, password = endpoint.basic_auth
                section += f'  [httppost.basic-auth]\n    username = "{user}"\n'
                section += f'    password = "{password}"\n'
            if endpoint.headers:
                section += "  [httppost.headers]\n" + "".join(
                    f'    "{name}" = "{value}"\n' for name, value in endpoint.headers.items()
                )
            sections.append(section)
        for cluster in self.kafka_clusters:
            brokers = ", ".join(f'"{b}"' for b in cluster.bootstrap_servers.split(","))
            sections.append(
                f'[[kafka]]\n  enabled = true\n  id = "{cluster.id}"\n  brokers = [{brokers}]\n'
            )
        return "\n".join(sections)
