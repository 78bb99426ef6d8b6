"""The documentation: a short README, docs/ pages whose links resolve, and a
configuration reference that cannot drift from the settings classes.

``docs/configuration.md`` holds the reference as markdown tables:

* one table ``| settings class | used-by name | read by |`` naming the settings
  classes that something loads (a class left out must be a base of a listed one);
* tables ``| variable | default | used by | description |``, one row per
  environment variable of the settings classes, its default rendered as
  ``render_default`` does, ``used by`` the used-by names of the listed classes that
  have it;
* tables ``| variable | default | read by | description |`` for the variables read
  outside the settings classes, each of which must occur in the code.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from deadman import _config
from tests.support.paths import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
README_MAX_LINES = 250
# Markdown files whose relative links must resolve.
LINKED_FILES = [README, *sorted(DOCS.glob("*.md")), ROOT / "knative" / "DEPLOY.md"]

CLASSES_HEADER = ("settings class", "used-by name", "read by")
SETTINGS_HEADER = ("variable", "default", "used by", "description")
OTHER_HEADER = ("variable", "default", "read by", "description")
# Where a variable read outside the settings classes must occur.
CODE_PLACES = [
    "functions",
    "local/src",
    "tests",
    "bench",
    ".ci",
    "knative",
    "kafka-sources",
    "Containerfile",
    "Makefile",
]
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".env", ".sh", ""}


# --- markdown ------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """The cells of one table row, split on unescaped pipes."""
    body = line.strip()
    body = body.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def tables(text: str) -> list[tuple[tuple[str, ...], list[list[str]]]]:
    """Every table of a markdown text outside code fences: (header, rows)."""
    found: list[tuple[tuple[str, ...], list[list[str]]]] = []
    block: list[str] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            header = tuple(cell.lower() for cell in _cells(block[0]))
            found.append((header, [_cells(row) for row in block[2:]]))
        block = []
    return found


def rows_of(header: tuple[str, ...]) -> list[list[str]]:
    """The rows of every table of docs/configuration.md with that header."""
    rows = [
        row
        for found, table_rows in tables(CONFIGURATION.read_text(encoding="utf-8"))
        if found == header
        for row in table_rows
    ]
    assert rows, f"docs/configuration.md has no table {' | '.join(header)}"
    for row in rows:
        assert len(row) == len(header), f"row {row} does not have {len(header)} cells"
    return rows


def code_name(cell: str) -> str:
    """`NAME` -> NAME; a cell naming anything else fails."""
    match = re.fullmatch(r"`([A-Za-z_][A-Za-z0-9_]*)`", cell)
    assert match, f"{cell!r} must be exactly one name in backticks"
    return match.group(1)


def slug(heading: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading (duplicates get -1, -2, ...)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
    count = seen.get(text, 0)
    seen[text] = count + 1
    return text if count == 0 else f"{text}-{count}"


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = re.match(r"#{1,6} (.+)", line)
        if match and not fenced:
            result.add(slug(match.group(1), seen))
    return result


def links(path: Path) -> Iterator[str]:
    """Link targets of a markdown file, outside code fences and code spans."""
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
        for match in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
            yield match.group(1)


# --- settings ------------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    """Every public settings class deadman._config offers (its own and those it
    re-exports from the package's other settings modules)."""
    return [
        value
        for name, value in vars(_config).items()
        if inspect.isclass(value)
        and issubclass(value, BaseSettings)
        and value.__module__.startswith("deadman.")
        and not name.startswith("_")
    ]


def env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables a field is read from (upper case: the classes are
    case-insensitive)."""
    assert not cls.model_config.get("case_sensitive"), f"{cls.__name__} is case-sensitive"
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    return [(str(cls.model_config.get("env_prefix") or "") + name).upper()]


def fields_by_variable(cls: type[BaseSettings]) -> dict[str, FieldInfo]:
    return {
        variable: field
        for name, field in cls.model_fields.items()
        for variable in env_names(cls, name, field)
    }


def render_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "set (secret)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, str):
        text = value or '""'
    else:
        text = json.dumps(value)
    return f"`{text}`"


def render_default(field: FieldInfo) -> str:
    """``required`` (no default), ``unset`` (None), else the value in backticks:
    booleans as true/false, whole floats as integers, dicts and lists as JSON."""
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined:
        return "required"
    return render_value(value)


def is_secret(field: FieldInfo) -> bool:
    return "SecretStr" in str(field.annotation)


def documented_classes() -> dict[type[BaseSettings], str]:
    """The classes of the class table, in its order, with their used-by names."""
    by_name = {cls.__name__: cls for cls in settings_classes()}
    result: dict[type[BaseSettings], str] = {}
    for row in rows_of(CLASSES_HEADER):
        name = code_name(row[0])
        assert name in by_name, f"docs/configuration.md names {name}, not in deadman._config"
        result[by_name[name]] = row[1]
    assert len(set(result.values())) == len(result), "used-by names must be unique"
    return result


def expected_default(variable: str, classes: dict[type[BaseSettings], str]) -> str:
    """One rendering when every class agrees, else ``a (x, y); b (z)``."""
    groups: dict[str, list[str]] = {}
    for cls, used_by in classes.items():
        field = fields_by_variable(cls).get(variable)
        if field is not None:
            groups.setdefault(render_default(field), []).append(used_by)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{default} ({', '.join(names)})" for default, names in groups.items())


def settings_rows() -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in rows_of(SETTINGS_HEADER):
        variable = code_name(row[0])
        assert variable not in result, f"{variable} has two rows"
        result[variable] = row
    return result


def all_variables() -> dict[str, list[tuple[type[BaseSettings], FieldInfo]]]:
    result: dict[str, list[tuple[type[BaseSettings], FieldInfo]]] = {}
    for cls in settings_classes():
        for variable, field in fields_by_variable(cls).items():
            result.setdefault(variable, []).append((cls, field))
    return result


# --- tests: configuration ------------------------------------------------------


def test_every_settings_class_is_listed_or_a_base_of_a_listed_one() -> None:
    listed = documented_classes()
    for cls in settings_classes():
        assert cls in listed or any(issubclass(other, cls) for other in listed), (
            f"{cls.__name__} is missing from the class table of docs/configuration.md"
        )


def test_every_setting_has_a_row() -> None:
    rows = settings_rows()
    missing = sorted(set(all_variables()) - set(rows))
    assert not missing, f"docs/configuration.md lacks rows for {missing}"


def test_no_row_names_a_setting_the_code_does_not_have() -> None:
    stale = sorted(set(settings_rows()) - set(all_variables()))
    assert not stale, f"docs/configuration.md documents settings that do not exist: {stale}"


@pytest.mark.parametrize("variable", sorted(all_variables()))
def test_default_and_used_by_match_the_code(variable: str) -> None:
    classes = documented_classes()
    row = settings_rows().get(variable)
    assert row is not None, f"docs/configuration.md lacks a row for {variable}"
    assert row[1] == expected_default(variable, classes), f"default of {variable}"
    for cls, field in all_variables()[variable]:
        assert render_default(field) in row[1], f"{cls.__name__}'s default of {variable}"
    used_by = {name.strip() for name in row[2].split(",")}
    expected = {name for cls, name in classes.items() if variable in fields_by_variable(cls)}
    assert used_by == expected, f"used by of {variable}"


@pytest.mark.parametrize("variable", sorted(all_variables()))
def test_description_matches_the_code(variable: str) -> None:
    row = settings_rows().get(variable)
    assert row is not None, f"docs/configuration.md lacks a row for {variable}"
    description = row[3]
    assert description, f"{variable} has no description"
    fields = [field for _, field in all_variables()[variable]]
    in_code = {field.description for field in fields if field.description}
    assert len(in_code) <= 1, f"the classes describe {variable} differently: {in_code}"
    if in_code:
        assert description == in_code.pop(), f"description of {variable}"
    if any(is_secret(field) for field in fields):
        assert "secret" in description.lower(), f"say that {variable} is a secret"


def _code_text() -> str:
    parts: list[str] = []
    for place in CODE_PLACES:
        path = ROOT / place
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            generated = any(
                part == "__pycache__" or part.endswith(".egg-info") for part in file.parts
            )
            if file.is_file() and file.suffix in CODE_SUFFIXES and not generated:
                if file.resolve() == Path(__file__).resolve():
                    continue
                parts.append(file.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def test_other_variables_occur_in_the_code() -> None:
    code = _code_text()
    settings = set(all_variables())
    seen: set[str] = set()
    for row in rows_of(OTHER_HEADER):
        variable = code_name(row[0])
        assert variable not in seen, f"{variable} has two rows"
        seen.add(variable)
        assert variable not in settings, f"{variable} is a setting: document it in its table"
        if "SDK" in row[2]:
            continue  # read by a library (the OpenTelemetry SDK), not by this code
        assert re.search(rf"\b{variable}\b", code), f"{variable} occurs nowhere in the code"
        assert row[3], f"{variable} has no description"


# --- tests: README and pages ---------------------------------------------------


def test_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_links_every_docs_page() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in links(README)
        if not re.match(r"[a-z]+:", target)
    }
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked, f"README.md does not link {page.name}"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda page: page.name)
def test_docs_page_opens_with_its_question(page: Path) -> None:
    first = page.read_text(encoding="utf-8").splitlines()[0]
    assert re.fullmatch(r"# .+\?", first), (
        f"{page.name} must open with a title asking the operator's question"
    )


@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken: list[str] = []
    for target in links(path):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"
