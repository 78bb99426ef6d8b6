"""Static evaluation of TICKscript declarations and the structural facts Kapacitor
derives from a script: task type, dbrp statements, declared vars and their values.

Only what an emulator needs is evaluated: literal defaults, string concatenation and
simple arithmetic, references to other vars. Pipeline expressions evaluate to
``NODE`` and are not vars (Kapacitor does not list them either).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final, TypeAlias

from ._errors import TickError
from ._model import DBRP, Var
from ._tickparse import (
    Binary,
    Chain,
    DbrpStmt,
    Expr,
    ExprStmt,
    Ident,
    Lambda,
    ListExpr,
    Literal,
    Program,
    Star,
    Unary,
    VarDecl,
    parse_expression,
)
from ._vars import parse_influxql_duration, tick_type_word

__all__ = [
    "NODE",
    "UNKNOWN",
    "Env",
    "chains",
    "dbrps_of",
    "evaluate",
    "evaluate_task",
    "task_type_of",
    "template_vars",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NODE: Final = _Marker("NODE")  # a pipeline node (``batch |query(...)``), not a var
UNKNOWN: Final = _Marker("UNKNOWN")  # something the emulator does not evaluate
Value: TypeAlias = "Var | _Marker"
Env: TypeAlias = "Mapping[str, Value]"

_ZERO: dict[str, bool | int | float | str | tuple[Var, ...] | None] = {
    "bool": False,
    "int": 0,
    "float": 0.0,
    "string": "",
    "duration": 0,
    "lambda": "",
    "regex": "",
    "list": (),
    "star": None,
}
_NUMERIC = frozenset({"int", "float", "duration"})


def _arith(op: str, left: Var, right: Var) -> Value:
    a, b = left.value, right.value
    if op == "+" and left.type == right.type == "string":
        return Var("string", f"{a}{b}")
    numeric = (int, float)
    if not (isinstance(a, numeric) and isinstance(b, numeric)):
        return UNKNOWN
    if op in ("==", "!=", "<", "<=", ">", ">="):
        results = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
        return Var("bool", results[op])
    if left.type != right.type and {left.type, right.type} != {"duration", "int"}:
        return UNKNOWN
    result_type = "duration" if "duration" in (left.type, right.type) else left.type
    try:
        result = {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b if result_type == "float" else a // b,
            "%": lambda: a % b,
        }[op]()
    except (KeyError, ZeroDivisionError):
        return UNKNOWN
    return Var(result_type, result)


def evaluate(expr: Expr, env: Env) -> Value:
    """Evaluate an expression statically; pipeline chains give ``NODE``."""
    if isinstance(expr, Literal):
        if expr.type == "duration":
            return Var("duration", parse_influxql_duration(str(expr.value)))
        return Var(expr.type, expr.value)
    if isinstance(expr, Ident):
        if expr.name in ("batch", "stream"):
            return NODE
        return env.get(expr.name, UNKNOWN)
    if isinstance(expr, Star):
        return Var("star", None)
    if isinstance(expr, Lambda):
        return Var("lambda", expr.text)
    if isinstance(expr, ListExpr):
        items = [evaluate(item, env) for item in expr.items]
        if not all(isinstance(item, Var) for item in items):
            return UNKNOWN
        return Var("list", tuple(item for item in items if isinstance(item, Var)))
    if isinstance(expr, Unary):
        operand = evaluate(expr.operand, env)
        if not isinstance(operand, Var):
            return UNKNOWN
        if expr.op == "!" and operand.type == "bool":
            return Var("bool", not operand.value)
        value = operand.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return UNKNOWN
        if expr.op == "-" and operand.type in _NUMERIC:
            return Var(operand.type, -value)
        return UNKNOWN
    if isinstance(expr, Binary):
        left, right = evaluate(expr.left, env), evaluate(expr.right, env)
        if not (isinstance(left, Var) and isinstance(right, Var)):
            return UNKNOWN
        if expr.op in ("AND", "OR") and left.type == right.type == "bool":
            both = bool(left.value) and bool(right.value)
            either = bool(left.value) or bool(right.value)
            return Var("bool", both if expr.op == "AND" else either)
        return _arith(expr.op, left, right)
    if isinstance(expr, Chain):
        return NODE if evaluate(expr.left, env) is NODE else UNKNOWN
    return UNKNOWN


def template_vars(program: Program) -> dict[str, Var]:
    """The ``vars`` a template lists: declared vars with their defaults.

    A var declared with only a type shows ``null``; when another default refers to
    it, it counts as its type's zero value (Kapacitor shows the ``query`` default of
    the project template built from empty strings).
    """
    env: dict[str, Value] = {}
    listed: dict[str, Var] = {}
    for decl in program.declarations:
        if decl.declared_type is not None:
            env[decl.name] = Var(decl.declared_type, _ZERO[decl.declared_type])
            listed[decl.name] = Var(decl.declared_type, None, decl.description)
            continue
        assert decl.expr is not None
        value = evaluate(decl.expr, env)
        env[decl.name] = value
        if isinstance(value, Var):
            listed[decl.name] = Var(value.type, value.value, decl.description)
    return listed


def _check_supplied(supplied: Mapping[str, Var]) -> None:
    # Kapacitor converts every stored var to a tick var before evaluating the script,
    # which is where bad regexes and lambdas surface.
    for name in sorted(supplied):
        var = supplied[name]
        if var.type == "regex":
            try:
                re.compile(str(var.value))
            except re.error as exc:
                raise TickError(f"invalid var {name}: invalid regex pattern: {exc}") from None
        elif var.type == "lambda":
            try:
                parse_expression(str(var.value))
            except TickError as exc:
                raise TickError(f"invalid var {name}: invalid lambda expression: {exc}") from None


def evaluate_task(program: Program, supplied: Mapping[str, Var]) -> dict[str, Value]:
    """Apply a task's vars to its script the way Kapacitor's evaluator checks them.

    Declarations are visited in script order, so the first problem reported is the
    first declaration that fails, as in the captures. Vars the script does not
    declare are accepted and ignored here.
    """
    _check_supplied(supplied)
    env: dict[str, Value] = {}
    for decl in program.declarations:
        given = supplied.get(decl.name)
        if decl.declared_type is not None:
            if given is None:
                raise TickError(f'missing value for var "{decl.name}".')
            expected = decl.declared_type
        else:
            assert decl.expr is not None
            default = evaluate(decl.expr, env)
            if given is None or not isinstance(default, Var):
                env[decl.name] = default
                continue
            expected = default.type
        if given.type != expected:
            raise TickError(
                f"invalid type supplied for {decl.name}, got {tick_type_word(given.type)} "
                f"exp {tick_type_word(expected)}"
            )
        env[decl.name] = given
    return env


def _leftmost(expr: Expr) -> Expr:
    while isinstance(expr, Chain):
        expr = expr.left
    return expr


def task_type_of(program: Program) -> str:
    """``taskTypeFromProgram``: ``stream``, ``batch`` or ``invalid``."""
    roots: list[str] = []
    for statement in program.statements:
        expr = statement.expr if isinstance(statement, VarDecl | ExprStmt) else None
        if isinstance(expr, Chain):
            root = _leftmost(expr)
            if isinstance(root, Ident) and root.name in ("batch", "stream"):
                roots.append(root.name)
    if not roots or any(root != roots[0] for root in roots):
        return "invalid"
    return roots[0]


def dbrps_of(program: Program) -> list[DBRP]:
    return [DBRP(s.db, s.rp) for s in program.statements if isinstance(s, DbrpStmt)]


def chains(program: Program) -> Iterator[Chain]:
    """Every chain link in source order (a link's left side comes first)."""

    def walk(expr: Expr) -> Iterator[Chain]:
        if isinstance(expr, Chain):
            yield from walk(expr.left)
            yield expr
            for arg in expr.args:
                yield from walk(arg)

    for statement in program.statements:
        expr = statement.expr if isinstance(statement, VarDecl | ExprStmt) else None
        if expr is not None:
            yield from walk(expr)
