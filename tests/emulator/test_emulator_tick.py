"""TICKscript parsing and static evaluation used for vars, types, dbrps and DOT."""

from __future__ import annotations

import pytest

from deadman_local.kapacitor_emulator import Var
from deadman_local.kapacitor_emulator._dot import build_graph, plain_dot
from deadman_local.kapacitor_emulator._errors import TickError
from deadman_local.kapacitor_emulator._tickeval import (
    dbrps_of,
    evaluate_task,
    task_type_of,
    template_vars,
)
from deadman_local.kapacitor_emulator._tickparse import parse_program


def test_template_vars_lists_declarations_with_defaults(deadman_script: str) -> None:
    listed = template_vars(parse_program(deadman_script))
    assert listed["name"] == Var("string", None)
    assert listed["period"] == Var("duration", 10_000_000_000, "how long a device may stay silent")
    assert listed["threshold"] == Var("float", 0.0)
    assert listed["idVar"] == Var("string", "")  # refers to an unset string var
    assert listed["query"] == Var("string", 'SELECT * FROM ""."".""')
    assert "data" not in listed
    assert "trigger" not in listed


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("var x = '''raw\\n'''", Var("string", "raw\\n")),
        ("var x = 'a\\'b'", Var("string", "a'b")),
        ("var x = 5", Var("int", 5)),
        ("var x = 2.5", Var("float", 2.5)),
        ("var x = TRUE", Var("bool", True)),
        ("var x = 1h + 30m", Var("duration", 5400 * 10**9)),
        ("var x = 2 * 3 + 1", Var("int", 7)),
        ("var x = /^dev-\\d+$/", Var("regex", "^dev-\\d+$")),
        ("var x = ['host', *]", Var("list", (Var("string", "host"), Var("star", None)))),
        ('var x = lambda: "v" > 5 AND "w" < 2', Var("lambda", '"v" > 5 AND "w" < 2')),
    ],
)
def test_declaration_defaults_evaluate(source: str, expected: Var) -> None:
    assert template_vars(parse_program(source))["x"] == expected


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ("stream|from()", "stream"),
        ("var d = batch|query('q')\nd|httpOut('x')", "batch"),
        ("var d = batch|query('q')\nstream|from()", "invalid"),
        ("var d = batch\n", "invalid"),
        ("", "invalid"),
        ("// only a comment\n", "invalid"),
    ],
)
def test_task_type_comes_from_chain_roots(script: str, kind: str) -> None:
    assert task_type_of(parse_program(script)) == kind


def test_dbrp_statements_are_read() -> None:
    program = parse_program('dbrp "iot"."autogen"\ndbrp "iot"."long"\nstream|from()')
    assert [(d.db, d.rp) for d in dbrps_of(program)] == [("iot", "autogen"), ("iot", "long")]


@pytest.mark.parametrize(
    "script",
    [
        "var x = 'open",
        "var x nope",
        "var = 3",
        "stream|from(",
        "var x = 10sec",
        "stream|from() # comment",
    ],
)
def test_syntax_errors_raise(script: str) -> None:
    with pytest.raises(TickError, match=r"^parser: "):
        parse_program(script)


def test_evaluate_task_reports_the_first_failing_declaration(deadman_script: str) -> None:
    program = parse_program(deadman_script)
    with pytest.raises(TickError, match=r'^missing value for var "name"\.$'):
        evaluate_task(program, {"measurement": Var("int", 3)})
    given = {
        "name": Var("string", "n"),
        "db": Var("string", "d"),
        "rp": Var("string", "r"),
        "measurement": Var("int", 3),
    }
    with pytest.raises(
        TickError,
        match=r"^invalid type supplied for measurement, got int exp "
        r"string$",
    ):
        evaluate_task(program, given)
    given["measurement"] = Var("string", "m")
    given["extra"] = Var("bool", True)  # undeclared: accepted
    env = evaluate_task(program, given)
    assert env["query"] == Var("string", 'SELECT * FROM "d"."r"."m"')
    assert env["idVar"] == Var("string", "n")


def test_evaluate_task_checks_regex_and_lambda_vars(deadman_script: str) -> None:
    program = parse_program("stream|from()")
    with pytest.raises(TickError, match=r"^invalid var r: invalid regex pattern: "):
        evaluate_task(program, {"r": Var("regex", "(")})
    with pytest.raises(TickError, match=r"^invalid var f: invalid lambda expression: "):
        evaluate_task(program, {"f": Var("lambda", '"a" > ')})


def test_plain_dot_draws_a_stream_root_and_deadman_nodes() -> None:
    program = parse_program("stream\n    |from()\n    |deadman(0.0, 10s)\n")
    assert plain_dot("t", build_graph(program)) == (
        "digraph t {\nstream0 -> from1;\nfrom1 -> noop3;\nstats2 -> derivative4;\n"
        "derivative4 -> alert5;\n}"
    )
