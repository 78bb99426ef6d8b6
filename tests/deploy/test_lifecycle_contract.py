"""The lifecycle contract table (``deadman.LIFECYCLE_TYPES``) against everything
that restates it: the entry points, the settings' defaults, the local stack and the
docs. The manifests' tests (test_manifests.py) take their Services and
KafkaSources from the same table."""

from __future__ import annotations

import ast

import pytest

from deadman import LIFECYCLE_TYPES, ORDERED_TARGET, LifecycleSettings, LifecycleType
from deadman_local.stack import LIFECYCLE_TARGETS
from tests.support.paths import FUNCTIONS_SOURCE, ROOT

ROWS = {row.target: row for row in LIFECYCLE_TYPES}


def entry_points() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(FUNCTIONS_SOURCE.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def handled_action(function: ast.FunctionDef) -> str | None:
    """``X`` of the ``runtime.handle_lifecycle(event, Action.X)`` call; None without one."""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "runtime.handle_lifecycle"
            and len(node.args) == 2
        ):
            return ast.unparse(node.args[1])
    return None


def test_lifecycle_contract_actions_each_have_one_row() -> None:
    assert sorted(row.action for row in LIFECYCLE_TYPES) == sorted(
        {row.action for row in LIFECYCLE_TYPES}
    )


@pytest.mark.parametrize("row", LIFECYCLE_TYPES, ids=lambda row: row.target)
def test_lifecycle_contract_entry_point_applies_its_action(row: LifecycleType) -> None:
    function = entry_points()[row.target]
    assert [ast.unparse(d) for d in function.decorator_list] == ["functions_framework.cloud_event"]
    assert handled_action(function) == f"Action.{row.action.name}"


def test_lifecycle_contract_ordered_target_applies_every_type() -> None:
    function = entry_points()[ORDERED_TARGET]
    calls = [ast.unparse(n) for n in ast.walk(function) if isinstance(n, ast.Call)]
    assert calls == ["runtime.handle_lifecycle(event)"]


def test_lifecycle_contract_no_other_cloudevent_entry_point() -> None:
    cloudevent_targets = {
        name
        for name, function in entry_points().items()
        if "functions_framework.cloud_event" in [ast.unparse(d) for d in function.decorator_list]
    }
    assert cloudevent_targets == {*ROWS, ORDERED_TARGET}


@pytest.mark.parametrize("row", LIFECYCLE_TYPES, ids=lambda row: row.target)
def test_lifecycle_contract_settings_default_to_the_table(row: LifecycleType) -> None:
    field = LifecycleSettings.model_fields[f"event_type_{row.action.value}"]
    assert field.default == row.event_type


def test_lifecycle_contract_local_stack_runs_every_target() -> None:
    assert tuple(ROWS) == LIFECYCLE_TARGETS


@pytest.mark.parametrize("row", LIFECYCLE_TYPES, ids=lambda row: row.target)
def test_lifecycle_contract_docs_have_its_row(row: LifecycleType) -> None:
    """The operators' table of event types names each type, target and action."""
    page = (ROOT / "docs" / "lifecycle-events.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("|")]
    assert any(f"`{row.event_type}`" in line and f"`{row.target}`" in line for line in rows), (
        f"docs/lifecycle-events.md has no table row for {row.event_type} / {row.target}"
    )
