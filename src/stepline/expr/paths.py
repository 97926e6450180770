"""JSONPath as Step Functions evaluates it (Jayway JSONPath semantics), compiled once and evaluated many times.

A path has one of three roots: `$` (the document), `$$` (the context object) and `$name` (a workflow variable).
Definite paths (names and single indexes only) return the value they select, or fail with AWS's cause for the
field the path sits in. Indefinite paths (wildcard, slice, index list, filter, deep scan) return the list of
matches, which may be empty, as Jayway does.

    compile_path("$.order.items[0]", at="/States/A/InputPath", field="InputPath")   -> Getter
    compile_result_path("$.result", at="/States/A/ResultPath")                     -> (input, result) -> output
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from stepline.errors import DefinitionError, Diagnostic, StatesError
from stepline.expr import limits
from stepline.expr.filters import compile_filter
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON, dumps

Getter = Callable[[JSON, Scope], JSON]
ResultPlacer = Callable[[JSON, JSON], JSON]
MissingCause = Callable[[str, JSON], StatesError]  # (Jayway's message, the document) -> the error to raise

Root = Literal["input", "context", "variable"]

# Fields whose missing path AWS reports as "The JSONPath ... specified for the field ..." (payload template
# keys ending in ".$" are reported the same way); every other field gets "Invalid path ... : <Jayway message>".
_FOUND_IN_INPUT_FIELDS = frozenset({"ErrorPath", "CausePath"})
_PARAMETER_FIELDS = frozenset({"SecondsPath", "TimestampPath"})
_SCHEMA = "SCHEMA_VALIDATION_FAILED"
_JAVA_PROVIDER = "com.jayway.jsonpath.spi.json.JsonSmartJsonProvider"


# ----------------------------------------------------------------------------------------------------------------------
# Parsed form


class PathSyntaxError(ValueError):
    """A path that does not parse; compile_* turn it into a DefinitionError at the definition location."""


@dataclass(frozen=True, slots=True)
class Prop:
    names: tuple[str, ...]

    def fragment(self) -> str:
        return "[" + ",".join(f"'{name}'" for name in self.names) + "]"


@dataclass(frozen=True, slots=True)
class Index:
    indexes: tuple[int, ...]

    def fragment(self) -> str:
        return "[" + ",".join(str(i) for i in self.indexes) + "]"


@dataclass(frozen=True, slots=True)
class Slice:
    start: int | None
    stop: int | None

    def fragment(self) -> str:
        return f"[{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}]"


@dataclass(frozen=True, slots=True)
class Wildcard:
    def fragment(self) -> str:
        return "[*]"


@dataclass(frozen=True, slots=True)
class Scan:
    def fragment(self) -> str:
        return ".."


@dataclass(frozen=True, slots=True)
class Filter:
    predicate: Callable[[JSON, JSON], bool]  # (candidate, root document) -> keep?

    def fragment(self) -> str:
        return "[?]"


@dataclass(frozen=True, slots=True)
class Function:
    name: str

    def fragment(self) -> str:
        return f".{self.name}()"


Segment = Prop | Index | Slice | Wildcard | Scan | Filter | Function


@dataclass(frozen=True, slots=True)
class ParsedPath:
    """A path split into its root and segments; `normalized` is Jayway's spelling ($['a'][0]) used in messages."""

    text: str
    root: Root
    variable: str | None
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        for i, segment in enumerate(self.segments):
            if isinstance(segment, Prop):
                if len(segment.names) > 1 and i != len(self.segments) - 1:
                    return False
            elif isinstance(segment, Index):
                if len(segment.indexes) != 1:
                    return False
            elif not isinstance(segment, Function):
                return False
        return True

    @property
    def normalized(self) -> str:
        return "$" + "".join(segment.fragment() for segment in self.segments)

    def keys(self) -> tuple[str | int, ...] | None:
        """The plain keys of a path made only of single names and single indexes (the fast path), else None."""
        keys: list[str | int] = []
        for segment in self.segments:
            if isinstance(segment, Prop) and len(segment.names) == 1:
                keys.append(segment.names[0])
            elif isinstance(segment, Index) and len(segment.indexes) == 1:
                keys.append(segment.indexes[0])
            else:
                return None
        return tuple(keys)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?\d+")
_FUNCTIONS = frozenset({"length", "size", "min", "max", "avg", "sum", "stddev", "keys", "first", "last"})


def parse_path(text: str) -> ParsedPath:
    """Parse a JSONPath, context path ($$...) or variable path ($name...); raises PathSyntaxError.

    Trailing blanks are ignored, as Jayway's PathCompiler trims the path before reading it ("$$.Execution.Name "
    is "$$.Execution.Name")."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError("a path starts with '$'")
    body = text.rstrip(" ")
    if text.startswith("$$"):
        root: Root = "context"
        variable = None
        pos = 2
    else:
        match = _IDENT.match(body, 1)
        if match:
            root, variable, pos = "variable", match.group(), match.end()
        else:
            root, variable, pos = "input", None, 1
    segments = _Parser(body, pos).segments()
    return ParsedPath(text=text, root=root, variable=variable, segments=segments)


class _Parser:
    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def fail(self, why: str) -> NoReturn:
        raise PathSyntaxError(f"{why} at position {self.pos} in {self.text!r}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def segments(self) -> tuple[Segment, ...]:
        out: list[Segment] = []
        text = self.text
        while self.pos < len(text):
            if out and isinstance(out[-1], Function):
                self.fail("a function must end the path")
            c = text[self.pos]
            if text.startswith("..", self.pos):
                self.pos += 2
                out.append(Scan())
                if self.peek() == "[":
                    out.append(self.bracket())
                elif self.peek() == "*":
                    self.pos += 1
                    out.append(Wildcard())
                else:
                    out.append(self.dot_name())
            elif c == ".":
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    out.append(Wildcard())
                elif self.peek() == "[":
                    out.append(self.bracket())
                else:
                    out.append(self.dot_name())
            elif c == "[":
                out.append(self.bracket())
            else:
                self.fail("unexpected character")
        return tuple(out)

    def dot_name(self) -> Segment:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in ".[]()' \t\n\r,":
            self.pos += 1
        name = text[start : self.pos]
        if not name:
            self.fail("empty property name")
        if self.peek() == "(":
            if self.peek(2) != "()" or name not in _FUNCTIONS:
                self.fail(f"unknown function {name!r}")
            self.pos += 2
            return Function(name)
        return Prop((name,))

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def bracket(self) -> Segment:
        self.pos += 1  # '['
        self.skip_spaces()
        c = self.peek()
        segment: Segment
        if c in ("'", '"'):
            names = [self.quoted()]
            self.skip_spaces()
            while self.peek() == ",":
                self.pos += 1
                self.skip_spaces()
                if self.peek() not in ("'", '"'):
                    self.fail("expected a quoted name")
                names.append(self.quoted())
                self.skip_spaces()
            segment = Prop(tuple(names))
        elif c == "*":
            self.pos += 1
            segment = Wildcard()
        elif c == "?":
            self.pos += 1
            self.skip_spaces()
            if self.peek() != "(":
                self.fail("expected '(' after '?'")
            end = _matching_paren(self.text, self.pos)
            if end < 0:
                self.fail("unbalanced filter")
            segment = Filter(compile_filter(self.text[self.pos + 1 : end]))
            self.pos = end + 1
        else:
            segment = self.index_or_slice()
        self.skip_spaces()
        if self.peek() != "]":
            self.fail("expected ']'")
        self.pos += 1
        return segment

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        start = self.pos
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\":
                self.pos += 2  # an escaped character never ends the name; the text is kept as written
                continue
            if c == quote:
                name = text[start : self.pos]
                self.pos += 1
                return name
            self.pos += 1
        self.fail("unterminated name")

    def integer(self) -> int | None:
        self.skip_spaces()
        match = _INT.match(self.text, self.pos)
        if not match:
            return None
        self.pos = match.end()
        self.skip_spaces()
        return int(match.group())

    def index_or_slice(self) -> Segment:
        first = self.integer()
        if self.peek() == ":":
            self.pos += 1
            stop = self.integer()
            if first is None and stop is None:
                self.fail("empty slice")
            return Slice(first, stop)
        if first is None:
            self.fail("expected an index")
        indexes = [first]
        while self.peek() == ",":
            self.pos += 1
            value = self.integer()
            if value is None:
                self.fail("expected an index")
            indexes.append(value)
        return Index(tuple(indexes))


def _matching_paren(text: str, open_at: int) -> int:
    """Index of the ')' closing the '(' at open_at, skipping quoted strings and regex literals; -1 if none."""
    depth = 0
    i = open_at
    quote = ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in ("'", '"'):
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation


class _Missing(Exception):
    """Internal: a definite path matched nothing; carries Jayway's message."""

    def __init__(self, message: str) -> None:
        self.message = message


def select_all(segments: tuple[Segment, ...], value: JSON, root: JSON) -> list[JSON]:
    """Every match of an indefinite path (nothing missing is an error)."""
    current = [value]
    for i, segment in enumerate(segments):
        if isinstance(segment, Scan):
            continue
        scanning = i > 0 and isinstance(segments[i - 1], Scan)
        out: list[JSON] = []
        leaf = i == len(segments) - 1
        for node in current:
            nodes = _descendants(node) if scanning else (node,)
            for each in nodes:
                _apply(segment, each, root, out, leaf)
        current = out
    return current


def _descendants(node: JSON) -> Iterator[JSON]:
    """The node and everything below it, in document order (pre-order), as Jayway's deep scan walks."""
    stack = [node]
    while stack:
        item = stack.pop()
        limits.tick()
        yield item
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _apply(segment: Segment, node: JSON, root: JSON, out: list[JSON], leaf: bool) -> None:
    if isinstance(segment, Prop):
        if isinstance(node, dict):
            if len(segment.names) > 1 and leaf:
                out.append({name: node[name] for name in segment.names if name in node})
            else:
                out.extend(node[name] for name in segment.names if name in node)
    elif isinstance(segment, Index):
        if isinstance(node, list):
            size = len(node)
            for index in segment.indexes:
                if -size <= index < size:
                    out.append(node[index])
    elif isinstance(segment, Slice):
        if isinstance(node, list):
            out.extend(node[segment.start : segment.stop])
    elif isinstance(segment, Wildcard):
        if isinstance(node, dict):
            out.extend(node.values())
        elif isinstance(node, list):
            out.extend(node)
    elif isinstance(segment, Filter):
        if isinstance(node, list):
            for item in node:
                limits.tick()
                if segment.predicate(item, root):
                    out.append(item)
        elif isinstance(node, dict) and segment.predicate(node, root):
            out.append(node)
    elif isinstance(segment, Function):
        try:
            out.append(apply_function(segment.name, node))
        except _Missing:
            pass


def apply_function(name: str, value: JSON) -> JSON:
    """Jayway's path functions (length(), min(), ...), applied to the value selected so far."""
    if name in ("length", "size"):
        if isinstance(value, (list, dict, str)):
            return len(value)
        raise _Missing("Aggregation function attempted to calculate value using empty array")
    if name == "keys":
        if isinstance(value, dict):
            return list(value)
        raise _Missing("Aggregation function attempted to calculate value using empty array")
    if name in ("first", "last"):
        if isinstance(value, list) and value:
            return value[0] if name == "first" else value[-1]
        raise _Missing("Aggregation function attempted to calculate value using empty array")
    numbers = [v for v in value if _is_number(v)] if isinstance(value, list) else []
    if not numbers:
        raise _Missing("Aggregation function attempted to calculate value using empty array")
    if name == "min":
        return float(min(numbers))
    if name == "max":
        return float(max(numbers))
    total = float(sum(numbers))
    if name == "sum":
        return total
    mean = total / len(numbers)
    if name == "avg":
        return mean
    return math.sqrt(sum((v - mean) ** 2 for v in numbers) / len(numbers))  # stddev


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _java_class(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "net.minidev.json.JSONArray"
    return "net.minidev.json.JSONObject"


def _java_text(value: JSON) -> str:
    return value if isinstance(value, str) else dumps(value)


def select_definite(parsed: ParsedPath, value: JSON) -> JSON:
    """Walk a definite path; raises _Missing with Jayway's message when it matches nothing."""
    current_path = "$"
    segments = parsed.segments
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        remaining = "".join(s.fragment() for s in segments[i:])
        if isinstance(segment, Prop):
            if not isinstance(value, dict):
                raise _Missing(
                    f"Expected to find an object with property {segment.fragment()} in path {current_path} "
                    f"but found '{_java_class(value)}'. This is not a json object according to the JsonProvider: "
                    f"'{_JAVA_PROVIDER}'."
                )
            if len(segment.names) > 1:  # the leaf merge case: an object of the names present
                value = {name: value[name] for name in segment.names if name in value}
            else:
                name = segment.names[0]
                eval_path = f"{current_path}['{name}']"
                if name not in value:
                    if i == last:
                        raise _Missing(f"No results for path: {parsed.normalized}")
                    raise _Missing(f"Missing property in path {eval_path}")
                value = value[name]
            current_path += segment.fragment()
        elif isinstance(segment, Index):
            if value is None:
                raise _Missing(f"The path {current_path} is null")
            if not isinstance(value, list):
                raise _Missing(
                    f"Filter: {remaining} can only be applied to arrays. Current context is: {_java_text(value)}"
                )
            index = segment.indexes[0]
            if not -len(value) <= index < len(value):
                raise _Missing(f"No results for path: {parsed.normalized}")
            value = value[index]
            current_path += segment.fragment()
        elif isinstance(segment, Function):
            value = apply_function(segment.name, value)
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Compilation


def _definition_error(message: str, at: str) -> DefinitionError:
    return DefinitionError(Diagnostic(code=_SCHEMA, message=message, location=at))


def missing_cause_for(path: str, field: str) -> MissingCause:
    """The StatesError AWS raises when `path`, read for `field`, matches nothing."""
    if field.endswith(".$") or field in _FOUND_IN_INPUT_FIELDS:

        def found_in_input(message: str, doc: JSON) -> StatesError:
            return StatesError(
                "States.Runtime",
                f"The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{dumps(doc)}'",
            )

        return found_in_input
    if field in _PARAMETER_FIELDS:
        cause = f"The {field} parameter does not reference an input value: {path}"
        return lambda message, doc: StatesError("States.Runtime", cause)

    return lambda message, doc: StatesError("States.Runtime", f"Invalid path '{path}' : {message}")


def compile_path(path: str, *, at: str, field: str, missing: MissingCause | None = None) -> Getter:
    """Compile a path once; the getter returns the selected value (a list for indefinite paths).

    A definite path that matches nothing raises StatesError("States.Runtime", <AWS's cause for `field`>);
    `missing` overrides how that error is built (intrinsic arguments use it). Bad syntax raises DefinitionError.
    """
    try:
        parsed = parse_path(path)
    except PathSyntaxError:
        raise _definition_error(f"The value for the field '{field}' must be a valid JSONPath", at) from None
    return compile_parsed(parsed, missing or missing_cause_for(path, field))


def compile_parsed(parsed: ParsedPath, missing: MissingCause) -> Getter:
    """Build the getter for an already parsed path."""
    read_root = _root_reader(parsed, missing)
    if not parsed.definite:
        segments = parsed.segments

        def get_all(doc: JSON, scope: Scope) -> JSON:
            start = read_root(doc, scope)
            return select_all(segments, start, start)

        return get_all

    keys = parsed.keys()
    if keys is None:  # definite, but with a function or a merged name list: the general walk

        def get_definite(doc: JSON, scope: Scope) -> JSON:
            try:
                return select_definite(parsed, read_root(doc, scope))
            except _Missing as error:
                raise missing(error.message, doc) from None

        return get_definite

    if not keys and parsed.root == "input":
        return _identity

    if parsed.root == "input" and all(isinstance(key, str) for key in keys):  # the hot path: $.a.b.c

        def get_names(doc: JSON, scope: Scope) -> JSON:
            value = doc
            for key in keys:
                if value.__class__ is dict and key in value:
                    value = value[key]
                elif isinstance(value, dict) and key in value:
                    value = value[key]
                else:
                    return _explain(parsed, doc, doc, missing)
            return value

        return get_names

    if all(isinstance(key, str) for key in keys):

        def get_keys(doc: JSON, scope: Scope) -> JSON:
            value = read_root(doc, scope)
            start = value
            for key in keys:
                if isinstance(value, dict) and key in value:
                    value = value[key]
                else:
                    return _explain(parsed, start, doc, missing)
            return value

        return get_keys

    def get_mixed(doc: JSON, scope: Scope) -> JSON:
        value = read_root(doc, scope)
        start = value
        for key in keys:
            if isinstance(key, str):
                if isinstance(value, dict) and key in value:
                    value = value[key]
                    continue
            elif isinstance(value, list) and -len(value) <= key < len(value):
                value = value[key]
                continue
            return _explain(parsed, start, doc, missing)
        return value

    return get_mixed


def _identity(doc: JSON, scope: Scope) -> JSON:
    return doc


def _explain(parsed: ParsedPath, start: JSON, doc: JSON, missing: MissingCause) -> NoReturn:
    try:
        select_definite(parsed, start)
    except _Missing as error:
        raise missing(error.message, doc) from None
    raise missing(f"No results for path: {parsed.normalized}", doc)  # unreachable in practice


def _root_reader(parsed: ParsedPath, missing: MissingCause) -> Callable[[JSON, Scope], JSON]:
    if parsed.root == "input":
        return _identity
    if parsed.root == "context":
        return lambda doc, scope: scope.context
    name = parsed.variable
    assert name is not None

    def read_variable(doc: JSON, scope: Scope) -> JSON:
        try:
            return scope.variables[name]
        except KeyError:
            raise missing(f"The variable '{name}' is not defined", doc) from None

    return read_variable


# ----------------------------------------------------------------------------------------------------------------------
# ResultPath


def compile_result_path(path: str | None, *, at: str) -> ResultPlacer:
    """Compile a ResultPath: null keeps the input, `$` replaces it, `$.a.b` sets a field (copying only that path)."""
    if path is None:
        return _keep_input
    message = "The value for the field 'ResultPath' must be a valid JSONPath"
    try:
        parsed = parse_path(path)
    except PathSyntaxError:
        raise _definition_error(message, at) from None
    keys = parsed.keys()
    if parsed.root != "input" or keys is None:
        raise _definition_error(message, at)
    if not keys:
        return _replace

    def place(state_input: JSON, result: JSON) -> JSON:
        try:
            return _place(state_input, keys, 0, result)
        except _NoPlace:
            raise StatesError(
                "States.ResultPathMatchFailure",
                f"Unable to apply ResultPath '{path}' to input '{dumps(state_input)}'",
            ) from None

    return place


class _NoPlace(Exception):
    pass


def _keep_input(state_input: JSON, result: JSON) -> JSON:
    return state_input


def _replace(state_input: JSON, result: JSON) -> JSON:
    return result


def _place(doc: JSON, keys: tuple[str | int, ...], i: int, result: JSON) -> JSON:
    """A new document with `result` at keys[i:] below doc; only the containers along the path are copied."""
    if i == len(keys):
        return result
    key = keys[i]
    if isinstance(key, str):
        if not isinstance(doc, dict):
            raise _NoPlace
        copy = dict(doc)
        copy[key] = _place(doc[key] if key in doc else {}, keys, i + 1, result)
        return copy
    if not isinstance(doc, list) or not -len(doc) <= key < len(doc):
        raise _NoPlace
    items = list(doc)
    items[key] = _place(doc[key], keys, i + 1, result)
    return items
