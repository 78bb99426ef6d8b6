"""A TICKscript parser producing a small AST (declarations, dbrp, chains, lambdas).

Newlines are not significant in TICKscript: an expression ends where the next token
cannot continue it, which is how ``var x = 'a'`` followed by ``var y ...`` or by
``trigger .post()`` on the next lines is split into statements.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeAlias

from ._errors import TickError
from ._ticklex import Token, tokenize

__all__ = [
    "Binary",
    "Call",
    "Chain",
    "DbrpStmt",
    "Expr",
    "ExprStmt",
    "Ident",
    "Lambda",
    "ListExpr",
    "Literal",
    "Program",
    "Ref",
    "Star",
    "Stmt",
    "Unary",
    "VarDecl",
    "parse_expression",
    "parse_program",
]

TYPE_WORDS = {
    "bool": "bool",
    "boolean": "bool",
    "int": "int",
    "float": "float",
    "string": "string",
    "duration": "duration",
    "lambda": "lambda",
    "regex": "regex",
    "list": "list",
    "star": "star",
}
# Binary operator precedence, loosest first.
_PRECEDENCE = {
    "OR": 1,
    "AND": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "=~": 3,
    "!~": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
}


@dataclass(frozen=True)
class Literal:
    type: str  # int, float, string, duration, bool, regex
    value: bool | int | float | str


@dataclass(frozen=True)
class Ident:
    name: str


@dataclass(frozen=True)
class Ref:
    """A double-quoted field reference such as ``"emitted"``."""

    name: str


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Lambda:
    body: Expr
    text: str  # the expression's source text, which Kapacitor returns as the value


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    """A function call inside a lambda, e.g. ``float("value")``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Chain:
    """``left |name(args)`` (new node), ``left .name(args)`` (property) or ``@udf``."""

    left: Expr
    op: str
    name: str
    args: tuple[Expr, ...]


Expr: TypeAlias = "Literal | Ident | Ref | Star | ListExpr | Lambda | Unary | Binary | Call | Chain"


@dataclass(frozen=True)
class VarDecl:
    name: str
    declared_type: str | None  # set for ``var x string``
    expr: Expr | None  # set for ``var x = <expr>``
    description: str
    line: int


@dataclass(frozen=True)
class DbrpStmt:
    db: str
    rp: str


@dataclass(frozen=True)
class ExprStmt:
    expr: Expr


Stmt: TypeAlias = "VarDecl | DbrpStmt | ExprStmt"


@dataclass(frozen=True)
class Program:
    statements: tuple[Stmt, ...]

    @property
    def declarations(self) -> tuple[VarDecl, ...]:
        return tuple(s for s in self.statements if isinstance(s, VarDecl))


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        tokens = tokenize(source)
        self.comments = {t.line: t.text for t in tokens if t.kind == "comment" and t.own_line}
        self.tokens = [t for t in tokens if t.kind != "comment"]
        self.index = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def is_op(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "op" and token.text == text

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise TickError("parser: unexpected EOF")
        self.index += 1
        return token

    def expect_op(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise TickError(
                f"parser: unexpected {token.text!r} line {token.line}, expected {text!r}"
            )

    def program(self) -> Program:
        statements: list[Stmt] = []
        while self.peek() is not None:
            statements.append(self.statement())
        return Program(tuple(statements))

    def statement(self) -> Stmt:
        token = self.take()
        if token.kind == "ident" and token.text == "var":
            return self.declaration(token)
        if token.kind == "ident" and token.text == "dbrp":
            db = self.take()
            self.expect_op(".")
            rp = self.take()
            if db.kind not in ("ref", "string") or rp.kind not in ("ref", "string"):
                raise TickError(f"parser: invalid dbrp statement line {token.line}")
            return DbrpStmt(db.text, rp.text)
        self.index -= 1
        return ExprStmt(self.expression())

    def declaration(self, var_token: Token) -> VarDecl:
        name = self.take()
        if name.kind != "ident":
            raise TickError(f"parser: expected identifier after var line {name.line}")
        description = self.comments.get(var_token.line - 1, "")
        if self.is_op("="):
            self.take()
            return VarDecl(name.text, None, self.expression(), description, var_token.line)
        type_token = self.take()
        if type_token.kind != "ident" or type_token.text not in TYPE_WORDS:
            raise TickError(f"parser: invalid var declaration {name.text!r} line {name.line}")
        return VarDecl(name.text, TYPE_WORDS[type_token.text], None, description, var_token.line)

    def expression(self, min_precedence: int = 1) -> Expr:
        left = self.postfix(self.unary())
        while True:
            token = self.peek()
            if token is None:
                return left
            word_op = token.kind == "ident" and token.text in ("AND", "OR")
            symbol_op = token.kind == "op" and token.text in _PRECEDENCE
            if not (word_op or symbol_op) or _PRECEDENCE[token.text] < min_precedence:
                return left
            precedence = _PRECEDENCE[token.text]
            self.take()
            right = self.expression(precedence + 1)
            left = Binary(token.text, left, right)

    def unary(self) -> Expr:
        if self.is_op("-") or self.is_op("!"):
            op = self.take().text
            return Unary(op, self.unary())
        return self.primary()

    def postfix(self, expr: Expr) -> Expr:
        while (self.is_op("|") or self.is_op(".") or self.is_op("@")) and (
            (nxt := self.peek(1)) is not None and nxt.kind == "ident"
        ):
            op = self.take().text
            name = self.take().text
            args = self.arguments() if self.is_op("(") else ()
            expr = Chain(expr, op, name, args)
        return expr

    def arguments(self) -> tuple[Expr, ...]:
        self.expect_op("(")
        args: list[Expr] = []
        while not self.is_op(")"):
            args.append(self.expression())
            if not self.is_op(")"):
                self.expect_op(",")
        self.take()
        return tuple(args)

    def primary(self) -> Expr:
        token = self.take()
        kind, text = token.kind, token.text
        if kind == "int":
            return Literal("int", int(text))
        if kind == "float":
            return Literal("float", float(text))
        if kind in ("string", "duration", "regex"):
            return Literal(kind, text)
        if kind == "ref":
            return Ref(text)
        if kind == "lambda":
            first = self.peek()
            body = self.expression()
            last = self.tokens[self.index - 1]
            start = first.start if first is not None else token.end
            return Lambda(body, self.source[start : last.end].strip())
        if kind == "ident":
            if text in ("TRUE", "FALSE"):
                return Literal("bool", text == "TRUE")
            if self.is_op("("):
                return Call(text, self.arguments())
            return Ident(text)
        if kind == "op" and text == "*":
            return Star()
        if kind == "op" and text == "(":
            inner = self.expression()
            self.expect_op(")")
            return inner
        if kind == "op" and text == "[":
            items: list[Expr] = []
            while not self.is_op("]"):
                items.append(self.expression())
                if not self.is_op("]"):
                    self.expect_op(",")
            self.take()
            return ListExpr(tuple(items))
        raise TickError(f"parser: unexpected {text!r} line {token.line}")


@functools.lru_cache(maxsize=256)
def parse_program(source: str) -> Program:
    """Parse a TICKscript (cached: thousands of tasks share one template script)."""
    return _Parser(source).program()


def parse_expression(source: str) -> Expr:
    """Parse one expression that must use the whole text (a lambda var's value)."""
    parser = _Parser(source)
    expr = parser.expression()
    leftover = parser.peek()
    if leftover is not None:
        raise TickError(f"parser: unexpected {leftover.text!r} line {leftover.line}")
    return expr
