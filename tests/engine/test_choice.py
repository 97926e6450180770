"""Choice rules (JSONPath mode): AWS's recorded corpus, then table-driven unit tests of every operator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepline.engine import choice
from stepline.engine.choice import compile_choice_rule, compile_choices, parse_timestamp
from stepline.errors import DefinitionError, StatesError
from stepline.expr.scope import Scope
from shared import CASES_DIR

CASES = CASES_DIR
MISSING = "The choice state's condition path references an invalid value."


def _load(group: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((CASES / group).glob("*.json"))]


# ---------------------------------------------------------------------------------------------------------------
# AWS's recorded behaviour: one comparison per case; the Pass state reached reveals the branch taken.


def _follow_choice(definition: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]]:
    """Run the Choice states from StartAt on `value` until another state type; return that state."""
    name = definition["StartAt"]
    state = definition["States"][name]
    while state["Type"] == "Choice":
        chosen = compile_choices(state, at=f"/States/{name}")(value, Scope())
        if chosen is None:
            raise StatesError("States.NoChoiceMatched", "")
        name, state = chosen, definition["States"][chosen]
    return name, state


@pytest.mark.parametrize("case", _load("choice_operators"), ids=lambda case: case["id"].split("/", 1)[1])
def test_choice_operators_corpus(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if expected["status"] == "SUCCEEDED":
        _, state = _follow_choice(case["definition"], case["input"])
        assert state["Result"] == expected["output"]
    else:
        with pytest.raises(StatesError) as raised:
            _follow_choice(case["definition"], case["input"])
        assert raised.value.error == expected["error"]
        assert expected["cause"].endswith(raised.value.cause)


def _choice_only(case: dict[str, Any]) -> bool:
    """JSONPath executions made only of Choice states and plain Pass/Fail/Succeed states, so no engine is needed."""
    definition = case.get("definition")
    if case.get("kind") or not isinstance(definition, dict) or "States" not in definition:
        return False
    if definition.get("QueryLanguage") == "JSONata" or "create_error" in case["expected"]:
        return False
    states = definition["States"].values()
    plain = {"Type", "End", "Next", "Comment", "Error", "Cause", "Result"}
    has_choice = any(state["Type"] == "Choice" for state in states)
    others_plain = all(
        state["Type"] == "Choice" and "QueryLanguage" not in state and "Assign" not in state
        or state["Type"] in {"Pass", "Fail", "Succeed"} and set(state) <= plain
        for state in states
    )
    return has_choice and others_plain


SCENARIOS = [case for group in ("scenarios", "base", "assign", "comments") for case in _load(group) if _choice_only(case)]


@pytest.mark.parametrize("case", SCENARIOS, ids=lambda case: case["id"].split("/", 1)[1])
def test_choice_scenarios_corpus(case: dict[str, Any]) -> None:
    expected = case["expected"]
    _, state = _follow_choice(case["definition"], case["input"])
    if state["Type"] == "Fail":
        assert (expected["status"], expected.get("error"), expected.get("cause")) == (
            "FAILED",
            state.get("Error"),
            state.get("Cause"),
        )
    else:
        assert expected["status"] == "SUCCEEDED"
        assert expected["output"] == state.get("Result", case["input"])


def test_the_corpus_is_there() -> None:
    assert len(_load("choice_operators")) == 393
    assert len(SCENARIOS) >= 3


TEST_STATE_CHOICES = [
    case
    for case in _load("test_state")
    if isinstance(case["request"]["definition"], dict)
    and case["request"]["definition"].get("Type") == "Choice"
    and "nextState" in case["expected"].get("response", {})
]


@pytest.mark.parametrize("case", TEST_STATE_CHOICES, ids=lambda case: case["id"].split("/", 1)[1])
def test_choice_test_state_corpus(case: dict[str, Any]) -> None:
    request = case["request"]
    chosen = compile_choices(request["definition"], at="")(json.loads(request["input"]), Scope())
    assert chosen == case["expected"]["response"]["nextState"]


# ---------------------------------------------------------------------------------------------------------------
# Every operator, table-driven: (rule without Variable, input value of $.v (or None: the whole input), expected).

TS = "2012-10-09T19:00:55Z"


def _rule(operator: str, operand: Any) -> dict[str, Any]:
    return {"Variable": "$.v", operator: operand}


OPERATOR_CASES = [
    # strings: equality, Java ordering, type mismatch
    pytest.param(_rule("StringEquals", "a"), {"v": "a"}, True, id="string-equals"),
    pytest.param(_rule("StringEquals", "a"), {"v": "A"}, False, id="string-equals-case-sensitive"),
    pytest.param(_rule("StringEquals", "1"), {"v": 1}, False, id="string-equals-number-is-false"),
    pytest.param(_rule("StringEquals", "null"), {"v": None}, False, id="string-equals-null-is-false"),
    pytest.param(_rule("StringLessThan", "b"), {"v": "a"}, True, id="string-less-than"),
    pytest.param(_rule("StringLessThan", "a"), {"v": "a"}, False, id="string-less-than-equal-values"),
    pytest.param(_rule("StringLessThan", "ab"), {"v": "a"}, True, id="string-less-than-prefix"),
    pytest.param(_rule("StringLessThan", "a"), {"v": "B"}, True, id="string-less-than-uppercase-first"),
    pytest.param(_rule("StringGreaterThan", "a"), {"v": "b"}, True, id="string-greater-than"),
    pytest.param(_rule("StringGreaterThan", "A "), {"v": "A"}, False, id="string-greater-than-shorter"),
    pytest.param(_rule("StringLessThanEquals", "a"), {"v": "a"}, True, id="string-less-than-equals"),
    pytest.param(_rule("StringGreaterThanEquals", ""), {"v": ""}, True, id="string-greater-than-equals-empty"),
    pytest.param(_rule("StringGreaterThanEquals", "b"), {"v": "a"}, False, id="string-greater-than-equals-false"),
    # U+FFFD is above the surrogates that encode U+1F600 in UTF-16, though below it as a code point.
    pytest.param(_rule("StringLessThan", "\ufffd"), {"v": "\U0001f600"}, True, id="string-order-utf16-code-units"),
    pytest.param(_rule("StringGreaterThan", "\U0001f600"), {"v": "\ufffd"}, True, id="string-order-utf16-reverse"),
    pytest.param(_rule("StringLessThan", "b"), {"v": 1}, False, id="string-less-than-number-is-false"),
    # StringMatches
    pytest.param(_rule("StringMatches", "log-*.txt"), {"v": "log-2024.txt"}, True, id="string-matches-wildcard"),
    pytest.param(_rule("StringMatches", "log-*.txt"), {"v": "log-.txt"}, True, id="string-matches-empty-run"),
    pytest.param(_rule("StringMatches", "log-*.txt"), {"v": "log-1.txt.gz"}, False, id="string-matches-anchored"),
    pytest.param(_rule("StringMatches", "*"), {"v": ""}, True, id="string-matches-star-empty"),
    pytest.param(_rule("StringMatches", "a*b*c"), {"v": "abbbc"}, True, id="string-matches-two-stars"),
    pytest.param(_rule("StringMatches", "a*b*c"), {"v": "acb"}, False, id="string-matches-order"),
    pytest.param(_rule("StringMatches", "ab*ba"), {"v": "aba"}, False, id="string-matches-no-overlap"),
    pytest.param(_rule("StringMatches", "*a*a*"), {"v": "xaya"}, True, id="string-matches-repeated"),
    pytest.param(_rule("StringMatches", "a\\*b"), {"v": "a*b"}, True, id="string-matches-escaped-star"),
    pytest.param(_rule("StringMatches", "a\\*b"), {"v": "axb"}, False, id="string-matches-escaped-star-literal"),
    pytest.param(_rule("StringMatches", "a\\\\*"), {"v": "a\\xyz"}, True, id="string-matches-escaped-backslash"),
    pytest.param(_rule("StringMatches", "a?c"), {"v": "abc"}, False, id="string-matches-question-mark-literal"),
    pytest.param(_rule("StringMatches", "a.c"), {"v": "abc"}, False, id="string-matches-dot-literal"),
    pytest.param(_rule("StringMatches", "exact"), {"v": "exact"}, True, id="string-matches-no-star"),
    pytest.param(_rule("StringMatches", "a*"), {"v": "a\nb"}, True, id="string-matches-newline"),
    pytest.param(_rule("StringMatches", "*"), {"v": 1}, False, id="string-matches-number-is-false"),
    # numbers
    pytest.param(_rule("NumericEquals", 1), {"v": 1.0}, True, id="numeric-equals-int-float"),
    pytest.param(_rule("NumericEquals", 0), {"v": -0.0}, True, id="numeric-equals-negative-zero"),
    pytest.param(_rule("NumericEquals", 2.22), {"v": 2.22}, True, id="numeric-equals-float"),
    pytest.param(_rule("NumericEquals", 1), {"v": True}, False, id="numeric-equals-true-is-false"),
    pytest.param(_rule("NumericEquals", 0), {"v": False}, False, id="numeric-equals-false-is-false"),
    pytest.param(_rule("NumericEquals", 1), {"v": "1"}, False, id="numeric-equals-numeric-string-is-false"),
    pytest.param(_rule("NumericLessThan", 1), {"v": 0.5}, True, id="numeric-less-than"),
    pytest.param(_rule("NumericLessThan", 1), {"v": 1}, False, id="numeric-less-than-equal-values"),
    pytest.param(_rule("NumericGreaterThan", 1), {"v": 1.5}, True, id="numeric-greater-than"),
    pytest.param(_rule("NumericGreaterThan", -1), {"v": None}, False, id="numeric-greater-than-null-is-false"),
    pytest.param(_rule("NumericLessThanEquals", 1), {"v": 1.0}, True, id="numeric-less-than-equals"),
    pytest.param(_rule("NumericGreaterThanEquals", 20), {"v": 19}, False, id="numeric-greater-than-equals-false"),
    pytest.param(_rule("NumericGreaterThanEquals", 20), {"v": 20}, True, id="numeric-greater-than-equals"),
    # booleans
    pytest.param(_rule("BooleanEquals", True), {"v": True}, True, id="boolean-equals-true"),
    pytest.param(_rule("BooleanEquals", False), {"v": False}, True, id="boolean-equals-false"),
    pytest.param(_rule("BooleanEquals", True), {"v": 1}, False, id="boolean-equals-one-is-false"),
    pytest.param(_rule("BooleanEquals", False), {"v": 0}, False, id="boolean-equals-zero-is-false"),
    pytest.param(_rule("BooleanEquals", True), {"v": "true"}, False, id="boolean-equals-string-is-false"),
    # timestamps
    pytest.param(_rule("TimestampEquals", TS), {"v": TS}, True, id="timestamp-equals"),
    pytest.param(_rule("TimestampEquals", TS), {"v": "2012-10-09T20:00:55+01:00"}, True, id="timestamp-equals-offset"),
    pytest.param(_rule("TimestampEquals", TS), {"v": "2012-10-09T19:00:55.000Z"}, True, id="timestamp-equals-fraction"),
    pytest.param(_rule("TimestampEquals", TS), {"v": "2012-10-09T19:00:55"}, False, id="timestamp-equals-no-zone"),
    pytest.param(_rule("TimestampEquals", TS), {"v": "2012-10-09"}, False, id="timestamp-equals-date-only"),
    pytest.param(_rule("TimestampEquals", TS), {"v": 1349809255}, False, id="timestamp-equals-number-is-false"),
    pytest.param(_rule("TimestampLessThan", TS), {"v": "2012-10-09T19:00:54.999999999Z"}, True, id="timestamp-less-than-nanos"),
    pytest.param(_rule("TimestampLessThan", TS), {"v": TS}, False, id="timestamp-less-than-equal-values"),
    pytest.param(_rule("TimestampGreaterThan", TS), {"v": "2012-10-09T19:00:55.000000001Z"}, True, id="timestamp-greater-than-nanos"),
    pytest.param(_rule("TimestampGreaterThan", TS), {"v": "2012-10-09T19:00:56-00:00"}, True, id="timestamp-greater-than-minus-zero"),
    pytest.param(_rule("TimestampLessThanEquals", TS), {"v": "2012-10-09T14:00:55-05:00"}, True, id="timestamp-less-than-equals"),
    pytest.param(_rule("TimestampGreaterThanEquals", TS), {"v": "2012-10-09T19:00:54Z"}, False, id="timestamp-greater-than-equals-false"),
    # type tests
    pytest.param(_rule("IsNull", True), {"v": None}, True, id="is-null"),
    pytest.param(_rule("IsNull", True), {"v": 0}, False, id="is-null-zero"),
    pytest.param(_rule("IsNull", False), {"v": ""}, True, id="is-null-false"),
    pytest.param(_rule("IsNumeric", True), {"v": 1.5}, True, id="is-numeric"),
    pytest.param(_rule("IsNumeric", True), {"v": "1"}, False, id="is-numeric-numeric-string"),
    pytest.param(_rule("IsNumeric", True), {"v": True}, False, id="is-numeric-boolean"),
    pytest.param(_rule("IsNumeric", False), {"v": 0}, False, id="is-numeric-false"),
    pytest.param(_rule("IsString", True), {"v": ""}, True, id="is-string"),
    pytest.param(_rule("IsString", True), {"v": ["a"]}, False, id="is-string-array"),
    pytest.param(_rule("IsString", False), {"v": {}}, True, id="is-string-false"),
    pytest.param(_rule("IsBoolean", True), {"v": False}, True, id="is-boolean"),
    pytest.param(_rule("IsBoolean", True), {"v": 0}, False, id="is-boolean-zero"),
    pytest.param(_rule("IsBoolean", False), {"v": False}, False, id="is-boolean-false"),
    pytest.param(_rule("IsTimestamp", True), {"v": TS}, True, id="is-timestamp"),
    pytest.param(_rule("IsTimestamp", True), {"v": "2012-10-09T19:00:55+01:00"}, True, id="is-timestamp-offset"),
    pytest.param(_rule("IsTimestamp", True), {"v": "2012-10-09T19:00:55"}, False, id="is-timestamp-no-zone"),
    pytest.param(_rule("IsTimestamp", True), {"v": "2023-02-24"}, False, id="is-timestamp-date-only"),
    pytest.param(_rule("IsTimestamp", True), {"v": 0}, False, id="is-timestamp-number"),
    pytest.param(_rule("IsTimestamp", False), {"v": "HelloWorld"}, True, id="is-timestamp-false"),
    pytest.param(_rule("IsPresent", True), {"v": None}, True, id="is-present-null"),
    pytest.param(_rule("IsPresent", True), {}, False, id="is-present-missing"),
    pytest.param(_rule("IsPresent", False), {}, True, id="is-present-false-missing"),
    pytest.param(_rule("IsPresent", False), {"v": 1}, False, id="is-present-false-present"),
    pytest.param({"Variable": "$.v.w", "IsPresent": True}, {"v": "text"}, False, id="is-present-through-a-string"),
    pytest.param({"Variable": "$", "IsString": True}, "whole", True, id="variable-whole-input"),
    pytest.param({"Variable": "$.v[1]", "NumericEquals": 2}, {"v": [1, 2]}, True, id="variable-array-index"),
]


@pytest.mark.parametrize(("rule", "value", "expected"), OPERATOR_CASES)
def test_operator(rule: dict[str, Any], value: Any, expected: bool) -> None:
    assert compile_choice_rule(rule, at="/States/C/Choices/0")(value, Scope()) is expected


def _path_rule(operator: str) -> dict[str, Any]:
    return {"Variable": "$.v", f"{operator}Path": "$.w"}


PATH_CASES = [
    pytest.param(_path_rule("StringEquals"), "a", "a", True, id="string-equals-path"),
    pytest.param(_path_rule("StringEquals"), "a", 1, False, id="string-equals-path-operand-number"),
    pytest.param(_path_rule("StringLessThan"), "a", "b", True, id="string-less-than-path"),
    pytest.param(_path_rule("StringGreaterThan"), "b", "a", True, id="string-greater-than-path"),
    pytest.param(_path_rule("StringLessThanEquals"), "a", "a", True, id="string-less-than-equals-path"),
    pytest.param(_path_rule("StringGreaterThanEquals"), "a", "b", False, id="string-greater-than-equals-path"),
    pytest.param(_path_rule("NumericEquals"), 1, 1.0, True, id="numeric-equals-path"),
    pytest.param(_path_rule("NumericEquals"), 1, "1", False, id="numeric-equals-path-operand-string"),
    pytest.param(_path_rule("NumericEquals"), 1, True, False, id="numeric-equals-path-operand-true"),
    pytest.param(_path_rule("NumericLessThan"), 0, 1, True, id="numeric-less-than-path"),
    pytest.param(_path_rule("NumericGreaterThan"), 1, 0, True, id="numeric-greater-than-path"),
    pytest.param(_path_rule("NumericLessThanEquals"), 1, 1, True, id="numeric-less-than-equals-path"),
    pytest.param(_path_rule("NumericGreaterThanEquals"), 0, 1, False, id="numeric-greater-than-equals-path"),
    pytest.param(_path_rule("BooleanEquals"), False, False, True, id="boolean-equals-path"),
    pytest.param(_path_rule("BooleanEquals"), None, True, False, id="boolean-equals-path-null"),
    pytest.param(_path_rule("BooleanEquals"), True, None, False, id="boolean-equals-path-operand-null"),
    pytest.param(_path_rule("TimestampEquals"), TS, "2012-10-09T21:00:55+02:00", True, id="timestamp-equals-path"),
    pytest.param(_path_rule("TimestampEquals"), TS, "not a timestamp", False, id="timestamp-equals-path-operand-bad"),
    pytest.param(_path_rule("TimestampLessThan"), TS, "2012-10-09T19:00:56Z", True, id="timestamp-less-than-path"),
    pytest.param(_path_rule("TimestampGreaterThan"), TS, "2012-10-09T19:00:56Z", False, id="timestamp-greater-than-path"),
    pytest.param(_path_rule("TimestampLessThanEquals"), TS, TS, True, id="timestamp-less-than-equals-path"),
    pytest.param(_path_rule("TimestampGreaterThanEquals"), TS, TS, True, id="timestamp-greater-than-equals-path"),
]


@pytest.mark.parametrize(("rule", "left", "right", "expected"), PATH_CASES)
def test_path_operator(rule: dict[str, Any], left: Any, right: Any, expected: bool) -> None:
    assert compile_choice_rule(rule, at="/States/C/Choices/0")({"v": left, "w": right}, Scope()) is expected


# ---------------------------------------------------------------------------------------------------------------
# Variables and the context object, through the shared path compiler.


def test_variable_and_context_paths() -> None:
    scope = Scope(context={"Execution": {"Name": "run-1"}}, variables={"guess": "x", "answer": "x"})
    same = compile_choice_rule({"Variable": "$guess", "StringEqualsPath": "$answer"}, at="/r")
    assert same({}, scope) is True
    named = compile_choice_rule({"Variable": "$$.Execution.Name", "StringMatches": "run-*"}, at="/r")
    assert named({}, scope) is True


def test_missing_variable_reference_is_a_runtime_error() -> None:
    rule = compile_choice_rule({"Variable": "$nope", "IsNull": True}, at="/r")
    with pytest.raises(StatesError) as raised:
        rule({}, Scope())
    assert (raised.value.error, raised.value.cause) == ("States.Runtime", f"Invalid path '$nope': {MISSING}")


# ---------------------------------------------------------------------------------------------------------------
# And, Or, Not.

IS_A = {"Variable": "$.a", "StringEquals": "A"}
IS_ONE = {"Variable": "$.n", "NumericEquals": 1}
MISSING_X = {"Variable": "$.x", "StringEquals": "X"}  # raises when evaluated

BOOLEAN_CASES = [
    pytest.param({"And": [IS_A, IS_ONE]}, {"a": "A", "n": 1}, True, id="and-both"),
    pytest.param({"And": [IS_A, IS_ONE]}, {"a": "A", "n": 2}, False, id="and-one"),
    pytest.param({"And": [IS_A]}, {"a": "A"}, True, id="and-singleton"),
    pytest.param({"Or": [IS_A, IS_ONE]}, {"a": "B", "n": 1}, True, id="or-second"),
    pytest.param({"Or": [IS_A, IS_ONE]}, {"a": "B", "n": 2}, False, id="or-none"),
    pytest.param({"Not": IS_A}, {"a": "B"}, True, id="not"),
    pytest.param({"Not": {"Not": IS_A}}, {"a": "A"}, True, id="not-not"),
    pytest.param({"Or": [{"And": [IS_A, {"Not": IS_ONE}]}, {"Not": IS_A}]}, {"a": "A", "n": 2}, True, id="nested"),
    pytest.param({"And": [{"Variable": "$.x", "IsPresent": True}, MISSING_X]}, {}, False, id="and-short-circuits"),
    pytest.param({"Or": [IS_A, MISSING_X]}, {"a": "A"}, True, id="or-short-circuits"),
    pytest.param({"Not": {"Variable": "$.x", "IsPresent": True}}, {}, True, id="not-is-present"),
    pytest.param({"And": [IS_A], "Comment": "c"}, {"a": "A"}, True, id="comment-allowed"),
]


@pytest.mark.parametrize(("rule", "value", "expected"), BOOLEAN_CASES)
def test_boolean_operator(rule: dict[str, Any], value: Any, expected: bool) -> None:
    assert compile_choice_rule(rule, at="/r")(value, Scope()) is expected


# ---------------------------------------------------------------------------------------------------------------
# Runtime errors: a path that matches nothing.

RUNTIME_ERROR_CASES = [
    pytest.param({"Variable": "$.x", "StringEquals": "a"}, {}, "$.x", id="missing-variable"),
    pytest.param({"Variable": "$.x", "IsNull": True}, {}, "$.x", id="missing-variable-type-test"),
    pytest.param({"Variable": "$.x.y", "NumericEquals": 1}, {"x": 1}, "$.x.y", id="missing-variable-nested"),
    pytest.param({"Variable": "$.v", "NumericEqualsPath": "$.w"}, {"v": 1}, "$.w", id="missing-path-operand"),
    pytest.param({"Variable": "$.v", "StringEqualsPath": "$.w"}, {"v": 1}, "$.w", id="missing-operand-left-mistyped"),
    pytest.param({"Not": {"Variable": "$.x", "IsString": True}}, {}, "$.x", id="missing-under-not"),
    pytest.param({"And": [IS_A, MISSING_X]}, {"a": "A"}, "$.x", id="missing-under-and"),
]


@pytest.mark.parametrize(("rule", "value", "path"), RUNTIME_ERROR_CASES)
def test_runtime_error(rule: dict[str, Any], value: Any, path: str) -> None:
    with pytest.raises(StatesError) as raised:
        compile_choice_rule(rule, at="/r")(value, Scope())
    assert raised.value.error == "States.Runtime"
    assert raised.value.cause == f"Invalid path '{path}': {MISSING}"


# ---------------------------------------------------------------------------------------------------------------
# Choice states: first match, Default, no match.

STATE = {
    "Type": "Choice",
    "Choices": [
        {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
        {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
        {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20}, {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"},
        {"Variable": "$.value", "NumericGreaterThanEquals": 0, "Assign": {"x": 1}, "Comment": "c", "Next": "NonNegative"},
    ],
    "Default": "DefaultState",
}

CHOICES_CASES = [
    pytest.param(STATE, {"type": "Public", "value": 0}, "Public", id="first-match-wins"),
    pytest.param(STATE, {"type": "Private", "value": 0}, "ValueIsZero", id="second-rule"),
    pytest.param(STATE, {"type": "Private", "value": 22}, "ValueInTwenties", id="and-rule"),
    pytest.param(STATE, {"type": "Private", "value": 40}, "NonNegative", id="rule-with-assign"),
    pytest.param(STATE, {"type": "Private", "value": -1}, "DefaultState", id="default"),
    pytest.param({**STATE, "Default": None}, {"type": "Private", "value": -1}, None, id="no-match-no-default"),
    pytest.param({"Type": "Choice", "Choices": STATE["Choices"]}, {"type": "Private", "value": -1}, None, id="no-default"),
]


@pytest.mark.parametrize(("state", "value", "expected"), CHOICES_CASES)
def test_compile_choices(state: dict[str, Any], value: Any, expected: str | None) -> None:
    assert compile_choices(state, at="/States/C")(value, Scope()) == expected


def test_selector_gives_the_rule_index() -> None:
    select = choice.compile_choice_selector(STATE, at="/States/C")
    assert select({"type": "Private", "value": 40}, Scope()) == 3
    assert select({"type": "Private", "value": -1}, Scope()) is None


# ---------------------------------------------------------------------------------------------------------------
# Definition errors, reported at the offending field.

DEFINITION_ERROR_CASES = [
    pytest.param({"Variable": "$.v"}, "/r", id="no-operator"),
    pytest.param({"Variable": "$.v", "StringEquals": "a", "NumericEquals": 1}, "/r", id="two-operators"),
    pytest.param({"StringEquals": "a"}, "/r/Variable", id="no-variable"),
    pytest.param({"Variable": 1, "StringEquals": "a"}, "/r/Variable", id="variable-not-a-string"),
    pytest.param({"Variable": "$.v", "StringEquals": 1}, "/r/StringEquals", id="string-equals-number"),
    pytest.param({"Variable": "$.v", "StringMatches": 1}, "/r/StringMatches", id="string-matches-number"),
    pytest.param({"Variable": "$.v", "NumericEquals": "1"}, "/r/NumericEquals", id="numeric-equals-string"),
    pytest.param({"Variable": "$.v", "NumericEquals": True}, "/r/NumericEquals", id="numeric-equals-boolean"),
    pytest.param({"Variable": "$.v", "BooleanEquals": "true"}, "/r/BooleanEquals", id="boolean-equals-string"),
    pytest.param({"Variable": "$.v", "TimestampEquals": "2012-10-09"}, "/r/TimestampEquals", id="timestamp-equals-date"),
    pytest.param({"Variable": "$.v", "TimestampEquals": 1}, "/r/TimestampEquals", id="timestamp-equals-number"),
    pytest.param({"Variable": "$.v", "IsNull": "true"}, "/r/IsNull", id="is-null-string"),
    pytest.param({"Variable": "$.v", "IsPresent": 1}, "/r/IsPresent", id="is-present-number"),
    pytest.param({"Variable": "$.v", "NumericEqualsPath": 1}, "/r/NumericEqualsPath", id="path-operand-number"),
    pytest.param({"Variable": "$.v", "StringEquals": "a", "Foo": 1}, "/r/Foo", id="unknown-field"),
    pytest.param({"And": []}, "/r/And", id="and-empty"),
    pytest.param({"Or": {}}, "/r/Or", id="or-not-an-array"),
    pytest.param({"Not": []}, "/r/Not", id="not-an-object"),
    pytest.param({"And": [IS_A], "Or": [IS_A]}, "/r/Or", id="and-with-or"),
    pytest.param({"And": [IS_A], "Variable": "$.a"}, "/r/Variable", id="and-with-variable"),
    pytest.param({"Not": {**IS_A, "Next": "X"}}, "/r/Not/Next", id="nested-next"),
    pytest.param({"And": [IS_A, {**IS_A, "Assign": {}}]}, "/r/And/1/Assign", id="nested-assign"),
    pytest.param({"Or": [IS_A, {"Variable": "$.v", "NumericEquals": "x"}]}, "/r/Or/1/NumericEquals", id="nested-location"),
    pytest.param("rule", "/r", id="not-an-object-rule"),
    pytest.param({"Variable": "$.a[", "IsNull": True}, "/r/Variable", id="variable-bad-syntax"),
    pytest.param({"Variable": "a", "IsPresent": True}, "/r/Variable", id="is-present-bad-syntax"),
    pytest.param({"Variable": "$.a", "StringEqualsPath": "$$$"}, "/r/StringEqualsPath", id="path-operand-bad-syntax"),
]


@pytest.mark.parametrize(("rule", "location"), DEFINITION_ERROR_CASES)
def test_definition_error(rule: Any, location: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_choice_rule(rule, at="/r")
    assert [(d.code, d.location) for d in raised.value.diagnostics] == [("SCHEMA_VALIDATION_FAILED", location)]


def test_timestamp_constant_error_uses_aws_wording() -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_choice_rule({"Variable": "$.v", "TimestampLessThan": "2016-12-05 21:29:29Z"}, at="/r")
    assert raised.value.diagnostics[0].message == "String does not match RFC3339 timestamp"


@pytest.mark.parametrize(
    ("state", "location"),
    [
        pytest.param({"Type": "Choice", "Choices": []}, "/s/Choices", id="choices-empty"),
        pytest.param({"Type": "Choice"}, "/s/Choices", id="choices-missing"),
        pytest.param({"Type": "Choice", "Choices": [IS_A]}, "/s/Choices/0", id="top-level-without-next"),
        pytest.param({"Type": "Choice", "Choices": [{**IS_A, "Next": "X"}], "Default": 1}, "/s/Default", id="default-not-a-string"),
    ],
)
def test_state_definition_error(state: dict[str, Any], location: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_choices(state, at="/s")
    assert raised.value.diagnostics[0].location == location


# ---------------------------------------------------------------------------------------------------------------
# Timestamps as AWS parses them.

TIMESTAMP_CASES = [
    pytest.param("1970-01-01T00:00:00Z", (0, 0), id="epoch"),
    pytest.param("2012-10-09T19:00:55Z", (1349809255, 0), id="utc"),
    pytest.param("2012-10-09T20:00:55+01:00", (1349809255, 0), id="positive-offset"),
    pytest.param("2012-10-09T14:30:55-04:30", (1349809255, 0), id="negative-offset"),
    pytest.param("2016-03-05T21:29:29.243167252Z", (1457213369, 243167252), id="nanoseconds"),
    pytest.param("2016-03-05T21:29:29.5Z", (1457213369, 500000000), id="one-fraction-digit"),
    pytest.param("2000-02-29T00:00:00Z", (951782400, 0), id="leap-day"),
    pytest.param("1969-12-31T23:59:59Z", (-1, 0), id="before-epoch"),
    pytest.param("0000-01-01T00:00:00Z", (-62167219200, 0), id="year-zero"),
    pytest.param("2012-10-09T19:00:55", None, id="no-zone"),
    pytest.param("2012-10-09", None, id="date-only"),
    pytest.param("2012-10-09 19:00:55Z", None, id="space-separator"),
    pytest.param("2012-10-09t19:00:55z", None, id="lowercase"),
    pytest.param("2012-10-09T19:00Z", None, id="no-seconds"),
    pytest.param("2012-10-09T19:00:55.Z", None, id="empty-fraction"),
    pytest.param("2012-10-09T19:00:55.1234567891Z", None, id="ten-fraction-digits"),
    pytest.param("2012-10-09T19:00:55+0100", None, id="offset-without-colon"),
    pytest.param("2012-10-09T19:00:55+19:00", None, id="offset-out-of-range"),
    pytest.param("2016-13-05T21:29:29Z", None, id="month-13"),
    pytest.param("2016-12-05T25:29:29Z", None, id="hour-25"),
    pytest.param("2016-12-05T24:00:00Z", None, id="hour-24"),
    pytest.param("2016-12-05T23:59:60Z", None, id="leap-second"),
    pytest.param("2019-02-29T00:00:00Z", None, id="not-a-leap-year"),
    pytest.param("1900-02-29T00:00:00Z", None, id="century-not-leap"),
    pytest.param("2016-04-31T00:00:00Z", None, id="april-31"),
    pytest.param("05-12-2016T21:29:29Z", None, id="day-first"),
    pytest.param("２０１６-12-05T21:29:29Z", None, id="non-ascii-digits"),
    pytest.param("2016-12-05T21:29:29Z ", None, id="trailing-space"),
    pytest.param(20161205, None, id="number"),
]


@pytest.mark.parametrize(("text", "expected"), TIMESTAMP_CASES)
def test_parse_timestamp(text: Any, expected: tuple[int, int] | None) -> None:
    assert parse_timestamp(text) == expected


# ---------------------------------------------------------------------------------------------------------------
# Compile once: no path compilation or pattern splitting per evaluation (constants are parsed in _compile_data_test).


def test_everything_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, int] = {"compile_path": 0, "split": 0}

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(choice, "compile_path", counting("compile_path", choice.compile_path))
    monkeypatch.setattr(choice, "_split_pattern", counting("split", choice._split_pattern))
    rule = compile_choice_rule(
        {
            "And": [
                {"Variable": "$.name", "StringMatches": "log-*.txt"},
                {"Variable": "$.at", "TimestampLessThan": "2030-01-01T00:00:00Z"},
                {"Variable": "$.n", "NumericLessThanPath": "$.limit"},
            ]
        },
        at="/r",
    )
    assert calls == {"compile_path": 4, "split": 1}
    value = {"name": "log-1.txt", "at": "2020-01-01T00:00:00Z", "n": 1, "limit": 2}
    for _ in range(3):
        assert rule(value, Scope()) is True
    assert calls == {"compile_path": 4, "split": 1}


# ---------------------------------------------------------------------------------------------------------------
# Properties: StringMatches against a regular-expression oracle, string order against UTF-16 code units.


def _oracle(pattern: str) -> re.Pattern[str]:
    parts, index = [], 0
    while index < len(pattern):
        if pattern[index] == "\\" and pattern[index + 1 : index + 2] in ("*", "\\"):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if pattern[index] == "*" else re.escape(pattern[index]))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


@given(pattern=st.text(alphabet="ab*\\", max_size=8), text=st.text(alphabet="ab*\\", max_size=10))
def test_string_matches_agrees_with_a_regex(pattern: str, text: str) -> None:
    rule = compile_choice_rule({"Variable": "$.v", "StringMatches": pattern}, at="/r")
    assert rule({"v": text}, Scope()) is (_oracle(pattern).fullmatch(text) is not None)


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@given(left=st.text(max_size=5), right=st.text(max_size=5))
def test_string_order_is_java_compare_to(left: str, right: str) -> None:
    rule = compile_choice_rule({"Variable": "$.l", "StringLessThanPath": "$.r"}, at="/r")
    assert rule({"l": left, "r": right}, Scope()) is (_utf16_units(left) < _utf16_units(right))
