"""Run the JSONPath corpus cases whose definition is only Pass states, through paths/templates/intrinsics.

Each Pass state: InputPath -> Parameters (or Result) -> ResultPath -> OutputPath, as AWS documents it. The
corpus (/work/shared/conformance) was recorded on AWS; cases whose definitions use anything else are skipped
at collection, not here.
"""

from __future__ import annotations

import json
import re
from random import Random
from typing import Any

import pytest

from stepline.errors import DefinitionError, StatesError
from stepline.expr.paths import compile_path, compile_result_path
from stepline.expr.scope import Scope
from stepline.expr.templates import compile_template
from shared import CASES_DIR

CORPUS = CASES_DIR
GLOBS = (
    "intrinsic_functions/*.json",
    "base/base.test_json_path_array_*.json",
    "scenarios/base_scenarios.test_escape_sequence_parsing_ESCAPE_SEQUENCES_JSONPATH.json",
    "scenarios/base_scenarios.test_illegal_escapes_*.json",
    "scenarios/base_scenarios.test_invalid_jsonpath_INVALID_JSONPATH_IN_STRING_EXPR_*.json",
    "scenarios/base_scenarios.test_invalid_jsonpath_ST.INVALID_JSONPATH_IN_INPUTPATH.json",
    "scenarios/base_scenarios.test_invalid_jsonpath_ST.INVALID_JSONPATH_IN_OUTPUTPATH.json",
)
_PASS_FIELDS = {"Type", "Next", "End", "Comment", "InputPath", "Parameters", "Result", "ResultPath", "OutputPath"}
_PLACEHOLDER = re.compile(r"<[^<>]*(<[^<>]*>[^<>]*)?>")


def _pass_only(case: dict[str, Any]) -> bool:
    definition = case.get("definition")
    if not isinstance(definition, dict) or definition.get("QueryLanguage") == "JSONata":
        return False
    if case.get("kind") or "jsonata" in case.get("tags", []):
        return False
    states = definition.get("States", {})
    return all(state.get("Type") == "Pass" and set(state) <= _PASS_FIELDS for state in states.values())


def _cases() -> list[Any]:
    if not CORPUS.exists():
        return []
    found = []
    for pattern in GLOBS:
        for path in sorted(CORPUS.glob(pattern)):
            case = json.loads(path.read_text())
            if _pass_only(case):
                found.append(pytest.param(case, id=case["id"]))
    return found


def _matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        if _PLACEHOLDER.fullmatch(expected):
            return True
        if _PLACEHOLDER.search(expected):
            pattern = ".*".join(re.escape(part) for part in _PLACEHOLDER.sub("\0", expected).split("\0"))
            return isinstance(actual, str) and re.fullmatch(pattern, actual, re.S) is not None
        return expected == actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            _matches(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            _matches(e, a) for e, a in zip(expected, actual))
    return expected == actual


def _run(definition: dict[str, Any], execution_input: Any) -> Any:
    context = {
        "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:machine-name:exec-name",
                      "Input": execution_input, "Name": "exec-name", "RoleArn": "arn:aws:iam::111111111111:role/r",
                      "StartTime": "2024-01-01T00:00:00.000Z", "RedriveCount": 0},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:machine-name",
                         "Name": "machine-name"},
    }
    programs = {}
    for name, state in definition["States"].items():
        at = f"/States/{name}"
        programs[name] = (
            compile_path(state.get("InputPath", "$"), at=f"{at}/InputPath", field="InputPath")
            if state.get("InputPath", "$") is not None else (lambda doc, scope: {}),
            compile_template(state["Parameters"], at=f"{at}/Parameters", field="Parameters")
            if "Parameters" in state else None,
            state.get("Result"),
            compile_result_path(state.get("ResultPath", "$"), at=f"{at}/ResultPath"),
            compile_path(state.get("OutputPath", "$"), at=f"{at}/OutputPath", field="OutputPath")
            if state.get("OutputPath", "$") is not None else (lambda doc, scope: {}),
            state,
        )
    current, value = definition["StartAt"], execution_input
    while True:
        input_path, parameters, result, result_path, output_path, state = programs[current]
        scope = Scope(context={**context, "State": {"Name": current, "EnteredTime": "2024-01-01T00:00:00.000Z"}},
                      rng=Random(7))
        effective = input_path(value, scope)
        if parameters is not None:
            effective = parameters(effective, scope)
        produced = result if "Result" in state else effective
        value = output_path(result_path(value, produced), scope)
        if state.get("End"):
            return value
        current = state["Next"]


@pytest.mark.parametrize("case", _cases())
def test_corpus_case(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if "create_error" in expected:
        with pytest.raises(DefinitionError) as raised:
            _run(case["definition"], case["input"])
        diagnostic = raised.value.diagnostics[0]
        text = f"Invalid State Machine Definition: '{diagnostic.code}: {diagnostic.message} at {diagnostic.location}'"
        assert expected["create_error"]["message_contains"] in text
        return
    if expected["status"] == "SUCCEEDED":
        assert _matches(expected["output"], _run(case["definition"], case["input"]))
        return
    with pytest.raises(StatesError) as failed:
        _run(case["definition"], case["input"])
    assert failed.value.error == expected["error"]
    prefix = re.match(r"An error occurred while executing the state '[^']*' \(entered at the event id #\d+\)\. ",
                      expected["cause"])
    assert _matches(expected["cause"][prefix.end() if prefix else 0:], failed.value.cause)
