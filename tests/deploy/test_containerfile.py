"""The Containerfile: one non-root image for every function, fit for OpenShift."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from tests.support.paths import ROOT

CONTAINERFILE = ROOT / "Containerfile"
CONTAINERIGNORE = ROOT / ".containerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, arguments = full.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def env_values(steps: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, arguments in steps:
        if keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", arguments):
                values[name] = value.strip('"')
    return values


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in CONTAINERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, pattern)
        or fnmatch.fnmatch(path, pattern.removeprefix("**/"))
        or path.startswith(pattern.rstrip("/") + "/")
        for pattern in patterns
    )


def test_containerfile_base_is_python_311_slim() -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    bases = [arguments.split()[0] for keyword, arguments in instructions() if keyword == "FROM"]
    assert bases
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    resolved = [
        default.group(1) if default and base == "${PYTHON_IMAGE}" else base for base in bases
    ]
    assert all(re.fullmatch(r"(docker\.io/(library/)?)?python:3\.11-slim", b) for b in resolved)


def test_containerfile_runs_as_non_root() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the final stage needs a USER"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit()
    assert int(uid) != 0


def test_containerfile_fit_for_arbitrary_uid() -> None:
    """OpenShift runs the image as a random UID in group 0: what it writes must be g=u."""
    runs = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    assert re.search(r"chown -R \d+:0 ", runs)
    assert "chmod -R g=u" in runs
    home = env_values(final_stage())["HOME"]
    assert home in runs


def test_containerfile_serves_with_functions_framework() -> None:
    steps = final_stage()
    commands = [arguments for keyword, arguments in steps if keyword == "CMD"]
    assert len(commands) == 1
    command = json.loads(commands[0])
    assert command[:2] == ["functions-framework", "--source"]
    # FUNCTION_TARGET / FUNCTION_SIGNATURE_TYPE come from each Service's env.
    assert "--target" not in command
    source = command[2]
    copies = [arguments.split() for keyword, arguments in steps if keyword == "COPY"]
    assert ["functions/main.py", source] in copies
    assert env_values(steps)["PORT"] == "8080"


@pytest.mark.parametrize("needle", ["--debug", "DEBUG"])
def test_containerfile_no_debug_server(needle: str) -> None:
    code = " ".join(f"{keyword} {arguments}" for keyword, arguments in instructions())
    assert needle not in code


def test_containerfile_installs_the_project() -> None:
    steps = instructions()
    copied = {
        source.rstrip("/")
        for keyword, arguments in steps
        if keyword == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }
    assert {"pyproject.toml", "functions"} <= copied
    # The local stack is a development tool: never in the production image.
    assert "local" not in copied
    assert any(keyword == "RUN" and "pip install ." in arguments for keyword, arguments in steps)
    for source in copied:
        assert (ROOT / source).exists() or source == "README.md", f"{source} is missing"
        assert not ignored(source), f"{source} is excluded by .containerignore"


@pytest.mark.parametrize(
    "path", [".venv", ".git", "tests", "tests/deploy/test_manifests.py", "local", "kapacitor"]
)
def test_containerignore_excludes(path: str) -> None:
    assert ignored(path)
