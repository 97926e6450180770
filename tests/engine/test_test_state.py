"""engine/test_state.py: one state run in isolation, its status and its inspection data."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from stepline.engine.effects import InvokeTask
from stepline.engine.test_state import (
    DEBUG,
    INFO,
    TRACE,
    Mock,
    StateConfiguration,
    StateNotFound,
    StateTest,
    compile_for_test,
)
from stepline.errors import DefinitionError

NOW = datetime(2025, 1, 15, 10, 30, tzinfo=timezone.utc)
LAMBDA = "arn:aws:states:::lambda:invoke"


def start(definition: dict, input: Any = None, *, state_name: str | None = None, **options: Any) -> StateTest:
    program, state = compile_for_test(definition, state_name)
    options.setdefault("inspection_level", DEBUG)
    test = StateTest(program, state, input={} if input is None else input,
                     execution_arn="arn:aws:states:us-east-1:1:express:m:e", execution_name="e",
                     state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:m", state_machine_name="m",
                     role_arn="arn:aws:iam::1:role/r", start_time=NOW, **options)
    assert test.start(NOW) is None
    return test


def run(definition: dict, input: Any = None, **options: Any) -> dict:
    response = start(definition, input, **options).response()
    if "output" in response:
        response["output"] = json.loads(response["output"])
    for key, value in response.get("inspectionData", {}).items():
        if isinstance(value, str):
            response["inspectionData"][key] = json.loads(value)
    return response


# ---------------------------------------------------------------------------------------------- statuses

def test_succeeded_pass_reports_each_step_of_the_data_flow() -> None:
    state = {"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$.b"}, "ResultPath": "$.r",
             "OutputPath": "$.r", "Next": "Elsewhere"}
    response = run(state, {"a": {"b": 1}})
    assert response == {
        "status": "SUCCEEDED", "output": {"x": 1}, "nextState": "Elsewhere",
        "inspectionData": {"input": {"a": {"b": 1}}, "afterInputPath": {"b": 1}, "afterParameters": {"x": 1},
                           "afterResultSelector": {"x": 1}, "afterResultPath": {"a": {"b": 1}, "r": {"x": 1}}},
    }


def test_pass_result_wins_over_parameters() -> None:
    response = run({"Type": "Pass", "Parameters": {"p": 1}, "Result": {"r": 2}, "End": True}, {})
    assert response["output"] == {"r": 2}
    assert set(response["inspectionData"]) == {"input", "result", "afterResultSelector", "afterResultPath"}


def test_failed_fail_state() -> None:
    response = run({"Type": "Fail", "Error": "Oops", "Cause": "Because"}, {"v": 1})
    assert response == {"status": "FAILED", "error": "Oops", "cause": "Because",
                        "inspectionData": {"input": {"v": 1}, "afterInputPath": {"v": 1}}}


def test_retriable_reports_the_retrier_and_its_backoff() -> None:
    state = {"Type": "Task", "Resource": LAMBDA, "Arguments": {"FunctionName": "f"}, "QueryLanguage": "JSONata",
             "Retry": [{"ErrorEquals": ["Other"]}, {"ErrorEquals": ["Boom"], "IntervalSeconds": 3, "BackoffRate": 2}],
             "End": True}
    response = run(state, {}, mock=Mock(error="Boom", cause="bad"),
                   configuration=StateConfiguration(retrier_retry_count=2))
    assert response["status"] == "RETRIABLE"
    assert (response["error"], response["cause"]) == ("Boom", "bad")
    assert response["inspectionData"]["errorDetails"] == {"retryIndex": 1, "retryBackoffIntervalSeconds": 12}
    assert "output" not in response


def test_exhausted_retrier_fails_and_names_it() -> None:
    state = {"Type": "Task", "Resource": LAMBDA, "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}], "End": True}
    response = run(state, {}, mock=Mock(error="Boom"), configuration=StateConfiguration(retrier_retry_count=2))
    assert response["status"] == "FAILED"
    assert response["error"] == "Boom" and "cause" not in response
    assert response["inspectionData"]["errorDetails"] == {"retryIndex": 0}


def test_caught_error_reports_catch_output_and_next_state() -> None:
    state = {"Type": "Task", "Resource": LAMBDA, "Parameters": {"FunctionName": "f"},
             "Catch": [{"ErrorEquals": ["Nope"], "Next": "A"}, {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err",
                                                                "Next": "Handler"}], "End": True}
    response = run(state, {"k": 1}, mock=Mock(error="Boom", cause="bad"))
    assert response["status"] == "CAUGHT_ERROR"
    assert response["nextState"] == "Handler"
    assert response["output"] == {"k": 1, "err": {"Error": "Boom", "Cause": "bad"}}
    assert response["inspectionData"]["errorDetails"] == {"catchIndex": 1}
    assert response["inspectionData"]["afterParameters"] == {"FunctionName": "f"}


# ---------------------------------------------------------------------------------------------- state types

def test_choice_reports_next_state() -> None:
    state = {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericGreaterThan": 1, "Next": "Big"}],
             "Default": "Small"}
    assert run(state, {"v": 5})["nextState"] == "Big"
    assert run(state, {"v": 0})["nextState"] == "Small"


def test_wait_does_not_wait() -> None:
    response = run({"Type": "Wait", "Seconds": 10**6, "Next": "After"}, {"a": 1})
    assert response["status"] == "SUCCEEDED" and response["nextState"] == "After" and response["output"] == {"a": 1}


def test_parallel_takes_its_mocked_result() -> None:
    state = {"Type": "Parallel", "ResultSelector": {"first.$": "$[0]"}, "End": True,
             "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}] * 2}
    response = run(state, {}, mock=Mock(result=[1, 2]))
    assert response["output"] == {"first": 1}
    assert response["inspectionData"] == {"input": {}, "afterResultSelector": {"first": 1},
                                          "afterResultPath": {"first": 1}}


MAP = {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"v.$": "$$.Map.Item.Value"}, "MaxConcurrency": 2,
       "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}


def test_map_reports_items_and_limits() -> None:
    response = run({**MAP, "ToleratedFailurePercentage": 50}, {"items": [1, 2]}, mock=Mock(result=["a", "b"]))
    assert response["output"] == ["a", "b"]
    data = response["inspectionData"]
    assert data["afterItemsPath"] == [1, 2]
    assert data["afterItemSelector"] == [{"v": 1}, {"v": 2}]
    assert data["maxConcurrency"] == 2 and data["toleratedFailurePercentage"] == 50.0


@pytest.mark.parametrize(("tolerance", "failures", "status"), [
    pytest.param({"ToleratedFailureCount": 1}, 1, "SUCCEEDED", id="count-within"),
    pytest.param({"ToleratedFailureCount": 1}, 2, "FAILED", id="count-exceeded"),
    pytest.param({"ToleratedFailurePercentage": 50}, 2, "SUCCEEDED", id="percentage-within"),
    pytest.param({"ToleratedFailurePercentage": 50}, 3, "FAILED", id="percentage-exceeded"),
    pytest.param({}, 3, "SUCCEEDED", id="no-tolerance-no-threshold"),
])
def test_map_iteration_failure_count(tolerance: dict, failures: int, status: str) -> None:
    response = run({**MAP, **tolerance}, {"items": [1, 2, 3, 4]}, mock=Mock(result=[]),
                   configuration=StateConfiguration(map_iteration_failure_count=failures))
    assert response["status"] == status
    if status == "FAILED":
        assert response["error"] == "States.ExceedToleratedFailureThreshold"


def test_map_item_reader_data_gives_the_items() -> None:
    state = {**MAP, "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {}}}
    del state["ItemsPath"]
    response = run(state, {}, mock=Mock(result=[]), item_reader=True,
                   configuration=StateConfiguration(map_item_reader_data=[7, 8]))
    assert response["inspectionData"]["afterItemsPath"] == [7, 8]


# ------------------------------------------------------------------------------------ levels, context, variables

@pytest.mark.parametrize("level", [INFO, DEBUG, TRACE])
def test_inspection_level(level: str) -> None:
    response = run({"Type": "Pass", "End": True}, {"a": 1}, inspection_level=level)
    assert ("inspectionData" in response) == (level != INFO)


def test_jsonata_reports_input_arguments_result_and_variables() -> None:
    state = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": LAMBDA,
             "Arguments": {"FunctionName": "{% $fn %}"}, "Assign": {"got": "{% $states.result.r %}"},
             "Output": "{% $states.result %}", "End": True}
    response = run(state, {"i": 1}, mock=Mock(result={"r": 5}), variables={"fn": "f"})
    assert response["output"] == {"r": 5}
    assert response["inspectionData"] == {"input": {"i": 1}, "afterArguments": {"FunctionName": "f"},
                                          "result": {"r": 5}, "variables": {"fn": "f", "got": 5}}


def test_default_context_names_the_state_state_name() -> None:
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.context %}", "End": True}
    context = run(state, {"i": 1})["output"]
    assert context["State"]["Name"] == "StateName"
    assert context["Execution"]["Input"] == {"i": 1} and "RedriveCount" not in context["Execution"]


def test_given_context_is_used_as_is() -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
             "Parameters": {"Token.$": "$$.Task.Token", "All.$": "$$"}, "End": True}
    test = start(state, {}, mock=Mock(result={}), context={"Task": {"Token": "abc"}})
    parameters = json.loads(test.response()["inspectionData"]["afterParameters"])
    assert parameters == {"Token": "abc", "All": {"Task": {"Token": "abc"}}}


# ---------------------------------------------------------------------------------------- finding the state, tasks

def test_state_name_finds_nested_states() -> None:
    definition = {"StartAt": "M", "States": {"M": {**MAP, "ItemProcessor": {
        "StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Result": 1, "End": True}}}}}}
    _, state = compile_for_test(definition, "Inner")
    assert state.name == "Inner"
    with pytest.raises(StateNotFound):
        compile_for_test(definition, "Missing")


def test_lone_state_may_name_undefined_targets_but_must_be_valid() -> None:
    compile_for_test({"Type": "Pass", "Next": "Nowhere"}, None)
    with pytest.raises(DefinitionError):
        compile_for_test({"Type": "Parallel", "Branches": [], "End": True}, None)


def test_unmocked_task_is_handed_to_the_caller() -> None:
    program, state = compile_for_test({"Type": "Task", "Resource": LAMBDA, "Parameters": {"FunctionName": "f"},
                                       "End": True}, None)
    test = StateTest(program, state, input={}, execution_arn="arn:x", execution_name="e", state_machine_arn="arn:y",
                     state_machine_name="m", role_arn=None, start_time=NOW)
    call = test.start(NOW)
    assert isinstance(call, InvokeTask) and call.parameters == {"FunctionName": "f"}
    assert test.task_succeeded({"Payload": 1}) is None
    assert test.response() == {"status": "SUCCEEDED", "output": '{"Payload":1}'}
