"""The readByQuery query language, for the emulator: parsed once, compiled to a predicate.

Grammar (api-reference §1.4.2): comparisons `< > <= >= = != <>`, `like` / `not like` (`%`, `_`),
`in` / `not in`, `IS NULL` / `IS NOT NULL`, combined with AND / OR / NOT and parentheses;
strings in single quotes with backslash-escaped apostrophes; dates as 'mm/dd/yyyy' and
timestamps as 'mm/dd/yyyy hh:mm:ss'. Comparisons follow the field's type (dates compare as
dates, numbers as numbers); string comparison is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op><=|>=|<>|!=|=|<|>)|(?P<punct>[(),])"
                   r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")


class QueryError(ValueError):
    """The query string cannot be parsed or names an unknown field."""


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot read the query at: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    return tokens


def typed(value: str | None, kind: str) -> Any:
    """A stored (ISO) or literal value in comparable form for a field of `kind`."""
    if value is None:
        return None
    if kind == "number":
        try:
            return Decimal(value)
        except InvalidOperation:
            raise QueryError(f"'{value}' is not a number") from None
    if kind in ("date", "timestamp") and "/" in value:
        for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
            try:
                moment = datetime.strptime(value, fmt)
            except ValueError:
                continue
            return moment.strftime("%Y-%m-%d") if kind == "date" else moment.strftime("%Y-%m-%d %H:%M:%S")
        raise QueryError(f"'{value}' is not a date (mm/dd/yyyy)")
    return value


def like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("^" + "".join(parts) + "$", re.S)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


class Parser:
    """Recursive descent over the token list; `types` gives each known field's kind."""

    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.types = types
        self.fields: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.pos += 1
            return True
        return False

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise QueryError(f"expected {value or kind} in the query, found {token[1] if token else 'the end'}")
        self.pos += 1
        return token[1]

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda record: True
        predicate = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"unexpected '{self.peek()[1]}' in the query")  # type: ignore[index]
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.word("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.factor()]
        while self.word("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def factor(self) -> Predicate:
        if self.word("NOT"):
            inner = self.factor()
            return lambda r: not inner(r)
        token = self.peek()
        if token == ("punct", "("):
            self.pos += 1
            inner = self.disjunction()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def literal(self, kind: str) -> Any:
        token = self.peek()
        if token is None or token[0] not in ("str", "num"):
            raise QueryError(f"expected a value in the query, found {token[1] if token else 'the end'}")
        self.pos += 1
        return typed(token[1], kind)

    def comparison(self) -> Predicate:
        name = self.take("word")
        if name not in self.types:
            raise QueryError(f"unknown field '{name}'")
        self.fields.add(name)
        kind = self.types[name]

        def value(record: Record) -> Any:
            return typed(record.get(name), kind)

        if self.word("IS"):
            negate = self.word("NOT")
            if not self.word("NULL"):
                raise QueryError("expected NULL after IS")
            return (lambda r: value(r) is not None) if negate else (lambda r: value(r) is None)
        negate = self.word("NOT")
        if self.word("LIKE"):
            pattern = like(str(self.literal("string")))
            return lambda r: (value(r) is not None and bool(pattern.match(str(r.get(name))))) != negate
        if self.word("IN"):
            self.take("punct", "(")
            options = [self.literal(kind)]
            while self.peek() == ("punct", ","):
                self.pos += 1
                options.append(self.literal(kind))
            self.take("punct", ")")
            return lambda r: (value(r) in options) != negate
        if negate:
            raise QueryError("expected LIKE or IN after NOT")
        op = OPS[self.take("op")]
        expected = self.literal(kind)
        return lambda r: (v := value(r)) is not None and op(v, expected)


def compile_query(text: str, types: Mapping[str, str]) -> tuple[Predicate, set[str]]:
    """A predicate over stored records, and the fields the query names."""
    parser = Parser(text or "", types)
    predicate = parser.parse()
    return predicate, parser.fields
