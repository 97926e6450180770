"""Workflow variables and JSONata: scopes across Parallel and Map, evaluation order, mixed query languages."""

from __future__ import annotations

import pytest

from stepline import DefinitionError, Workflow


def run(definition: dict, input: object = None):
    return Workflow(definition).run({} if input is None else input, time_scale=0)


def test_branches_see_outer_variables_and_their_assignments_do_not_leak() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Fork"},
        "Fork": {"Type": "Parallel", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"x": 10},
                                              "Output": "{% $x %}", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Output": "{% $x %}", "End": True}}},
        ], "Next": "After"},
        "After": {"Type": "Pass", "Output": "{% {'branches': $states.input, 'x': $x} %}", "End": True}}}
    result = run(definition)
    assert result.status == "SUCCEEDED", result.cause
    # A's own assignment is visible after it in its branch only: Output sees the value at state entry (1)
    assert result.output == {"branches": [1, 1], "x": 1}


def test_map_iterations_read_outer_variables_and_keep_their_own() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"bias": 100, "seen": "outer"}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": "{% [1, 2, 3] %}", "ItemProcessor": {"StartAt": "Add", "States": {
            "Add": {"Type": "Pass", "Assign": {"seen": "{% 'item ' & $string($states.input) %}"},
                    "Next": "Report"},
            "Report": {"Type": "Pass", "Output": "{% {'value': $states.input + $bias, 'seen': $seen} %}",
                       "End": True}}}, "Next": "After"},
        "After": {"Type": "Pass", "Output": "{% {'results': $states.input, 'seen': $seen} %}", "End": True}}}
    result = run(definition)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"results": [{"value": 101, "seen": "item 1"}, {"value": 102, "seen": "item 2"},
                                         {"value": 103, "seen": "item 3"}], "seen": "outer"}


def test_assign_and_output_both_see_the_values_at_state_entry() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "First", "States": {
        "First": {"Type": "Pass", "Assign": {"n": 1}, "Next": "Second"},
        "Second": {"Type": "Pass", "Assign": {"n": "{% $n + 1 %}", "previous": "{% $n %}"},
                   "Output": "{% $n %}", "Next": "Third"},
        "Third": {"Type": "Pass", "Output": "{% {'n': $n, 'previous': $previous, 'input': $states.input} %}",
                  "End": True}}}
    result = run(definition)
    assert result.output == {"n": 2, "previous": 1, "input": 1}
    exited = [e for e in result.history if e["type"] == "PassStateExited"]
    assert exited[1]["stateExitedEventDetails"]["assignedVariables"] == {"n": "2", "previous": "1"}


def test_jsonpath_assign_reads_the_result_and_later_states_read_variables() -> None:
    definition = {"StartAt": "Get", "States": {
        "Get": {"Type": "Pass", "Result": {"user": {"id": 7}}, "Assign": {"userId.$": "$.user.id"},
                "ResultPath": "$.ignored", "Next": "Use"},
        "Use": {"Type": "Pass", "Parameters": {"id.$": "$userId", "label.$": "States.Format('user {}', $userId)"},
                "End": True}}}
    result = run(definition, {"x": 1})
    assert result.output == {"id": 7, "label": "user 7"}


def test_a_jsonpath_machine_may_contain_jsonata_states() -> None:
    definition = {"StartAt": "Path", "States": {
        "Path": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "Next": "Ata"},
        "Ata": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.sum * 10 %}", "End": True}}}
    assert run(definition, {"a": 1, "b": 2}).output == 30


def test_a_jsonata_machine_may_not_contain_jsonpath_states() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Path", "States": {
        "Path": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}}}
    with pytest.raises(DefinitionError) as raised:
        Workflow(definition)
    diagnostic = raised.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.location) == ("SCHEMA_VALIDATION_FAILED", "/States/Path")
    assert "can not be 'JSONPath'" in diagnostic.message


@pytest.mark.parametrize("field, value, message", [
    pytest.param("Output", "{% $nothing %}", "returned nothing (undefined)", id="undefined-output"),
    pytest.param("Output", "{% $number('x') %}", "threw an error during evaluation", id="function-error"),
    pytest.param("Assign", {"v": "{% $missing %}"}, "specified for the field 'Assign/v'", id="assign-path"),
])
def test_jsonata_errors_are_query_evaluation_errors(field: str, value: object, message: str) -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": {"Type": "Pass", field: value, "End": True}}}
    result = run(definition)
    assert result.error == "States.QueryEvaluationError"
    assert message in result.cause
    assert result.cause.startswith("An error occurred while executing the state 'S' (entered at the event id #2).")
    assert [e["type"] for e in result.history][-2:] == ["EvaluationFailed", "ExecutionFailed"]


def test_query_evaluation_errors_can_be_caught_with_the_error_output() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                 "Arguments": "{% $undefinedVariable %}",
                 "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Handled",
                            "Output": "{% $states.errorOutput.Error %}"}], "End": True},
        "Handled": {"Type": "Pass", "End": True}}}
    result = run(definition)
    assert (result.status, result.output) == ("SUCCEEDED", "States.QueryEvaluationError")


def test_step_functions_jsonata_functions() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "Output": {
        "partition": "{% $partition([1, 2, 3, 4, 5], 2) %}",
        "range": "{% $range(0, 10, 5) %}",
        "hash": "{% $hash('abc', 'SHA-256') %}",
        "parse": "{% $parse('{\"a\": [1]}') %}",
        "uuid": "{% $length($uuid()) %}",
        "random": "{% $random() < 1 %}",
    }, "End": True}}}
    result = run(definition)
    assert result.output == {
        "partition": [[1, 2], [3, 4], [5]], "range": [0, 5, 10],
        "hash": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "parse": {"a": [1]}, "uuid": 36, "random": True}


def test_seeded_runs_draw_the_same_uuids() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": {"Type": "Pass", "Output": "{% $uuid() %}", "End": True}}}
    workflow = Workflow(definition)
    first, second = (workflow.run({}, time_scale=0, seed=42) for _ in range(2))
    assert first.output == second.output
    assert workflow.run({}, time_scale=0, seed=43).output != first.output
