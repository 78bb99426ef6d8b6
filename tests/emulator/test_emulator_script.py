"""What the emulator reads from a TICKscript (``_script``): the shipped templates'
vars, type checks and alert handler. Kapacitor's own reading of them is tested on
the real server (tests/unit/test_kapacitor_client.py, the fidelity replay)."""

from __future__ import annotations

import pytest

from deadman import KapacitorSettings
from deadman.ops.template import bundled_template, render_template
from deadman_local.kapacitor_emulator import Var
from deadman_local.kapacitor_emulator._script import read_script
from tests.support.emulator import DEADMAN_SCRIPT
from tests.support.paths import TEMPLATE_ID

DEVICE = {
    "name": Var("string", "dev-1_not_fed"),
    "db": Var("string", "iot"),
    "rp": Var("string", "autogen"),
    "measurement": Var("string", "dev-1"),
}


def test_device_template_vars_handler_and_period() -> None:
    script = read_script(bundled_template(TEMPLATE_ID))
    assert script.type == "batch"
    assert (script.posts, script.writes_kafka, script.state_changes_only) == (True, False, True)
    env = script.env(DEVICE)
    assert script.text("id", env) == "dev-1_not_fed"  # .id(idVar), idVar = name
    assert script.text("endpoint", env) == "benthos"
    assert script.interval_ns(env) == 60 * 10**9
    assert env["query"].value == 'SELECT * FROM "iot"."autogen"."dev-1" WHERE "ty" = \'F\''
    assert env["whereFilter"] == Var("lambda", "(\"ty\" == 'F')")
    assert {"data", "trigger"}.isdisjoint(env)  # pipelines are not vars


def test_template_lists_declared_vars_with_defaults_and_descriptions() -> None:
    listed = read_script(DEADMAN_SCRIPT).listed_vars()
    assert listed["name"] == Var("string", None)
    assert listed["period"] == Var("duration", 10 * 10**9, "how long a device may stay silent")
    assert listed["threshold"] == Var("float", 0.0)
    assert listed["idVar"] == Var("string", "")
    assert listed["query"] == Var("string", 'SELECT * FROM ""."".""')


@pytest.mark.parametrize(
    ("supplied", "problem"),
    [
        ({}, 'missing value for var "name".'),
        (
            {**DEVICE, "measurement": Var("int", 3)},
            "invalid type supplied for measurement, got int exp string",
        ),
        (
            {**DEVICE, "threshold": Var("bool", True)},
            "invalid type supplied for threshold, got boolean exp float",
        ),
        ({**DEVICE, "period": Var("duration", 10**9)}, None),
        ({**DEVICE, "extra": Var("int", 1)}, None),  # undeclared vars are kept, unchecked
    ],
)
def test_problem_follows_declaration_order(supplied: dict[str, Var], problem: str | None) -> None:
    assert read_script(DEADMAN_SCRIPT).problem(supplied) == problem


def test_kafka_rendering_of_the_heartbeat_names_cluster_and_topic() -> None:
    settings = KapacitorSettings(
        alert_delivery="kafka", kapacitor_kafka_cluster="local", kapacitor_alerts_topic="alerts"
    )
    script = read_script(render_template(bundled_template("deadman_heartbeat"), settings))
    env = script.env({"period": Var("duration", 5 * 10**9)})
    assert (script.posts, script.writes_kafka, script.state_changes_only) == (False, True, False)
    assert (script.text("cluster", env), script.text("kafkaTopic", env)) == ("local", "alerts")
    assert script.text("id", env) == "deadman_heartbeat"
    assert script.interval_ns(env) == 5 * 10**9


@pytest.mark.parametrize(
    ("source", "task_type"),
    [
        ("stream\n    |from()", "stream"),
        ("var x = 1", "invalid"),
        ("batch|query('q')\nstream|from()", "invalid"),
    ],
)
def test_task_type_comes_from_the_pipeline_root(source: str, task_type: str) -> None:
    assert read_script(source).type == task_type
