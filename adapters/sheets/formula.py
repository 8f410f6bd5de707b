"""The emulator's formula evaluator: enough to show that a formula cell computes a value.

Supported: numbers, "strings", TRUE/FALSE, + - * / ^ &, parentheses, and the functions SUM,
CONCATENATE, UPPER, LOWER and HYPERLINK(url, [label]). Cell references and other functions
evaluate to the error value "#NAME?", division by zero to "#DIV/0!", anything unparsable to
"#ERROR!" (the strings the values API returns for error cells).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(r'\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|("(?:[^"]|"")*")|([A-Za-z_][A-Za-z0-9_.]*)|(.))')


class FormulaError(Exception):
    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FormulaError("#VALUE!") from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


FUNCTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "SUM": lambda args: sum(_number(a) for a in args),
    "CONCATENATE": lambda args: "".join(_text(a) for a in args),
    "UPPER": lambda args: _text(args[0]).upper(),
    "LOWER": lambda args: _text(args[0]).lower(),
    "HYPERLINK": lambda args: _text(args[1] if len(args) > 1 else args[0]),
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for number, string, name, other in _TOKEN.findall(text):
            if number:
                self.tokens.append(("num", number))
            elif string:
                self.tokens.append(("str", string[1:-1].replace('""', '"')))
            elif name:
                self.tokens.append(("name", name))
            elif other.strip():
                self.tokens.append(("op", other))
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (op is not None and token != ("op", op)):
            raise FormulaError("#ERROR!")
        self.pos += 1
        return token

    def binary(self, ops: str, lower: Callable[[], Any], apply: Callable[[str, Any, Any], Any]) -> Any:
        left = lower()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ops:
            self.pos += 1
            left = apply(token[1], left, lower())
        return left

    def expr(self) -> Any:
        return self.binary("&", self.additive, lambda _op, a, b: _text(a) + _text(b))

    def additive(self) -> Any:
        return self.binary("+-", self.term, lambda op, a, b: _number(a) + _number(b) if op == "+"
                           else _number(a) - _number(b))

    def term(self) -> Any:
        def apply(op: str, a: Any, b: Any) -> float:
            if op == "*":
                return _number(a) * _number(b)
            if _number(b) == 0:
                raise FormulaError("#DIV/0!")
            return _number(a) / _number(b)
        return self.binary("*/", self.power, apply)

    def power(self) -> Any:
        return self.binary("^", self.unary, lambda _op, a, b: _number(a) ** _number(b))

    def unary(self) -> Any:
        token = self.peek()
        if token in (("op", "-"), ("op", "+")):
            self.pos += 1
            value = _number(self.unary())
            return -value if token == ("op", "-") else value
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text
        if kind == "op" and text == "(":
            value = self.expr()
            self.take(")")
            return value
        if kind == "name":
            upper = text.upper()
            if upper in ("TRUE", "FALSE") and self.peek() != ("op", "("):
                return upper == "TRUE"
            if self.peek() != ("op", "(") or upper not in FUNCTIONS:
                raise FormulaError("#NAME?")
            self.take("(")
            args: list[Any] = []
            if self.peek() != ("op", ")"):
                args.append(self.expr())
                while self.peek() == ("op", ","):
                    self.pos += 1
                    args.append(self.expr())
            self.take(")")
            if not args:
                raise FormulaError("#N/A")
            return FUNCTIONS[upper](args)
        raise FormulaError("#ERROR!")


def evaluate(formula: str) -> Any:
    """The value of `=...` as the values API returns it (a number, text, bool or error string)."""
    parser = _Parser(formula[1:] if formula.startswith("=") else formula)
    try:
        value = parser.expr()
        if parser.peek() is not None:
            raise FormulaError("#ERROR!")
    except FormulaError as exc:
        return exc.value
    except (OverflowError, ZeroDivisionError):
        return "#NUM!"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
