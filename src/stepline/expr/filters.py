"""JSONPath filters, [?(@.price < 10 && @.tags)], as Jayway JSONPath evaluates them: compiled once into predicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import regex  # runs with a timeout: a pattern of the definition must not hang its evaluation

from stepline.errors import StatesError
from stepline.expr import limits, paths  # paths compiles filters with compile_filter; this module reads paths
from stepline.jsonvalue import JSON


def compile_filter(text: str) -> Callable[[JSON, JSON], bool]:
    """Compile the inside of [?( ... )] into a predicate over (candidate, root); raises paths.PathSyntaxError."""
    try:
        tokens = _filter_tokens(text)
        parser = _FilterParser(tokens)
        predicate = parser.expression()
        if parser.pos != len(tokens):
            raise paths.PathSyntaxError(f"unexpected {tokens[parser.pos][1]!r} in filter {text!r}")
        return predicate
    except regex.error as error:
        raise paths.PathSyntaxError(f"invalid regular expression in filter: {error}") from None


_FILTER_WORD_OPS = frozenset({"in", "nin", "subsetof", "anyof", "noneof", "size", "empty", "contains"})
_FILTER_SYMBOL_OPS = ("===", "!==", "==", "!=", "<=", ">=", "=~", "<", ">")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_WORD = re.compile(r"[^\s()\[\],'\"=!<>&|~/@$]+")
_OPERAND_ENDS = frozenset({"path", "value", "regex", ")", "]"})

Operand = Callable[[JSON, JSON], tuple[bool, JSON]]  # (candidate, root) -> (found, value)


def _filter_tokens(text: str) -> list[tuple[str, Any]]:
    """Split a filter into (kind, value) tokens: path, value, regex, op, and, or, not, (, ), [, ], ','."""
    tokens: list[tuple[str, Any]] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "@$":
            start = i
            depth = 0
            quote = ""
            while i < n:
                ch = text[i]
                if quote:
                    if ch == "\\":
                        i += 1
                    elif ch == quote:
                        quote = ""
                elif ch in "'\"":
                    quote = ch
                elif ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                elif ch == "(" and text.startswith("()", i):
                    i += 1
                elif depth == 0 and (ch.isspace() or ch in "=!<>&|)(,"):
                    break
                i += 1
            tokens.append(("path", text[start:i]))
        elif c in "'\"":
            j = i + 1
            chars: list[str] = []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise paths.PathSyntaxError(f"unterminated string in filter {text!r}")
            tokens.append(("value", "".join(chars)))
            i = j + 1
        elif c == "/":
            j = i + 1
            while j < n and text[j] != "/":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise paths.PathSyntaxError(f"unterminated regular expression in filter {text!r}")
            body = text[i + 1 : j]
            j += 1
            flags = 0
            while j < n and text[j].isalpha():
                flags |= {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}.get(
                    text[j], 0)
                j += 1
            tokens.append(("regex", regex.compile(body, flags)))
            i = j
        elif text.startswith("&&", i):
            tokens.append(("and", "&&"))
            i += 2
        elif text.startswith("||", i):
            tokens.append(("or", "||"))
            i += 2
        elif c in "()[],{}":
            if c in "{}":
                raise paths.PathSyntaxError(f"object literals are not supported in filter {text!r}")
            tokens.append((c, c))
            i += 1
        else:
            for op in _FILTER_SYMBOL_OPS:
                if text.startswith(op, i):
                    tokens.append(("op", op))
                    i += len(op)
                    break
            else:
                if c == "!":
                    tokens.append(("not", "!"))
                    i += 1
                    continue
                number = _NUMBER.match(text, i)
                if number:
                    literal = number.group()
                    tokens.append(("value", float(literal) if number.group(1) or number.group(2) else int(literal)))
                    i = number.end()
                    continue
                word = _WORD.match(text, i)
                if not word:
                    raise paths.PathSyntaxError(f"unexpected {c!r} in filter {text!r}")
                value = word.group()
                i = word.end()
                if value in ("true", "false", "null"):
                    tokens.append(("value", {"true": True, "false": False, "null": None}[value]))
                elif value in _FILTER_WORD_OPS and tokens and tokens[-1][0] in _OPERAND_ENDS:
                    tokens.append(("op", value))
                else:
                    # Step Functions reads an unquoted word as the string it spells: deployed state machines
                    # filter with [?(@.status==Failure)] and match "Failure" (Jayway's own parser rejects it)
                    tokens.append(("value", value))
    return tokens


class _FilterParser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def kind(self) -> str:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else ""

    def take(self) -> tuple[str, Any]:
        if self.pos >= len(self.tokens):
            raise paths.PathSyntaxError("incomplete filter")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> Callable[[JSON, JSON], bool]:
        left = self.conjunction()
        while self.kind() == "or":
            self.pos += 1
            right = self.conjunction()
            left = (lambda a, b: lambda item, root: a(item, root) or b(item, root))(left, right)
        return left

    def conjunction(self) -> Callable[[JSON, JSON], bool]:
        left = self.unary()
        while self.kind() == "and":
            self.pos += 1
            right = self.unary()
            left = (lambda a, b: lambda item, root: a(item, root) and b(item, root))(left, right)
        return left

    def unary(self) -> Callable[[JSON, JSON], bool]:
        if self.kind() == "not":
            self.pos += 1
            inner = self.unary()
            return lambda item, root: not inner(item, root)
        if self.kind() == "(":
            self.pos += 1
            inner = self.expression()
            if self.take()[0] != ")":
                raise paths.PathSyntaxError("expected ')' in filter")
            return inner
        bare_path = self.kind() == "path"
        indefinite = bare_path and not paths.parse_path(_absolute(self.tokens[self.pos][1])).definite
        left = self.operand()
        if self.kind() != "op":
            if not bare_path:  # a lone literal: only `true` keeps the item
                return lambda item, root: left(item, root)[1] is True
            if indefinite:  # exists when it selects something
                return lambda item, root: bool(left(item, root)[1])
            return lambda item, root: left(item, root)[0]
        op = self.take()[1]
        right = self.operand()
        relation = _RELATIONS[op]
        return lambda item, root: relation(left(item, root), right(item, root))

    def operand(self) -> Operand:
        kind, value = self.take()
        if kind == "path":
            return _path_operand(value)
        if kind == "value":
            found = (True, value)
            return lambda item, root: found
        if kind == "regex":
            pattern = (True, value)
            return lambda item, root: pattern
        if kind == "[":
            items: list[JSON] = []
            while self.kind() != "]":
                item_kind, item = self.take()
                if item_kind != "value":
                    raise paths.PathSyntaxError("only literals may appear in a filter list")
                items.append(item)
                if self.kind() == ",":
                    self.pos += 1
            self.pos += 1
            literal = (True, items)
            return lambda item, root: literal
        raise paths.PathSyntaxError(f"unexpected {value!r} in filter")


def _absolute(text: str) -> str:
    return "$" + text[1:] if text.startswith("@") else text


def _path_operand(text: str) -> Operand:
    relative = text.startswith("@")
    parsed = paths.parse_path(_absolute(text))
    if parsed.root != "input":
        raise paths.PathSyntaxError("filters read @ or $ paths")
    if parsed.definite:

        def definite(item: JSON, root: JSON) -> tuple[bool, JSON]:
            try:
                return True, paths.select_definite(parsed, item if relative else root)
            except paths._Missing:
                return False, None

        return definite
    segments = parsed.segments
    return lambda item, root: (True, paths.select_all(segments, item if relative else root, item if relative else root))


def json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if paths._is_number(a) and paths._is_number(b):
        return bool(a == b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[tuple[bool, JSON], tuple[bool, JSON]], bool]:
    def relation(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
        if not (left[0] and right[0]):
            return False
        a, b = left[1], right[1]
        if paths._is_number(a) and paths._is_number(b):
            return bool(op(a, b))
        if isinstance(a, str) and isinstance(b, str):
            return bool(op(a, b))
        return False

    return relation


def _equal(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return left[0] and right[0] and json_equal(left[1], right[1])


def _matches(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    pattern, subject = (right[1], left) if isinstance(right[1], regex.Pattern) else (left[1], right)
    if not isinstance(pattern, regex.Pattern) or not subject[0]:
        return False
    value = subject[1]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif paths._is_number(value):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = ""
    try:
        return pattern.fullmatch(text, timeout=limits.remaining()) is not None
    except TimeoutError:
        if limits.overtime():
            raise limits.Overtime from None
        raise StatesError("States.Runtime", limits.current().time_cause()) from None


def _contains_value(items: JSON, value: JSON) -> bool:
    if not isinstance(items, list):
        return False
    for item in items:
        limits.tick()
        if json_equal(item, value):
            return True
    return False


def _in(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return left[0] and right[0] and _contains_value(right[1], left[1])


def _size(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    value, size = left[1], right[1]
    return left[0] and isinstance(value, (str, list, dict)) and paths._is_number(size) and len(value) == size


def _empty(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    value = left[1]
    return left[0] and isinstance(value, (str, list)) and isinstance(right[1], bool) and (not value) == right[1]


def _subset_of(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return (left[0] and isinstance(left[1], list) and isinstance(right[1], list)
            and all(_contains_value(right[1], item) for item in left[1]))


def _any_of(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return (left[0] and isinstance(left[1], list) and isinstance(right[1], list)
            and any(_contains_value(right[1], item) for item in left[1]))


def _none_of(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return (left[0] and isinstance(left[1], list) and isinstance(right[1], list)
            and not any(_contains_value(right[1], item) for item in left[1]))


def _contains(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    if not (left[0] and right[0]):
        return False
    if isinstance(left[1], str):
        return isinstance(right[1], str) and right[1] in left[1]
    return _contains_value(left[1], right[1])


def _strict_equal(left: tuple[bool, JSON], right: tuple[bool, JSON]) -> bool:
    return left[0] and right[0] and type(left[1]) is type(right[1]) and json_equal(left[1], right[1])


_RELATIONS: dict[str, Callable[[tuple[bool, JSON], tuple[bool, JSON]], bool]] = {
    "==": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "===": _strict_equal,
    "!==": lambda left, right: not _strict_equal(left, right),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "=~": _matches,
    "in": _in,
    "nin": lambda left, right: right[0] and isinstance(right[1], list) and not _in(left, right),
    "size": _size,
    "empty": _empty,
    "subsetof": _subset_of,
    "anyof": _any_of,
    "noneof": _none_of,
    "contains": _contains,
}
