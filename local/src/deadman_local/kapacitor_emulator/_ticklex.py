"""A TICKscript tokenizer, enough for var declarations, dbrp statements and chains.

It follows the lexical rules of Kapacitor's ``tick`` package closely enough for the
emulator's needs; it is not a validator of every TICKscript construct.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import TickError

__all__ = ["Token", "tokenize"]

_TWO_CHAR_OPS = ("==", "!=", "<=", ">=", "=~", "!~")
_ONE_CHAR_OPS = frozenset("|.@()[],=<>+-*/%!:")
_DURATION_UNITS = ("ns", "ms", "u", "µ", "s", "m", "h", "d", "w")
# After one of these a "/" is a division, otherwise it opens a regex literal.
_OPERAND_KINDS = frozenset({"ident", "int", "float", "duration", "string", "ref", "regex"})


@dataclass(frozen=True)
class Token:
    kind: str  # ident, int, float, duration, string, ref, regex, lambda, op, comment
    text: str  # the decoded value (strings unescaped, comments without "//")
    start: int
    end: int
    line: int
    own_line: bool = False  # comments only: nothing but whitespace before it


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.tokens: list[Token] = []

    def error(self, message: str) -> TickError:
        column = self.pos - (self.src.rfind("\n", 0, self.pos) + 1) + 1
        return TickError(f"parser: {message} at line {self.line} char {column}")

    def emit(self, kind: str, text: str, start: int, own_line: bool = False) -> None:
        self.tokens.append(Token(kind, text, start, self.pos, self.line, own_line))

    def run(self) -> list[Token]:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "\n":
                self.line += 1
                self.pos += 1
            elif char.isspace():
                self.pos += 1
            elif self.src.startswith("//", self.pos):
                self.comment()
            elif self.src.startswith("'''", self.pos):
                self.triple_string()
            elif char in "'\"":
                self.quoted(char)
            elif char.isdigit():
                self.number()
            elif char.isalpha() or char == "_":
                self.word()
            elif char == "/" and not self.after_operand():
                self.regex()
            else:
                self.operator()
        return self.tokens

    def after_operand(self) -> bool:
        last = next((t for t in reversed(self.tokens) if t.kind != "comment"), None)
        if last is None:
            return False
        return last.kind in _OPERAND_KINDS or (last.kind == "op" and last.text in ")]")

    def comment(self) -> None:
        start = self.pos
        line_start = self.src.rfind("\n", 0, start) + 1
        own_line = not self.src[line_start:start].strip()
        end = self.src.find("\n", start)
        self.pos = len(self.src) if end < 0 else end
        self.emit("comment", self.src[start + 2 : self.pos].strip(), start, own_line)

    def triple_string(self) -> None:
        start = self.pos
        end = self.src.find("'''", start + 3)
        if end < 0:
            raise self.error("unterminated string")
        body = self.src[start + 3 : end]
        self.pos = end + 3
        self.emit("string", body, start)
        self.line += body.count("\n")

    def quoted(self, quote: str) -> None:
        start = self.pos
        index = start + 1
        while index < len(self.src) and self.src[index] != quote:
            index += 2 if self.src[index] == "\\" else 1
        if index >= len(self.src):
            raise self.error("unterminated string")
        body = self.src[start + 1 : index].replace("\\" + quote, quote)
        self.pos = index + 1
        self.emit("string" if quote == "'" else "ref", body, start)
        self.line += body.count("\n")

    def number(self) -> None:
        start = self.pos
        while self.pos < len(self.src) and self.src[self.pos].isdigit():
            self.pos += 1
        rest = self.src[self.pos :]
        if rest[:1] == "." and rest[1:2].isdigit():
            self.pos += 1
            while self.pos < len(self.src) and self.src[self.pos].isdigit():
                self.pos += 1
            self.emit("float", self.src[start : self.pos], start)
            return
        unit = next((u for u in _DURATION_UNITS if rest.startswith(u)), "")
        if unit:
            after = rest[len(unit) : len(unit) + 1]
            if after.isalnum() or after == "_":
                raise self.error(f"invalid duration {self.src[start : self.pos + len(unit) + 1]!r}")
            self.pos += len(unit)
            self.emit("duration", self.src[start : self.pos], start)
            return
        self.emit("int", self.src[start : self.pos], start)

    def word(self) -> None:
        start = self.pos
        while self.pos < len(self.src) and (
            self.src[self.pos].isalnum() or self.src[self.pos] == "_"
        ):
            self.pos += 1
        word = self.src[start : self.pos]
        if word == "lambda" and self.src.startswith(":", self.pos):
            self.pos += 1
            self.emit("lambda", word, start)
            return
        self.emit("ident", word, start)

    def regex(self) -> None:
        start = self.pos
        index = start + 1
        while index < len(self.src) and self.src[index] not in "/\n":
            index += 2 if self.src[index] == "\\" else 1
        if index >= len(self.src) or self.src[index] != "/":
            raise self.error("unterminated regex")
        self.pos = index + 1
        self.emit("regex", self.src[start + 1 : index].replace("\\/", "/"), start)

    def operator(self) -> None:
        start = self.pos
        pair = self.src[start : start + 2]
        if pair in _TWO_CHAR_OPS:
            self.pos += 2
            self.emit("op", pair, start)
            return
        char = self.src[start]
        if char not in _ONE_CHAR_OPS:
            raise self.error(f"unexpected {char!r}")
        self.pos += 1
        self.emit("op", char, start)


def tokenize(source: str) -> list[Token]:
    """Split a TICKscript into tokens; raises ``TickError`` on lexical errors."""
    return _Lexer(source).run()
