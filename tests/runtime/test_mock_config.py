"""AWS Step Functions Local MockConfigFile: loading, test cases, invocation ranges, Return/Throw, bad files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import check_history, details, events_of, lambda_arn, machine

from stepline.runtime.integrations.mock_config import MockConfig, MockConfigError
from stepline.service.workflow import Result, Workflow

SQS = "arn:aws:states:::sqs:sendMessage"


def _config(cases: dict[str, dict[str, str]], responses: dict[str, dict], name: str = "m") -> dict:
    return {"StateMachines": {name: {"TestCases": cases}}, "MockedResponses": responses}


def _run(definition: dict, config: dict | MockConfig | Path, test_case: str, input: Any = None, name: str = "m",
         functions: dict | None = None) -> Result:
    workflow = Workflow(definition, name=name, mock_config=config if isinstance(config, (MockConfig, Path))
                        else MockConfig.from_json(config), functions=functions)
    result = workflow.run(input, time_scale=0, test_case=test_case)
    check_history(result.history)
    return result


def _task(resource: str = SQS, **fields: Any) -> dict:
    return {"Type": "Task", "Resource": resource, **fields}


# ---------------------------------------------------------------------------------------------------------------
# Loading and test case selection

AWS_EXAMPLE = {  # the example of AWS's "Configuration file for mocked service integrations" page
    "StateMachines": {"LambdaSQSIntegration": {"TestCases": {
        "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
        "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"},
        "HybridPath": {"LambdaState": "MockedLambdaSuccess"}}}},
    "MockedResponses": {
        "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200,
                                                                                "body": "Hello from Lambda!"}}}},
        "LambdaMockedResourceNotReady": {"0": {"Throw": {"Error": "Lambda.ResourceNotReadyException",
                                                         "Cause": "Lambda resource is not ready."}}},
        "MockedSQSSuccess": {"0": {"Return": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}}},
        "MockedLambdaRetry": {
            "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
            "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
            "3": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}},
    },
}

AWS_MACHINE = machine({
    "LambdaState": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "HelloFunction", "Payload.$": "$"},
                    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3,
                               "BackoffRate": 2}],
                    "Next": "SQSState"},
    "SQSState": {"Type": "Task", "Resource": SQS, "Parameters": {"QueueUrl": "q", "MessageBody.$": "$"},
                 "End": True},
})


def test_load_from_file_and_run_each_test_case(tmp_path: Path) -> None:
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(AWS_EXAMPLE))
    config = MockConfig.load(path)
    assert set(config.state_machines["LambdaSQSIntegration"]) == {"HappyPath", "RetryPath", "HybridPath"}

    happy = _run(AWS_MACHINE, path, "HappyPath", name="LambdaSQSIntegration")
    assert happy.output == {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}
    succeeded = events_of(happy.history, "TaskSucceeded")
    assert json.loads(details(succeeded[0])["output"])["Payload"]["body"] == "Hello from Lambda!"

    retry = _run(AWS_MACHINE, config, "RetryPath", name="LambdaSQSIntegration")
    assert retry.status == "SUCCEEDED"
    failures = [details(e)["error"] for e in events_of(retry.history, "TaskFailed")]
    assert failures == ["Lambda.ResourceNotReadyException", "Lambda.TimeoutException", "Lambda.TimeoutException"]
    assert retry.stop_date - retry.start_date == timedelta(seconds=2 + 4 + 8)


def test_hybrid_test_case_falls_through_to_local_functions() -> None:
    definition = machine({
        "LambdaState": {**AWS_MACHINE["States"]["LambdaState"], "Next": "Local"},
        "Local": {"Type": "Task", "Resource": lambda_arn("local"), "End": True},
    })
    result = _run(definition, AWS_EXAMPLE, "HybridPath", name="LambdaSQSIntegration",
                  functions={"local": lambda event, context: {"local": event["Payload"]["body"]}})
    assert result.output == {"local": "Hello from Lambda!"}


@pytest.mark.parametrize(("machine_name", "test_case"), [
    pytest.param("LambdaSQSIntegration", "Nope", id="unknown-test-case"),
    pytest.param("Other", "HappyPath", id="unknown-state-machine"),
])
def test_missing_test_case_is_a_clear_error(machine_name: str, test_case: str) -> None:
    workflow = Workflow(AWS_MACHINE, name=machine_name, mock_config=MockConfig.from_json(AWS_EXAMPLE))
    with pytest.raises(MockConfigError, match=f"no test case '{test_case}' for state machine '{machine_name}'"):
        workflow.run({}, time_scale=0, test_case=test_case)


def test_test_case_without_mock_config_is_an_error() -> None:
    with pytest.raises(ValueError, match="mock config"):
        Workflow(AWS_MACHINE).run({}, time_scale=0, test_case="HappyPath")


# ---------------------------------------------------------------------------------------------------------------
# Responses: ranges, Return and Throw, counting per state


@pytest.mark.parametrize(("responses", "calls", "expected"), [
    pytest.param({"0": {"Return": "a"}}, 1, ["a"], id="single"),
    pytest.param({"0": {"Return": "a"}, "1-2": {"Return": "b"}, "3": {"Return": "c"}}, 4, ["a", "b", "b", "c"],
                 id="range"),
    pytest.param({"1-2": {"Return": "b"}, "0": {"Return": "a"}}, 3, ["a", "b", "b"], id="keys-in-any-order"),
    pytest.param({"0-9": {"Return": None}}, 3, [None, None, None], id="null-return"),
])
def test_invocations_counted_per_state_across_the_execution(responses: dict, calls: int, expected: list) -> None:
    """A loop through the same Task state uses the next invocation number each time round."""
    definition = machine({
        "T": _task(ResultPath=None, Next="Count"),
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Again?"},
        "Again?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": calls, "Next": "T"}],
                   "Default": "Done"},
        "Done": {"Type": "Succeed"},
    })
    result = _run(definition, _config({"t": {"T": "R"}}, {"R": responses}), "t", {"n": 0})
    assert result.output == {"n": calls}
    assert [json.loads(details(e)["output"]) for e in events_of(result.history, "TaskSucceeded")] == expected


def test_throw_with_and_without_cause() -> None:
    responses = {"R": {"0": {"Throw": {"Error": "Custom.Error", "Cause": "why"}},
                       "1": {"Throw": {"Error": "Other.Error"}}}}
    definition = machine({"T": _task(Retry=[{"ErrorEquals": ["Custom.Error"], "IntervalSeconds": 1}], End=True)})
    result = _run(definition, _config({"t": {"T": "R"}}, responses), "t")
    assert (result.status, result.error, result.cause) == ("FAILED", "Other.Error", None)
    failed = events_of(result.history, "TaskFailed")
    assert [details(e).get("cause") for e in failed] == ["why", None]
    assert details(failed[0])["resourceType"] == "sqs"


def test_counting_across_retries_reaches_the_success() -> None:
    responses = {"R": {"0-1": {"Throw": {"Error": "Busy", "Cause": "c"}}, "2": {"Return": {"ok": True}}}}
    definition = machine({"T": _task(Retry=[{"ErrorEquals": ["Busy"], "IntervalSeconds": 1}], End=True)})
    result = _run(definition, _config({"t": {"T": "R"}}, responses), "t")
    assert result.output == {"ok": True}
    assert result.event_types().count("TaskScheduled") == 3


def test_counting_across_map_iterations() -> None:
    responses = {"R": {"0": {"Return": "first"}, "1-2": {"Return": "middle"}, "3": {"Return": "last"}}}
    definition = machine({"M": {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {
        "StartAt": "T", "States": {"T": _task(End=True)}}, "End": True}})
    result = _run(definition, _config({"t": {"T": "R"}}, responses), "t", [1, 2, 3, 4])
    assert result.output == ["first", "middle", "middle", "last"]


def test_counts_are_per_state() -> None:
    responses = {"A": {"0": {"Return": "a0"}, "1": {"Return": "a1"}}, "B": {"0": {"Return": "b0"}}}
    definition = machine({
        "One": _task(ResultPath="$.one", Next="Two"),
        "Two": _task(ResultPath="$.two", Next="Three"),
        "Three": _task(ResultPath="$.three", End=True),
    })
    result = _run(definition, _config({"t": {"One": "A", "Two": "B", "Three": "A"}}, responses), "t")
    assert result.output == {"one": "a0", "two": "b0", "three": "a0"}  # Three counts its own invocations


def test_no_response_for_an_invocation_fails_the_execution_clearly() -> None:
    definition = machine({"T": _task(Retry=[{"ErrorEquals": ["Busy"]}], End=True)})
    result = _run(definition, _config({"t": {"T": "R"}}, {"R": {"0": {"Throw": {"Error": "Busy"}}}}), "t")
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "'R'" in result.cause and "invocation 1" in result.cause and "'T'" in result.cause


@pytest.mark.parametrize(("resource", "expected"), [
    pytest.param(lambda_arn("f"), {"body": "hi"}, id="function-arn-gets-payload"),
    pytest.param("arn:aws:states:::lambda:invoke", {"StatusCode": 200, "Payload": {"body": "hi"}},
                 id="lambda-invoke-gets-response"),
])
def test_mocked_lambda_return_shape(resource: str, expected: dict) -> None:
    responses = {"R": {"0": {"Return": {"StatusCode": 200, "Payload": {"body": "hi"}}}}}
    definition = machine({"T": _task(resource, Parameters={"FunctionName": "f"}, End=True)})
    assert _run(definition, _config({"t": {"T": "R"}}, responses), "t").output == expected


@pytest.mark.parametrize(("answer", "status", "last"), [
    pytest.param({"Return": {"approved": True}}, "SUCCEEDED", "TaskSucceeded", id="return"),
    pytest.param({"Throw": {"Error": "Rejected", "Cause": "no"}}, "FAILED", "TaskFailed", id="throw"),
])
def test_wait_for_task_token_emits_task_submitted(answer: dict, status: str, last: str) -> None:
    definition = machine({"T": _task("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                     Parameters={"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                                     End=True)})
    result = _run(definition, _config({"t": {"T": "R"}}, {"R": {"0": answer}}), "t")
    assert result.status == status
    types = result.event_types()
    assert types[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", last]
    submitted = events_of(result.history, "TaskSubmitted")[0]
    assert details(submitted)["resource"] == "sendMessage.waitForTaskToken"
    token = json.loads(details(events_of(result.history, "TaskScheduled")[0])["parameters"])["MessageBody"]["token"]
    assert isinstance(token, str) and token


# ---------------------------------------------------------------------------------------------------------------
# Bad files


@pytest.mark.parametrize(("document", "message"), [
    pytest.param([], "must be a JSON object", id="not-an-object"),
    pytest.param({"StateMachines": []}, "StateMachines must be an object", id="state-machines-array"),
    pytest.param({"StateMachines": {"m": "x"}}, "StateMachines.m must be an object", id="machine-not-object"),
    pytest.param({"StateMachines": {"m": {"TestCases": [1]}}}, "StateMachines.m.TestCases must be an object",
                 id="test-cases-array"),
    pytest.param({"StateMachines": {"m": {"TestCases": {"t": ["S"]}}}}, "StateMachines.m.TestCases.t must be",
                 id="test-case-not-object"),
    pytest.param({"StateMachines": {"m": {"TestCases": {"t": {"S": "Missing"}}}}},
                 'StateMachines.m.TestCases.t.S: the mocked response "Missing" is not in MockedResponses',
                 id="unknown-response-name"),
    pytest.param({"MockedResponses": {"R": [{"Return": 1}]}}, "MockedResponses.R must be an object",
                 id="responses-array"),
    pytest.param({"MockedResponses": {"R": {"first": {"Return": 1}}}}, "'first' is not an invocation number",
                 id="key-not-a-number"),
    pytest.param({"MockedResponses": {"R": {"2-1": {"Return": 1}}}}, "'2-1' is not an invocation number",
                 id="backwards-range"),
    pytest.param({"MockedResponses": {"R": {"-1": {"Return": 1}}}}, "'-1' is not an invocation number",
                 id="negative"),
    pytest.param({"MockedResponses": {"R": {"0": {"Retrun": 1}}}}, "MockedResponses.R.0 must be an object with "
                 "exactly one field, Return or Throw", id="misspelt-return"),
    pytest.param({"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {"Error": "E"}}}}}, "exactly one field",
                 id="return-and-throw"),
    pytest.param({"MockedResponses": {"R": {"0": "ok"}}}, "exactly one field", id="answer-not-object"),
    pytest.param({"MockedResponses": {"R": {"0": {"Throw": "E"}}}}, "MockedResponses.R.0.Throw must be an object "
                 "with an Error string", id="throw-not-object"),
    pytest.param({"MockedResponses": {"R": {"0": {"Throw": {"Cause": "c"}}}}}, "Error string", id="throw-no-error"),
])
def test_bad_documents_raise_mock_config_error(document: Any, message: str) -> None:
    with pytest.raises(MockConfigError) as raised:
        MockConfig.from_json(document)
    assert message in str(raised.value)


@pytest.mark.parametrize(("content", "message"), [
    pytest.param(None, "Cannot read the mock config file", id="missing-file"),
    pytest.param("{not json", "is not valid JSON", id="malformed-json"),
    pytest.param('{"StateMachines": 1}', "StateMachines must be an object", id="bad-structure"),
])
def test_bad_files_raise_mock_config_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "mock.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MockConfigError, match=message) as raised:
        Workflow(AWS_MACHINE, mock_config=path)
    if content is not None:
        assert str(path) in str(raised.value) or "StateMachines" in str(raised.value)
