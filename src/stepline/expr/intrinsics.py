"""Intrinsic functions (States.Format, States.Array, ...): parsed once into closures, evaluated many times.

    compile_intrinsic("States.Format('Hi {}', $.name)", at="/States/A/Parameters", field="greeting.$")

Grammar: `States.Name(arg, ...)` where an argument is a nested call, a string literal in single quotes (escapes
`\\'`, `\\{`, `\\}`, `\\\\`; any other backslash is invalid), a number, `true`/`false`/`null`, or a path
(`$...`, `$$...`, `$name...`). Arity and literal argument types are checked at compile time (DefinitionError);
values read from paths are checked at run time (StatesError).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from random import Random
from typing import Any, NoReturn

import orjson

from stepline.errors import DefinitionError, Diagnostic, StatesError
from stepline.expr import limits
from stepline.expr.filters import json_equal
from stepline.expr.paths import PathSyntaxError, compile_parsed, parse_path
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON, dumps, json_type

Evaluate = Callable[[JSON, Scope], JSON]

# The error a failing function raises; a path argument that matches nothing is a States.Runtime, as in templates.
INTRINSIC_FAILURE = "States.IntrinsicFailure"
MAX_NESTING = 10
MAX_ARRAY_RANGE = 1000
MAX_ENCODE_CHARS = 10_000
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}

_LOOKS_LIKE_CALL = re.compile(r"\s*States\.[A-Za-z0-9_]*\s*\(")
_NAME = re.compile(r"States\.([A-Za-z0-9_]+)")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


class IntrinsicFailure(Exception):
    """Raised by an implementation; the caller turns it into StatesError with the function's text."""


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """A registered intrinsic function: its parameter kinds and its implementation."""

    name: str
    params: tuple[str, ...]  # "any" | "array" | "string" | "number" | "object" | "boolean"; "*" = any number of "any"
    optional: int  # how many trailing params may be left out
    call: Callable[[list[JSON], Scope], JSON]


def is_intrinsic(text: str) -> bool:
    """Does this ".$" value look like an intrinsic call (States.X(...)) rather than a path?"""
    return isinstance(text, str) and _LOOKS_LIKE_CALL.match(text) is not None


def compile_intrinsic(text: str, *, at: str, field: str) -> Evaluate:
    """Compile an intrinsic call; DefinitionError (AWS's message, location `at`) when it is malformed."""
    try:
        parser = _Parser(text)
        node = parser.call(depth=1)
        parser.skip_spaces()
        if parser.pos != len(text):
            parser.fail("unexpected text after the call")
    except (_Syntax, PathSyntaxError):
        raise DefinitionError(
            Diagnostic(
                code="SCHEMA_VALIDATION_FAILED",
                message=f"The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call",
                location=at,
            )
        ) from None
    return node.evaluate


# ----------------------------------------------------------------------------------------------------------------------
# Parsing


class _Syntax(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Arg:
    evaluate: Evaluate
    literal: bool = False
    value: JSON = None
    format_parts: tuple[str, ...] | None = None  # a string literal split at its unescaped "{}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> NoReturn:
        raise _Syntax(f"{why} at position {self.pos}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self, depth: int) -> _Arg:
        if depth > MAX_NESTING:
            self.fail("too deeply nested")
        self.skip_spaces()
        start = self.pos
        match = _NAME.match(self.text, self.pos)
        if not match:
            self.fail("expected States.<Function>")
        function = INTRINSICS.get(match.group())
        if function is None:
            self.fail(f"unknown function {match.group()}")
        self.pos = match.end()
        self.skip_spaces()
        if self.text[self.pos : self.pos + 1] != "(":
            self.fail("expected '('")
        self.pos += 1
        args: list[_Arg] = []
        self.skip_spaces()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.argument(depth))
                self.skip_spaces()
                c = self.text[self.pos : self.pos + 1]
                self.pos += 1
                if c == ")":
                    break
                if c != ",":
                    self.fail("expected ',' or ')'")
        source = self.text[start : self.pos]
        _check_arguments(function, args)
        return _Arg(_bind(function, args, source))

    def argument(self, depth: int) -> _Arg:
        self.skip_spaces()
        text = self.text
        c = text[self.pos : self.pos + 1]
        if text.startswith("States.", self.pos):
            return self.call(depth + 1)
        if c == "'":
            return self.string()
        if c == "$":
            return self.path()
        number = _NUMBER.match(text, self.pos)
        if number:
            self.pos = number.end()
            literal = number.group()
            value: JSON = float(literal) if number.group(1) or number.group(2) else int(literal)
            return _constant(value)
        for word, value in (("null", None), ("true", True), ("false", False)):
            if text.startswith(word, self.pos) and not text[self.pos + len(word) : self.pos + len(word) + 1].isalnum():
                self.pos += len(word)
                return _constant(value)
        self.fail("expected an argument")

    def string(self) -> _Arg:
        self.pos += 1
        text = self.text
        chars: list[str] = []
        parts: list[str] = []
        while True:
            if self.pos >= len(text):
                self.fail("unterminated string")
            c = text[self.pos]
            if c == "\\":
                escaped = text[self.pos + 1 : self.pos + 2]
                if escaped not in ("'", "{", "}", "\\"):
                    self.fail("invalid escape")
                chars.append(escaped)
                self.pos += 2
            elif c == "'":
                self.pos += 1
                break
            elif c == "{" and text.startswith("{}", self.pos):
                parts.append("".join(chars))
                chars = []
                self.pos += 2
            else:
                chars.append(c)
                self.pos += 1
        parts.append("".join(chars))
        value = "{}".join(parts)
        return _Arg(lambda doc, scope: value, literal=True, value=value, format_parts=tuple(parts))

    def path(self) -> _Arg:
        text = self.text
        start = self.pos
        depth = 0
        quote = ""
        while self.pos < len(text):
            c = text[self.pos]
            if quote:
                if c == "\\":
                    self.pos += 1
                elif c == quote:
                    quote = ""
            elif c in ("'", '"'):
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.pos += 1
        source = text[start : self.pos].rstrip()
        parsed = parse_path(source)

        def missing(message: str, doc: JSON) -> StatesError:
            return StatesError(
                "States.Runtime",
                f"The JsonPath argument for the field '{source}' could not be found in the input '{dumps(doc)}'",
            )

        return _Arg(compile_parsed(parsed, missing))


def _constant(value: JSON) -> _Arg:
    return _Arg(lambda doc, scope: value, literal=True, value=value)


def _check_arguments(function: Intrinsic, args: list[_Arg]) -> None:
    """Arity and the types of literal arguments: what can never work is a definition error."""
    params = function.params
    if function.name == "States.Format":
        if not args:
            raise _Syntax("States.Format needs a template")
        template = args[0]
        if template.literal and not isinstance(template.value, str):
            raise _Syntax("States.Format: the template must be a string")
        if template.format_parts is not None and len(template.format_parts) != len(args):
            raise _Syntax("States.Format: the number of arguments does not match the template")
    if params == ("*",):
        return
    if not len(params) - function.optional <= len(args) <= len(params):
        raise _Syntax(f"{function.name} takes {len(params)} arguments")
    for param, arg in zip(params, args):
        if arg.literal and param != "any" and json_type(arg.value) != param:
            raise _Syntax(f"{function.name}: a {param} is expected")


def _bind(function: Intrinsic, args: list[_Arg], source: str) -> Evaluate:
    implementation = function.call
    evaluators = tuple(arg.evaluate for arg in args)
    if function.name == "States.Format" and args[0].format_parts is not None:
        parts = args[0].format_parts
        rest = evaluators[1:]

        def format_literal(doc: JSON, scope: Scope) -> JSON:
            values = [evaluate(doc, scope) for evaluate in rest]
            return _interpolate(parts, values)

        return format_literal

    def evaluate(doc: JSON, scope: Scope) -> JSON:
        values = [evaluate(doc, scope) for evaluate in evaluators]
        try:
            return implementation(values, scope)
        except IntrinsicFailure as error:
            raise StatesError(INTRINSIC_FAILURE, f"The function '{source}' had the following error: {error}") from None

    return evaluate


# ----------------------------------------------------------------------------------------------------------------------
# Helpers


def _fail(message: str) -> NoReturn:
    raise IntrinsicFailure(message)


def _expect(value: JSON, kind: str, function: str, position: int) -> Any:
    if json_type(value) != kind:
        _fail(f"Invalid argument {position} for {function}: expected {kind} but got {json_type(value)}")
    return value


def _java_round(value: JSON, function: str, position: int) -> int:
    """Java's Math.round: AWS rounds non-integer numbers to the nearest integer, halves up."""
    _expect(value, "number", function, position)
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        _fail(f"Invalid argument {position} for {function}: expected an integer")
    rounded: int = math.floor(value + 0.5)
    return rounded


def _int32(value: int, function: str, position: int) -> int:
    if not -(2**31) <= value < 2**31:
        _fail(f"Invalid argument {position} for {function}: {value} is outside the range of an integer")
    return value


def _java_double(value: float) -> str:
    """Double.toString: 1.1, 100.0, 1.0E7, 1.0E-4."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    numerals = "".join(str(d) for d in digits)
    power = len(numerals) - 1 + exponent
    mantissa = numerals[0] + "." + (numerals[1:] or "0")
    return ("-" if value < 0 else "") + f"{mantissa}E{power}"


def _to_text(value: JSON) -> str:
    """How States.Format prints a value: strings as they are, objects and arrays as Java's toString does."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_to_text(item) for item in value) + "]"
    return "{" + ", ".join(f"{key}={_to_text(item)}" for key, item in value.items()) + "}"


def _interpolate(parts: tuple[str, ...] | list[str], values: list[JSON]) -> str:
    out = [parts[0]]
    for value, part in zip(values, parts[1:]):
        out.append(_to_text(value))
        out.append(part)
    return "".join(out)


# ----------------------------------------------------------------------------------------------------------------------
# The functions


def _format(args: list[JSON], scope: Scope) -> JSON:
    template = _expect(args[0], "string", "States.Format", 1)
    parts = template.split("{}")
    if len(parts) - 1 != len(args) - 1:
        _fail("Number of arguments in States.Format do not match the number of placeholders in the template")
    return _interpolate(parts, args[1:])


def _string_to_json(args: list[JSON], scope: Scope) -> JSON:
    text = _expect(args[0], "string", "States.StringToJson", 1)
    if not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        _fail(f"The input '{text}' is not a valid JSON string")


def _json_to_string(args: list[JSON], scope: Scope) -> JSON:
    return dumps(args[0])


def _array(args: list[JSON], scope: Scope) -> JSON:
    return list(args)


def _array_partition(args: list[JSON], scope: Scope) -> JSON:
    items = _expect(args[0], "array", "States.ArrayPartition", 1)
    size = _java_round(args[1], "States.ArrayPartition", 2)
    if size <= 0:
        _fail("The chunk size argument of States.ArrayPartition must be a positive integer")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(args: list[JSON], scope: Scope) -> JSON:
    items = _expect(args[0], "array", "States.ArrayContains", 1)
    for item in items:
        limits.tick()
        if json_equal(item, args[1]):
            return True
    return False


def _array_range(args: list[JSON], scope: Scope) -> JSON:
    start, end, step = (_int32(_java_round(v, "States.ArrayRange", i + 1), "States.ArrayRange", i + 1)
                        for i, v in enumerate(args))
    if step == 0:
        _fail("The step argument of States.ArrayRange must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_ARRAY_RANGE:
        _fail(f"States.ArrayRange can produce at most {MAX_ARRAY_RANGE} items, not {count}")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(args: list[JSON], scope: Scope) -> JSON:
    items = _expect(args[0], "array", "States.ArrayGetItem", 1)
    index = args[1]
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool):
        _fail(f"Invalid argument 2 for States.ArrayGetItem: expected an integer but got {json_type(index)}")
    if not 0 <= index < len(items):
        _fail(f"The index {index} is out of bounds for an array of {len(items)} items")
    return items[index]


def _array_length(args: list[JSON], scope: Scope) -> JSON:
    return len(_expect(args[0], "array", "States.ArrayLength", 1))


def _array_unique(args: list[JSON], scope: Scope) -> JSON:
    unique: list[JSON] = []
    for item in _expect(args[0], "array", "States.ArrayUnique", 1):
        limits.tick()
        if not any(json_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _limited_text(value: JSON, function: str) -> str:
    text: str = _expect(value, "string", function, 1)
    if len(text) > MAX_ENCODE_CHARS:
        _fail(f"The input of {function} is longer than {MAX_ENCODE_CHARS} characters")
    return text


def _base64_encode(args: list[JSON], scope: Scope) -> JSON:
    text = _limited_text(args[0], "States.Base64Encode")
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


def _base64_decode(args: list[JSON], scope: Scope) -> JSON:
    text = _limited_text(args[0], "States.Base64Decode")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        _fail(f"The input '{text}' is not a valid Base64 string")


def _hash(args: list[JSON], scope: Scope) -> JSON:
    text = _limited_text(args[0], "States.Hash")
    algorithm = _expect(args[1], "string", "States.Hash", 2)
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        _fail(f"The hash algorithm '{algorithm}' is not supported; use one of {', '.join(HASH_ALGORITHMS)}")
    return hashlib.new(name, text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_merge(args: list[JSON], scope: Scope) -> JSON:
    first = _expect(args[0], "object", "States.JsonMerge", 1)
    second = _expect(args[1], "object", "States.JsonMerge", 2)
    deep = _expect(args[2], "boolean", "States.JsonMerge", 3)
    if deep:
        _fail("States.JsonMerge supports only a shallow merge: the third argument must be false")
    return {**first, **second}


def _math_random(args: list[JSON], scope: Scope) -> JSON:
    start = _int32(_java_round(args[0], "States.MathRandom", 1), "States.MathRandom", 1)
    end = _int32(_java_round(args[1], "States.MathRandom", 2), "States.MathRandom", 2)
    if start >= end:
        _fail("The start argument of States.MathRandom must be less than the end argument")
    rng = Random(_java_round(args[2], "States.MathRandom", 3)) if len(args) == 3 else scope.rng
    return rng.randrange(start, end)


def _math_add(args: list[JSON], scope: Scope) -> JSON:
    first = _int32(_java_round(args[0], "States.MathAdd", 1), "States.MathAdd", 1)
    second = _int32(_java_round(args[1], "States.MathAdd", 2), "States.MathAdd", 2)
    return first + second


def _string_split(args: list[JSON], scope: Scope) -> JSON:
    text = _expect(args[0], "string", "States.StringSplit", 1)
    delimiters = _expect(args[1], "string", "States.StringSplit", 2)
    if not delimiters:
        return [text] if text else []
    # every delimiter character splits, and empty pieces are dropped (java.util.StringTokenizer)
    pattern = "[" + "".join(re.escape(c) for c in set(delimiters)) + "]"
    return [piece for piece in re.split(pattern, text) if piece]


def _uuid(args: list[JSON], scope: Scope) -> JSON:
    return str(uuid.UUID(int=scope.rng.getrandbits(128), version=4))


def _register(*functions: Intrinsic) -> dict[str, Intrinsic]:
    return {function.name: function for function in functions}


INTRINSICS: dict[str, Intrinsic] = _register(
    Intrinsic("States.Format", ("*",), 0, _format),
    Intrinsic("States.StringToJson", ("string",), 0, _string_to_json),
    Intrinsic("States.JsonToString", ("any",), 0, _json_to_string),
    Intrinsic("States.Array", ("*",), 0, _array),
    Intrinsic("States.ArrayPartition", ("array", "number"), 0, _array_partition),
    Intrinsic("States.ArrayContains", ("array", "any"), 0, _array_contains),
    Intrinsic("States.ArrayRange", ("number", "number", "number"), 0, _array_range),
    Intrinsic("States.ArrayGetItem", ("array", "number"), 0, _array_get_item),
    Intrinsic("States.ArrayLength", ("array",), 0, _array_length),
    Intrinsic("States.ArrayUnique", ("array",), 0, _array_unique),
    Intrinsic("States.Base64Encode", ("string",), 0, _base64_encode),
    Intrinsic("States.Base64Decode", ("string",), 0, _base64_decode),
    Intrinsic("States.Hash", ("string", "string"), 0, _hash),
    Intrinsic("States.JsonMerge", ("object", "object", "boolean"), 0, _json_merge),
    Intrinsic("States.MathRandom", ("number", "number", "number"), 1, _math_random),
    Intrinsic("States.MathAdd", ("number", "number"), 0, _math_add),
    Intrinsic("States.StringSplit", ("string", "string"), 0, _string_split),
    Intrinsic("States.UUID", (), 0, _uuid),
)
