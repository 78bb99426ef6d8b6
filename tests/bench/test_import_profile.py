"""bench/import_profile.py rebuilds ``python -X importtime``'s tree from real output
and charges each module's time to the library that brought it in."""

from __future__ import annotations

import import_profile
import pytest
from import_profile import ImportedModule

from tests.support.paths import FUNCTIONS_SOURCE, ROOT

MINIMAL_SOURCE = ROOT / "bench" / "floor" / "minimal.py"
FUNCTION_ENV = {"KAPACITOR_DB": "iot", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}


def modules(roots: list[ImportedModule]) -> list[ImportedModule]:
    return [module for module, _group in import_profile.walk(roots)]


def owner_of(roots: list[ImportedModule], name: str) -> str:
    """The group the import of ``name`` is charged to."""
    found = [group for module, group in import_profile.walk(roots) if module.name == name]
    assert len(found) == 1, f"{name} imported {len(found)} times"
    return found[0]


@pytest.fixture(scope="module")
def enable_alert_profile() -> tuple[float, list[ImportedModule]]:
    return import_profile.profile_once("enable_alert", FUNCTIONS_SOURCE, FUNCTION_ENV, ROOT)


def test_import_profile_tree_cumulative_is_own_plus_children(
    enable_alert_profile: tuple[float, list[ImportedModule]],
) -> None:
    _total_ms, roots = enable_alert_profile
    imported = modules(roots)
    assert len(imported) > 100
    for module in imported:
        children = sum(child.cumulative_us for child in module.children)
        # importtime rounds each figure to a microsecond on its own.
        slack = len(module.children) + 1
        assert abs(module.cumulative_us - module.own_us - children) <= slack, module.name


def test_import_profile_tree_starts_at_the_marker(
    enable_alert_profile: tuple[float, list[ImportedModule]],
) -> None:
    _total_ms, roots = enable_alert_profile
    names = {module.name for module in modules(roots)}
    # The interpreter's start-up imports come before create_app and stay out.
    assert "site" not in names
    assert {"functions_framework", "deadman", "pydantic_settings"} <= names


def test_import_profile_charge_stdlib_to_its_first_importer(
    enable_alert_profile: tuple[float, list[ImportedModule]],
) -> None:
    _total_ms, roots = enable_alert_profile
    assert owner_of(roots, "asyncio") == "pydantic_settings"
    assert owner_of(roots, "jinja2") == "framework"
    assert owner_of(roots, "deadman.binding") == "project"


def test_import_profile_charge_accounts_for_every_import(
    enable_alert_profile: tuple[float, list[ImportedModule]],
) -> None:
    total_ms, roots = enable_alert_profile
    groups = import_profile.charge(roots)
    own_ms = sum(root.cumulative_us for root in roots) / 1000
    # Rounded to a microsecond per module by importtime.
    assert sum(groups.values()) == pytest.approx(own_ms, abs=len(modules(roots)) / 1000)
    assert all(groups[g] > 0 for g in ("framework", "pydantic", "pydantic_settings", "project"))
    assert sum(groups.values()) < total_ms


def test_import_profile_sample_minimal_function_is_framework_only() -> None:
    figures = import_profile.sample("event", MINIMAL_SOURCE, {}, ROOT)
    assert figures["framework_ms"] > 0
    assert figures["pydantic_ms"] == figures["pydantic_settings_ms"] == figures["project_ms"] == 0
    assert figures["outside_imports_ms"] > 0
