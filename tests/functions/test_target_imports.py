"""Each target imports, when functions-framework loads it, only what it runs.

The package's own modules are named by their names inside it (``_kapacitor``): the
test observes what got loaded and uses none of it.
"""

from __future__ import annotations

import pytest

from deadman import ORDERED_TARGET
from tests.support.apps import LIFECYCLE_TARGETS, create_app_in_fresh_interpreter

# Prints every loaded module; the package's own as "deadman:<name inside it>".
LIST_MODULES = (
    "for name in sorted(sys.modules):\n    print(name.replace('deadman.', 'deadman:', 1))\n"
)
LIFECYCLE_ONLY = ("deadman:_kapacitor", "deadman:_lifecycle", "deadman:_service", "httpx")
CALLBACK_ONLY = ("deadman:_alerts", "deadman:_callback", "deadman:_sinks", "confluent_kafka")
NEVER_UNCONFIGURED = ("opentelemetry",)


def modules_after_create_app(target: str) -> set[str]:
    return set(create_app_in_fresh_interpreter(target, then=LIST_MODULES).stdout.split())


def loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("target", [*LIFECYCLE_TARGETS, ORDERED_TARGET])
def test_target_imports_lifecycle_loads_no_alert_path(target: str) -> None:
    modules = modules_after_create_app(target)
    assert "deadman:_config" in modules  # the settings were validated
    assert loaded(modules, CALLBACK_ONLY + NEVER_UNCONFIGURED) == []


def test_target_imports_callback_loads_no_kapacitor_client() -> None:
    modules = modules_after_create_app("alert_callback")
    assert "deadman:_config" in modules
    assert loaded(modules, LIFECYCLE_ONLY + NEVER_UNCONFIGURED) == []
