"""The small expression language of your own workflows: enrolment conditions, branches,
waits and goals, e.g. ``lead.country == "FR" and lead.budget > 10000``.

Parsed by our own grammar (never ``eval``), into a tree that is checked against the object's
fields before a definition is published and evaluated inside the workflow over the fields the
process last read. Pure: no I/O, no clock (``now`` is given by the caller).

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)?
    sum        := atom (("+" | "-") atom)*
    atom       := NUMBER | STRING | DURATION | DATE | "true" | "false" | "null" | "now"
                | "today" | FIELD | "[" (sum ("," sum)*)? "]" | "(" expression ")"

A FIELD is ``object.field`` (``lead.budget``); a DURATION is a number and a unit ``m h d w``
(``90m``, ``2d``); a DATE is ``@2026-12-31``. A field that is not set is ``null``: any
comparison with it but ``==``/``!=`` is false, so a condition on a missing value never holds.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 500
"""The longest expression accepted, in characters."""
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
         "w": timedelta(weeks=1)}
FIELD_TYPES = ("text", "number", "date", "datetime", "flag")
"""What a field may hold; ``flag`` is true or false."""


class ExpressionError(ValueError):
    """An expression that cannot be read or does not fit the object's fields."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character "
                                                          f"{position + 1})")


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>\d+(?:\.\d+)?[mhdw]\b)
  | (?P<date>@\d{4}-\d{2}-\d{2})
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<operator>==|!=|<=|>=|<|>|\+|-|\(|\)|\[|\]|,)
  | (?P<name>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)
""", re.VERBOSE)
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "now", "today"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def _tokens(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"an expression is at most {MAX_LENGTH} characters")
    tokens, position = [], 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if not match:
            raise ExpressionError(f"unexpected {source[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "name" and text in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# The tree: plain tuples, so a parsed expression is data like the definition it is part of.
# ("value", v) ("field", "lead.budget") ("now",) ("today",) ("list", [..])
# ("not", e) ("and", a, b) ("or", a, b) ("compare", op, a, b) ("add", op, a, b)
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self, *texts: str) -> Token | None:
        token = self.peek()
        if token.kind in ("operator", "keyword") and token.text in texts:
            self.at += 1
            return token
        return None

    def expect(self, text: str) -> None:
        if not self.take(text):
            token = self.peek()
            found = "the end" if token.kind == "end" else repr(token.text)
            raise ExpressionError(f"expected {text!r}, found {found}", token.position)

    def expression(self) -> Node:
        node = self.conjunction()
        while self.take("or"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.take("and"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.take("not"):
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        token = self.take("==", "!=", "<", "<=", ">", ">=", "in")
        if token:
            return ("compare", token.text, left, self.sum())
        if self.peek().text == "not" and self.tokens[self.at + 1].text == "in":
            self.at += 2
            return ("not", ("compare", "in", left, self.sum()))
        return left

    def sum(self) -> Node:
        node = self.atom()
        while token := self.take("+", "-"):
            node = ("add", token.text, node, self.atom())
        return node

    def atom(self) -> Node:
        token = self.peek()
        self.at += 1
        if token.kind == "number":
            return ("value", Decimal(token.text))
        if token.kind == "duration":
            return ("value", UNITS[token.text[-1]] * float(token.text[:-1]))
        if token.kind == "date":
            try:
                return ("value", date.fromisoformat(token.text[1:]))
            except ValueError:
                raise ExpressionError(f"no such date {token.text[1:]}", token.position) from None
        if token.kind == "string":
            return ("value", _unquote(token.text))
        if token.kind == "name":
            if "." not in token.text:
                raise ExpressionError(
                    f"{token.text!r}: name a field with its object, e.g. lead.{token.text}",
                    token.position)
            return ("field", token.text)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return ("value", {"true": True, "false": False, "null": None}[token.text])
        if token.kind == "keyword" and token.text in ("now", "today"):
            return (token.text,)
        if token.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        if token.text == "[":
            items: list[Node] = []
            if not self.take("]"):
                items.append(self.sum())
                while self.take(","):
                    items.append(self.sum())
                self.expect("]")
            return ("list", items)
        found = "the end" if token.kind == "end" else repr(token.text)
        raise ExpressionError(f"expected a value, found {found}", token.position)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(source: str) -> Node:
    """The tree of an expression; ExpressionError says where it cannot be read."""
    parser = _Parser(source)
    node = parser.expression()
    token = parser.peek()
    if token.kind != "end":
        raise ExpressionError(f"unexpected {token.text!r}", token.position)
    return node


def fields_of(node: Node) -> set[str]:
    """Every ``object.field`` the expression reads."""
    if node[0] == "field":
        return {node[1]}
    if node[0] == "list":
        return set().union(*(fields_of(n) for n in node[1])) if node[1] else set()
    return set().union(*(fields_of(n) for n in node[1:] if isinstance(n, tuple)))


def check(source: str, object_type: str, fields: Mapping[str, str],
          answers: Mapping[str, str] | None = None) -> Node:
    """Parse and check that every field read is one of the object's (``fields``: name to
    type) or a webhook step's answer (``answers``: ``step.field`` to type); the tree, or
    ExpressionError naming the first problem."""
    node = parse(source)
    for name in sorted(fields_of(node) - set(answers or {})):
        owner, _, field = name.partition(".")
        if owner != object_type:
            raise ExpressionError(f"{name}: this workflow follows a {object_type}, so its "
                                  f"fields are {object_type}.…")
        if field not in fields:
            raise ExpressionError(f"{name}: a {object_type} has no field {field!r} (it has "
                                  f"{', '.join(sorted(fields))})")
    return node


def evaluate(node: Node, values: Mapping[str, Any], now: datetime) -> Any:
    """The expression's value over the object's fields (``{"lead.budget": Decimal(…)}``)."""
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "field":
        return values.get(node[1])
    if kind == "now":
        return now
    if kind == "today":
        return now.date()
    if kind == "list":
        return [evaluate(n, values, now) for n in node[1]]
    if kind == "not":
        return not _truth(evaluate(node[1], values, now))
    if kind == "and":
        return _truth(evaluate(node[1], values, now)) and _truth(evaluate(node[2], values, now))
    if kind == "or":
        return _truth(evaluate(node[1], values, now)) or _truth(evaluate(node[2], values, now))
    if kind == "add":
        return _add(node[1], evaluate(node[2], values, now), evaluate(node[3], values, now))
    if kind == "compare":
        return _compare(node[1], evaluate(node[2], values, now), evaluate(node[3], values, now))
    raise ExpressionError(f"unknown expression node {kind!r}")


def holds(node: Node, values: Mapping[str, Any], now: datetime) -> bool:
    return _truth(evaluate(node, values, now))


def _truth(value: Any) -> bool:
    return value is not None and value is not False and value != 0 and value != ""


def _add(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if isinstance(left, date) and not isinstance(left, datetime) and isinstance(
            right, timedelta):
        left = datetime.combine(left, datetime.min.time())
    try:
        return left + right if op == "+" else left - right
    except TypeError:
        raise ExpressionError(f"cannot {'add' if op == '+' else 'subtract'} "
                              f"{_kind(right)} {'to' if op == '+' else 'from'} "
                              f"{_kind(left)}") from None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "in":
        if not isinstance(right, list):
            raise ExpressionError("'in' needs a list on its right, e.g. [\"FR\", \"BE\"]")
        return left in right
    if op == "==":
        return bool(_comparable(left, right) == _comparable(right, left))
    if op == "!=":
        return bool(_comparable(left, right) != _comparable(right, left))
    if left is None or right is None:
        return False
    a, b = _comparable(left, right), _comparable(right, left)
    if isinstance(a, str) != isinstance(b, str):
        return _mismatch(op, left, right)
    try:
        return bool(_ORDER[op](a, b))
    except TypeError:
        return _mismatch(op, left, right)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _mismatch(op: str, left: Any, right: Any) -> bool:
    raise ExpressionError(f"cannot compare {_kind(left)} {op} {_kind(right)}")


def _comparable(value: Any, other: Any) -> Any:
    """Numbers as Decimal, a date against a datetime as the start of its day (UTC)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    if isinstance(value, date) and not isinstance(value, datetime) and isinstance(
            other, datetime):
        return datetime.combine(value, datetime.min.time(), other.tzinfo)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a flag"
    if isinstance(value, Decimal | int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, timedelta):
        return "a duration"
    return "nothing" if value is None else type(value).__name__
