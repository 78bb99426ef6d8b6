"""The public surface of ``deadman``: written in four places (the docstring, the
imports for type checkers, the lazy-import table and ``__all__``), kept equal here."""

from __future__ import annotations

import ast
import re

import deadman
from deadman import _exceptions
from tests.support.paths import ROOT

SOURCE = ROOT / "functions" / "deadman" / "__init__.py"
# Submodules the docstring names as public, imported as modules.
PUBLIC_MODULES = {"runtime", "binding", "knative", "ops", "_exceptions"}


def type_checking_names() -> set[str]:
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    [block] = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    return {
        alias.asname or alias.name
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_public_surface_all_is_the_table_and_the_exceptions() -> None:
    assert set(deadman.__all__) == set(deadman._EXPORTS) | set(_exceptions.__all__)
    assert len(deadman.__all__) == len(set(deadman.__all__))


def test_public_surface_every_name_resolves() -> None:
    for name in deadman.__all__:
        assert getattr(deadman, name) is not None, name


def test_public_surface_type_checkers_see_the_table() -> None:
    assert type_checking_names() == set(deadman._EXPORTS)


def test_public_surface_docstring_names_only_exported_names() -> None:
    """A documented name that is not exported (or misspelt) fails; so does an
    exported name the docstring does not mention."""
    doc = deadman.__doc__ or ""
    named = set(re.findall(r"``([A-Za-z_*][A-Za-z0-9_*]*)``", doc))
    patterns = {name for name in named if "*" in name}
    plain = named - patterns
    unknown = plain - PUBLIC_MODULES - set(deadman.__all__)
    assert not unknown, unknown
    exported = set(deadman._EXPORTS)
    covered = {
        name
        for name in exported
        if name in plain or any(re.fullmatch(p.replace("*", ".*"), name) for p in patterns)
    }
    assert covered == exported, exported - covered
