"""Choice rules in JSONPath mode, compiled once into predicates over (input, scope).

A rule is either a boolean expression (And, Or, Not over nested rules) or a data test: a `Variable` path, one
comparison operator and its operand (a constant, or a path for the `...Path` variants). Everything a rule needs
is prepared at compile time: paths are compiled, constant timestamps parsed, StringMatches patterns split into
literal segments, string constants turned into their UTF-16 sort keys. Evaluation only reads values and compares.

Semantics, as AWS evaluates them:
- a value of another type than the operator's (a string under NumericEquals, a number under StringEquals, a
  bool under NumericEquals, a string that is not a timestamp under TimestampEquals) makes the test false, never
  an error; this holds for a `...Path` operand of the wrong type too;
- a `Variable` or `...Path` operand that matches nothing is a runtime error, States.Runtime with the cause
  "Invalid path '<path>': The choice state's condition path references an invalid value." (the engine adds its
  "An error occurred while executing the state ..." prefix), except under IsPresent, which is then false;
- numbers compare by value (1 equals 1.0); booleans are not numbers;
- strings order as Java's String.compareTo does: by UTF-16 code units;
- timestamps are RFC 3339 date-times with an uppercase T and either an uppercase Z or a +hh:mm / -hh:mm offset,
  seconds required, 1 to 9 fractional digits; they compare as instants, to the nanosecond;
- StringMatches: `*` matches any run of characters (none included), `\\*` is a literal star and `\\\\` a literal
  backslash; nothing else is special;
- And / Or evaluate left to right and stop at the first operand that decides the result.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from stepline.errors import DefinitionError, Diagnostic, StatesError
from stepline.expr.paths import Getter, compile_path
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON

Rule = Callable[[JSON, Scope], bool]
Selector = Callable[[JSON, Scope], int | None]

__all__ = [
    "Rule",
    "Selector",
    "compile_choice_rule",
    "compile_choice_selector",
    "compile_choices",
    "parse_timestamp",
]

_INVALID: Final = "SCHEMA_VALIDATION_FAILED"

# ---------------------------------------------------------------------------------------------------------------
# Value kinds: each turns a JSON value into a comparable key, or None when the value is not of that kind.


def _string_key(value: JSON) -> bytes | None:
    # Big-endian UTF-16 bytes order exactly as the code units do, which is what Java's compareTo compares.
    # surrogatepass keeps lone surrogates (valid in JSON text) comparable instead of raising.
    return value.encode("utf-16-be", "surrogatepass") if isinstance(value, str) else None


def _string_value(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _number_value(value: JSON) -> int | float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _boolean_value(value: JSON) -> bool | None:
    return value if isinstance(value, bool) else None


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (year 0 included)."""
    shifted = year - 1 if month <= 2 else year  # count years from March, so the leap day ends a year
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_timestamp(text: JSON) -> tuple[int, int] | None:
    """An RFC 3339 timestamp as (seconds since the epoch, nanoseconds), or None if `text` is not one."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    if not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return None
    month_days = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= month_days:
        return None
    offset = 0
    if match.group(8) is None:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        offset = offset_hours * 3600 + offset_minutes * 60
        if offset_minutes > 59 or offset > 18 * 3600:  # the range java.time accepts
            return None
        if match.group(9) == "-":
            offset = -offset
    fraction = match.group(7) or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    seconds = _days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds, nanos


# ---------------------------------------------------------------------------------------------------------------
# The operator table.

_Key = Callable[[JSON], Any]  # value → comparable key, None for a value of another kind
_KIND_NAMES: Final = {"String": "a string", "Numeric": "a number", "Boolean": "a boolean", "Timestamp": "a timestamp"}
_RELATIONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _comparisons() -> dict[str, tuple[str, _Key, Callable[[Any, Any], bool]]]:
    """Operator name → (kind, key function, relation), for the constant operators."""
    table: dict[str, tuple[str, _Key, Callable[[Any, Any], bool]]] = {}
    for relation_name, relation in _RELATIONS.items():
        string_key = _string_value if relation_name == "Equals" else _string_key  # only ordering needs UTF-16
        table[f"String{relation_name}"] = ("String", string_key, relation)
        table[f"Numeric{relation_name}"] = ("Numeric", _number_value, relation)
        table[f"Timestamp{relation_name}"] = ("Timestamp", parse_timestamp, relation)
    table["BooleanEquals"] = ("Boolean", _boolean_value, operator.eq)
    return table


_COMPARISONS: Final = _comparisons()
_PATH_COMPARISONS: Final = {f"{name}Path": spec for name, spec in _COMPARISONS.items()}
_TYPE_TESTS: Final[dict[str, Callable[[JSON], bool]]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": lambda value: _number_value(value) is not None,
    "IsString": lambda value: isinstance(value, str),
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: parse_timestamp(value) is not None,
}
_OPERATORS: Final = frozenset(_COMPARISONS) | frozenset(_PATH_COMPARISONS) | frozenset(_TYPE_TESTS) | {
    "IsPresent",
    "StringMatches",
}
_BOOLEAN_OPERATORS: Final = ("And", "Or", "Not")
_TOP_LEVEL_ONLY: Final = frozenset({"Next", "Assign"})  # the state machine handles them, not the rule
_ANYWHERE: Final = frozenset({"Comment"})


# ---------------------------------------------------------------------------------------------------------------
# Public API


def compile_choice_rule(rule: Mapping[str, JSON], *, at: str) -> Rule:
    """Compile one top-level Choice Rule (its Next and Assign are ignored) into a predicate.

    `at` is the rule's JSON pointer ("/States/Check/Choices/0"); bad rules raise DefinitionError there.
    Evaluation raises StatesError("States.Runtime", ...) when a path the rule reads matches nothing.
    """
    return _compile(rule, at=at, top_level=True)


def compile_choice_selector(state: dict[str, Any], *, at: str) -> Selector:
    """Compile a Choice state's Choices into a function giving the index of the first matching rule, or None.

    The engine uses the index to reach the rule's Next and Assign.
    """
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        raise _definition_error("The field 'Choices' must be a non-empty array", f"{at}/Choices")
    rules = tuple(compile_choice_rule(rule, at=f"{at}/Choices/{index}") for index, rule in enumerate(choices))

    def select(value: JSON, scope: Scope) -> int | None:
        for index, rule in enumerate(rules):
            if rule(value, scope):
                return index
        return None

    return select


def compile_choices(state: dict[str, Any], *, at: str) -> Callable[[JSON, Scope], str | None]:
    """Compile a Choice state into a function giving the Next of the first matching rule, else Default, else None.

    None means no rule matched and there is no Default: the engine raises States.NoChoiceMatched.
    `at` is the state's JSON pointer ("/States/Check").
    """
    select = compile_choice_selector(state, at=at)
    nexts: list[str] = []
    for index, rule in enumerate(state["Choices"]):
        next_state = rule.get("Next")
        if not isinstance(next_state, str):
            raise _definition_error("The field 'Next' is required in a top-level Choice Rule", f"{at}/Choices/{index}")
        nexts.append(next_state)
    default = state.get("Default")
    if default is not None and not isinstance(default, str):
        raise _definition_error("The value for the field 'Default' must be a STRING", f"{at}/Default")
    targets = tuple(nexts)

    def choose(value: JSON, scope: Scope) -> str | None:
        index = select(value, scope)
        return default if index is None else targets[index]

    return choose


# ---------------------------------------------------------------------------------------------------------------
# Compilation


def _definition_error(message: str, location: str) -> DefinitionError:
    return DefinitionError(Diagnostic(code=_INVALID, message=message, location=location))


def _compile(rule: Any, *, at: str, top_level: bool) -> Rule:
    if not isinstance(rule, dict):
        raise _definition_error("A Choice Rule must be an object", at)
    allowed = _ANYWHERE | (_TOP_LEVEL_ONLY if top_level else frozenset())
    for key in rule:
        if key in _TOP_LEVEL_ONLY and not top_level:
            raise _definition_error(f"The field '{key}' is only allowed in a top-level Choice Rule", f"{at}/{key}")
    boolean = [key for key in _BOOLEAN_OPERATORS if key in rule]
    if boolean:
        extra = [key for key in rule if key not in allowed and key not in _BOOLEAN_OPERATORS]
        if len(boolean) > 1 or extra:
            field = (boolean[1:] + extra)[0]
            raise _definition_error(f"The field '{field}' cannot be combined with '{boolean[0]}'", f"{at}/{field}")
        return _compile_boolean(boolean[0], rule[boolean[0]], at=f"{at}/{boolean[0]}")
    return _compile_data_test(rule, allowed, at=at)


def _compile_boolean(name: str, operand: Any, *, at: str) -> Rule:
    if name == "Not":
        inner = _compile(operand, at=at, top_level=False)

        def negation(value: JSON, scope: Scope) -> bool:
            return not inner(value, scope)

        return negation
    if not isinstance(operand, list) or not operand:
        raise _definition_error(f"The value for the field '{name}' must be a non-empty array of Choice Rules", at)
    rules = tuple(_compile(rule, at=f"{at}/{index}", top_level=False) for index, rule in enumerate(operand))
    if name == "And":

        def conjunction(value: JSON, scope: Scope) -> bool:
            for rule in rules:
                if not rule(value, scope):
                    return False
            return True

        return conjunction

    def disjunction(value: JSON, scope: Scope) -> bool:
        for rule in rules:
            if rule(value, scope):
                return True
        return False

    return disjunction


def _compile_data_test(rule: dict[str, Any], allowed: frozenset[str], *, at: str) -> Rule:
    operators = [key for key in rule if key in _OPERATORS]
    unknown = [key for key in rule if key not in _OPERATORS and key not in allowed and key != "Variable"]
    if unknown:
        raise _definition_error(f"The field '{unknown[0]}' is not supported by Step Functions", f"{at}/{unknown[0]}")
    if not operators:
        raise _definition_error("A Choice Rule must have a comparison operator, or And, Or or Not", at)
    if len(operators) > 1:
        raise _definition_error(f"A Choice Rule must have exactly one comparison operator, found {operators}", at)
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        raise _definition_error("The field 'Variable' is required and must be a STRING", f"{at}/Variable")
    name = operators[0]
    operand = rule[name]
    operand_at = f"{at}/{name}"

    if name == "IsPresent":
        _require_boolean(name, operand, operand_at)
        return _compile_is_present(variable, expected=operand, at=at)
    read = _reader(variable, at=at, field="Variable")
    if name in _TYPE_TESTS:
        _require_boolean(name, operand, operand_at)
        return _compile_type_test(read, _TYPE_TESTS[name], expected=operand)
    if name == "StringMatches":
        if not isinstance(operand, str):
            raise _definition_error("The value for the field 'StringMatches' must be a STRING", operand_at)
        return _compile_string_matches(read, operand)
    if name in _COMPARISONS:
        kind, key, relation = _COMPARISONS[name]
        constant = key(operand)
        if constant is None:
            message = (
                "String does not match RFC3339 timestamp"
                if kind == "Timestamp" and isinstance(operand, str)
                else f"The value for the field '{name}' must be {_KIND_NAMES[kind]}"
            )
            raise _definition_error(message, operand_at)
        return _compile_constant_comparison(read, key, relation, constant)
    kind, key, relation = _PATH_COMPARISONS[name]
    if not isinstance(operand, str):
        raise _definition_error(f"The value for the field '{name}' must be a STRING (a path)", operand_at)
    return _compile_path_comparison(read, key, relation, _reader(operand, at=at, field=name))


def _require_boolean(name: str, operand: Any, at: str) -> None:
    if not isinstance(operand, bool):
        raise _definition_error(f"The value for the field '{name}' must be a BOOLEAN", at)


def _reader(path: str, *, at: str, field: str) -> Getter:
    """A getter for a path a rule reads; a path that matches nothing fails as AWS's Choice state does."""
    cause = f"Invalid path '{path}': The choice state's condition path references an invalid value."

    def missing(message: str, doc: JSON) -> StatesError:
        return StatesError("States.Runtime", cause)

    return compile_path(path, at=f"{at}/{field}", field=field, missing=missing)


class _Absent(StatesError):
    """Raised by IsPresent's getter when its path matches nothing; never leaves this module."""


def _compile_is_present(variable: str, *, expected: bool, at: str) -> Rule:

    def absent(message: str, doc: JSON) -> StatesError:
        return _Absent("States.Runtime")

    get = compile_path(variable, at=f"{at}/Variable", field="Variable", missing=absent)

    def is_present(value: JSON, scope: Scope) -> bool:
        try:
            get(value, scope)
        except _Absent:
            return not expected
        return expected

    return is_present


def _compile_type_test(read: Getter, test: Callable[[JSON], bool], *, expected: bool) -> Rule:
    def type_test(value: JSON, scope: Scope) -> bool:
        return test(read(value, scope)) is expected

    return type_test


def _compile_constant_comparison(read: Getter, key: _Key, relation: Callable[[Any, Any], bool], constant: Any) -> Rule:
    def compare(value: JSON, scope: Scope) -> bool:
        left = key(read(value, scope))
        return left is not None and relation(left, constant)

    return compare


def _compile_path_comparison(
    read: Getter, key: _Key, relation: Callable[[Any, Any], bool], read_operand: Getter
) -> Rule:
    def compare(value: JSON, scope: Scope) -> bool:
        left = key(read(value, scope))
        right = key(read_operand(value, scope))  # read even when left is of another kind: a missing path still fails
        return left is not None and right is not None and relation(left, right)

    return compare


def _split_pattern(pattern: str) -> list[str]:
    """StringMatches pattern → the literal segments between its unescaped stars."""
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "*\\":
            current.append(pattern[index + 1])
            index += 2
            continue
        if char == "*":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)  # any other character, a lone backslash included, is literal
        index += 1
    segments.append("".join(current))
    return segments


def _compile_string_matches(read: Getter, pattern: str) -> Rule:
    segments = _split_pattern(pattern)
    if len(segments) == 1:
        literal = segments[0]

        def equals(value: JSON, scope: Scope) -> bool:
            return bool(read(value, scope) == literal)

        return equals
    head, middle, tail = segments[0], tuple(segment for segment in segments[1:-1] if segment), segments[-1]
    minimum = len(head) + sum(map(len, middle)) + len(tail)

    def matches(value: JSON, scope: Scope) -> bool:
        text = read(value, scope)
        if not isinstance(text, str) or len(text) < minimum:
            return False
        if not text.startswith(head) or not text.endswith(tail):
            return False
        # Greedy leftmost placement of each middle segment is optimal for `*`-only patterns: linear, no backtracking.
        position, end = len(head), len(text) - len(tail)
        for segment in middle:
            found = text.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    return matches
