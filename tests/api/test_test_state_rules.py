"""TestState's documented rules, through boto3 against `stepline serve`: the API reference's members and errors
(TestState, MockInput, MockErrorOutput, TestStateConfiguration, InspectionData) and the Developer Guide's rules
for mocks, state configuration and inspection levels. Messages marked "recorded" are AWS's (conformance corpus);
the others are stepline's own wording of a documented rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from serving import ROLE, StepLine

LAMBDA = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
          "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "End": True}
CALL = {k: v for k, v in LAMBDA.items() if k != "End"}  # a Task that goes on to "After"
RETRYING = {**CALL, "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "BackoffRate": 3,
                               "MaxAttempts": 2}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "Next": "After"}
START_EXECUTION = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                   "Parameters": {"StateMachineArn": "arn"}, "End": True}
INNER = {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": True}}}
MAP = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": INNER, "ToleratedFailureCount": 1, "End": True}
READER_MAP = {"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                            "ReaderConfig": {"InputType": "JSON"},
                                            "Parameters": {"Bucket": "b", "Key": "k"}},
              "ItemProcessor": {**INNER, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}},
              "End": True}
PARALLEL = {"Type": "Parallel", "Branches": [INNER, {"StartAt": "Other", "States": {"Other": {"Type": "Pass",
                                                                                          "End": True}}}],
            "End": True}
PASS = {"Type": "Pass", "End": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("teststate") / "stepline.db")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def sfn(server: StepLine) -> Any:
    return server.client(parameter_validation=False)  # the server, not boto3, must refuse what is invalid


def run_state(sfn: Any, definition: Any, **request: Any) -> dict:
    return sfn.test_state(definition=json.dumps(definition), **request)


def error_of(sfn: Any, definition: Any, **request: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        run_state(sfn, definition, **request)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def mock(result: Any) -> dict:
    return {"result": json.dumps(result)}


def error_mock(error: str = "Boom", cause: str = "it broke") -> dict:
    return {"errorOutput": {"error": error, "cause": cause}}


# ------------------------------------------------------------------------------------------ the request members

@pytest.mark.parametrize(("definition", "request_members", "code", "message"), [
    # the service model: enums and ranges (TestStateInput, MockInput, TestStateConfiguration)
    pytest.param(PASS, {"inspectionLevel": "ALL"}, "ValidationException",
                 "1 validation error detected: Value 'ALL' at 'inspectionLevel' failed to satisfy constraint: Member "
                 "must satisfy enum value set: [INFO, DEBUG, TRACE]", id="inspection-level-enum"),
    pytest.param(LAMBDA, {"mock": {**mock({}), "fieldValidationMode": "LOOSE"}}, "ValidationException",
                 "1 validation error detected: Value 'LOOSE' at 'mock.fieldValidationMode' failed to satisfy "
                 "constraint: Member must satisfy enum value set: [STRICT, PRESENT, NONE]", id="field-mode-enum"),
    pytest.param(RETRYING, {"mock": error_mock(), "stateConfiguration": {"retrierRetryCount": -1}},
                 "ValidationException", "1 validation error detected: Value '-1' at 'stateConfiguration."
                 "retrierRetryCount' failed to satisfy constraint: Member must have value greater than or equal to 0",
                 id="retrier-retry-count-range"),
    # roleArn: an IAM role's ARN (InvalidArn), needed to call a service, optional with a mock
    pytest.param(LAMBDA, {"mock": mock({}), "roleArn": "not-a-role"}, "InvalidArn",
                 "Invalid Role Arn: 'not-a-role'", id="role-arn-invalid"),
    pytest.param(LAMBDA, {}, "ValidationException", "RoleArn must be specified when testing a Task state",
                 id="unmocked-task-needs-role"),  # recorded
    # what needs a mock: Map and Parallel (recorded), activities, .sync and .waitForTaskToken
    pytest.param(MAP, {}, "InvalidDefinition", "TestState API does not support Map or Parallel states. Supported "
                 "state types include: [Task, Wait, Pass, Succeed, Fail, Choice]", id="map-needs-mock"),
    pytest.param(PARALLEL, {}, "InvalidDefinition", "TestState API does not support Map or Parallel states. "
                 "Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]", id="parallel-needs-mock"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:us-east-1:123456789012:activity:work"}, {"roleArn": ROLE},
                 "ValidationException", "TestState supports Activity tasks and the .sync and .waitForTaskToken "
                 "integration patterns only when a mock is specified", id="activity-needs-mock"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}, {"roleArn": ROLE},
                 "ValidationException", "TestState supports Activity tasks and the .sync and .waitForTaskToken "
                 "integration patterns only when a mock is specified", id="callback-needs-mock"),
    # what a mock may be given for, and what it must hold (recorded)
    pytest.param(PASS, {"mock": mock({})}, "ValidationException",
                 "State type 'Pass' is not supported when a mock is specified", id="mock-on-pass"),
    pytest.param(LAMBDA, {"mock": {**mock({}), **error_mock()}}, "ValidationException",
                 "A test mock should have only one of the following fields: [result, errorOutput].",
                 id="mock-result-and-error"),
    pytest.param(LAMBDA, {"mock": {"fieldValidationMode": "NONE"}}, "ValidationException",
                 "A test mock should have one of the following fields: [result, errorOutput].", id="mock-empty"),
    pytest.param(LAMBDA, {"mock": {"errorOutput": {"cause": "no error"}}}, "ValidationException",
                 "A mocked errorOutput must specify an error", id="mock-error-needs-error"),
    pytest.param(LAMBDA, {"mock": {"result": "{not json"}}, "ValidationException",
                 "Mocked result must be valid JSON", id="mock-result-not-json"),
    pytest.param(LAMBDA, {"mock": mock({}), "revealSecrets": True}, "ValidationException",
                 "TestState does not support RevealSecrets when a mock is specified.", id="reveal-secrets-with-mock"),
    # context: only with a mock, only the fields a state can see (recorded)
    pytest.param(PASS, {"context": "{}"}, "ValidationException",
                 "A Context object can only be specified when a mock is specified", id="context-needs-mock"),
    pytest.param(LAMBDA, {"mock": mock({}), "context": '{"Map": {"Item": {}}}'}, "ValidationException",
                 "Invalid Context object provided: 'Map' field is not supported when mocking a Context object",
                 id="context-map"),
    pytest.param(LAMBDA, {"mock": mock({}), "context": '{"Execution": {"Id": 1}}'}, "ValidationException",
                 "Invalid Context object provided: Execution.Id must be a string", id="context-field-type"),
    # variables: a JSON object
    pytest.param(PASS, {"variables": "[1]"}, "ValidationException", "Variables must be a valid JSON object",
                 id="variables-not-object"),
    pytest.param(PASS, {"variables": '{"two words": 1}'}, "ValidationException", "The variable name 'two words' is "
                 "not valid: a variable name is a letter or '_' followed by letters, digits or '_', at most 80 "
                 "characters, and not 'states'", id="variables-names"),
    # stateName: a state of a whole definition, at any depth (recorded)
    pytest.param({"StartAt": "A", "States": {"A": PASS}}, {"stateName": "B"}, "ValidationException",
                 "State not found in definition", id="state-name-unknown"),
    # Map and Parallel mocks (recorded)
    pytest.param(MAP, {"mock": mock({"not": "an array"}), "input": '{"items": [1]}'}, "ValidationException",
                 "Mocked result must be an array.", id="map-mock-array"),
    pytest.param(PARALLEL, {"mock": mock([1])}, "ValidationException",
                 "Mocked result must contain the same number of items as number of Parallel branches.",
                 id="parallel-mock-one-per-branch"),
    # stateConfiguration: each member only where it applies
    pytest.param(PASS, {"stateConfiguration": {"retrierRetryCount": 1}}, "ValidationException",
                 "retrierRetryCount is not supported for state type 'Pass': only Task, Map and Parallel states have "
                 "a Retry field", id="retrier-retry-count-on-pass"),
    pytest.param(LAMBDA, {"mock": mock({}), "stateConfiguration": {"mapIterationFailureCount": 1}},
                 "ValidationException", "mapIterationFailureCount can only be specified when testing a Map state",
                 id="failure-count-on-task"),
    pytest.param(PARALLEL, {"mock": mock([1, 2]), "stateConfiguration": {"mapItemReaderData": "[1]"}},
                 "ValidationException", "mapItemReaderData can only be specified when testing a Map state with an "
                 "ItemReader", id="reader-data-on-parallel"),
    pytest.param(MAP, {"mock": mock([]), "input": '{"items": []}', "stateConfiguration": {"mapItemReaderData": "[1]"}},
                 "ValidationException", "mapItemReaderData can only be specified when testing a Map state with an "
                 "ItemReader", id="reader-data-without-reader"),
    pytest.param(READER_MAP, {"mock": mock([]), "stateConfiguration": {"mapItemReaderData": "[1,"}},
                 "ValidationException", "mapItemReaderData must be valid JSON", id="reader-data-not-json"),
    pytest.param(LAMBDA, {"mock": error_mock(), "stateConfiguration": {"errorCausedByState": "Inner"}},
                 "ValidationException", "errorCausedByState can only be specified when testing a Map or Parallel "
                 "state", id="caused-by-on-task"),
    pytest.param(PARALLEL, {"mock": mock([1, 2]), "stateConfiguration": {"errorCausedByState": "Inner"}},
                 "ValidationException", "errorCausedByState can only be specified when mock.errorOutput is specified",
                 id="caused-by-without-mocked-error"),
    pytest.param(PARALLEL, {"mock": error_mock(), "stateConfiguration": {"errorCausedByState": "Elsewhere"}},
                 "ValidationException", "errorCausedByState 'Elsewhere' is not a state of the Parallel state "
                 "'StateName'", id="caused-by-unknown-state"),
])
def test_request_rules(sfn: Any, definition: Any, request_members: dict, code: str, message: str) -> None:
    assert error_of(sfn, definition, **request_members) == (code, message)


def test_definition_is_required(sfn: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sfn.test_state(input="{}")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "'definition' failed to satisfy constraint: Member must not be null" in \
        caught.value.response["Error"]["Message"]


# ------------------------------------------------------------------------------------------ mock validation

@pytest.mark.parametrize(("definition", "result", "mode", "problem"), [
    pytest.param(START_EXECUTION, {"StartDate": "2025-01-01T00:00:00Z"}, None,
                 "Required field 'ExecutionArn' is missing", id="strict-by-default"),
    pytest.param(START_EXECUTION, {"ExecutionArn": None, "StartDate": "2025-01-01T00:00:00Z"}, "STRICT",
                 "Required field 'ExecutionArn' is missing", id="strict-null-is-missing"),
    pytest.param(START_EXECUTION, {"StartDate": True}, "PRESENT", "Field 'StartDate' must be a string",
                 id="present-timestamp"),
    pytest.param(START_EXECUTION, {}, "PRESENT", None, id="present-without-required"),
    pytest.param(START_EXECUTION, {"StartDate": True}, "NONE", None, id="none"),
    pytest.param(LAMBDA, {"StatusCode": "200"}, "STRICT", "Field 'StatusCode' must be a number", id="integer"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:s3:headBucket"}, {"BucketRegion": 1}, "PRESENT",
                 "Field 'BucketRegion' must be a string", id="aws-sdk-string"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:s3:getObject"}, {"StorageClass": "PAPER"},
                 "PRESENT", "Field 'StorageClass' is not an expected value", id="enum"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:s3:getObject"}, {"DeleteMarker": "yes"},
                 "PRESENT", "Field 'DeleteMarker' must be a boolean", id="boolean"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:s3:getObject"}, {"Metadata": {"a": 1}},
                 "PRESENT", "Field 'Metadata' must be a string", id="map-values"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::events:putEvents"}, {"Entries": {"EventId": "a"}},
                 "PRESENT", "Field 'Entries' must be an array", id="list"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::dynamodb:getItem"}, {"Item": {"k": {"N": 1}}},
                 "PRESENT", "Field 'N' must be a string", id="nested-structure"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:kms:encrypt"}, {"CiphertextBlob": {"a": 1}},
                 "PRESENT", "Field 'CiphertextBlob' must be a string", id="aws-sdk-blob-is-base64-text"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::aws-sdk:kms:encrypt"}, {"CiphertextBlob": "AAE="},
                 "PRESENT", None, id="aws-sdk-blob"),
    pytest.param(LAMBDA, {"StatusCode": 200, "Payload": {"any": ["json"]}}, "STRICT", None,
                 id="optimized-lambda-payload-any-json"),
    pytest.param({**START_EXECUTION, "Resource": "arn:aws:states:::states:startExecution.sync:2"},
                 {"ExecutionArn": "e", "StateMachineArn": "s", "Status": "SUCCEEDED", "StartDate": 1, "Output": {}},
                 "STRICT", "Field 'StartDate' must be a string", id="sync-job-description"),
    pytest.param({**START_EXECUTION, "Resource": "arn:aws:states:::states:startExecution.sync"},
                 {"ExecutionArn": "e"}, "STRICT", "Required field 'StateMachineArn' is missing",
                 id="sync-job-description-required"),
    pytest.param({**START_EXECUTION, "Resource": "arn:aws:states:::states:startExecution.sync"},
                 {"ExecutionArn": "e", "StateMachineArn": "s", "Status": "SUCCEEDED", "StartDate": "2025-01-01",
                  "Output": "{}"}, "STRICT", None, id="sync-job-description-fits"),
    pytest.param({**LAMBDA, "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}, {"any": "thing"},
                 "STRICT", None, id="callback-result-not-an-api-output"),
])
def test_mock_field_validation(sfn: Any, definition: dict, result: Any, mode: str | None, problem: str | None) -> None:
    request_mock = mock(result) | ({"fieldValidationMode": mode} if mode else {})
    if problem is None:
        assert run_state(sfn, definition, mock=request_mock)["status"] == "SUCCEEDED"
    else:
        assert error_of(sfn, definition, mock=request_mock) == (
            "ValidationException", f"Mock result schema validation error: {problem}")


# ------------------------------------------------------------------------------------------ state configuration

def test_retrier_retry_count_places_the_mocked_error_among_the_retries(sfn: Any) -> None:
    definition = {"StartAt": "Call", "States": {"Call": RETRYING, "Recover": PASS, "After": PASS}}
    first = run_state(sfn, definition, stateName="Call", mock=error_mock(), inspectionLevel="DEBUG")
    assert first["status"] == "RETRIABLE" and first["error"] == "Boom" and "nextState" not in first
    assert first["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 2}
    second = run_state(sfn, definition, stateName="Call", mock=error_mock(), inspectionLevel="DEBUG",
                        stateConfiguration={"retrierRetryCount": 1})
    assert second["inspectionData"]["errorDetails"]["retryBackoffIntervalSeconds"] == 6  # 2 x 3^1
    exhausted = run_state(sfn, definition, stateName="Call", mock=error_mock(), inspectionLevel="DEBUG",
                           stateConfiguration={"retrierRetryCount": 2})
    assert exhausted["status"] == "CAUGHT_ERROR" and exhausted["nextState"] == "Recover"
    assert exhausted["inspectionData"]["errorDetails"]["catchIndex"] == 0


def test_map_iteration_failure_count_against_the_tolerated_failures(sfn: Any) -> None:
    request = {"input": '{"items": [1, 2, 3]}', "mock": mock([1, 2, 3])}
    tolerated = run_state(sfn, MAP, stateConfiguration={"mapIterationFailureCount": 1}, **request)
    assert tolerated["status"] == "SUCCEEDED"
    exceeded = run_state(sfn, MAP, stateConfiguration={"mapIterationFailureCount": 2}, **request)
    assert (exceeded["status"], exceeded["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert error_of(sfn, MAP, stateConfiguration={"mapIterationFailureCount": 4}, **request) == (
        "ValidationException", "mapIterationFailureCount (4) cannot be greater than the number of Map items (3)")


def test_error_caused_by_a_state_inside_the_parallel(sfn: Any) -> None:
    answer = run_state(sfn, PARALLEL, mock=error_mock(), stateConfiguration={"errorCausedByState": "Other"})
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Boom", "it broke")


def test_map_item_reader_data_is_what_the_reader_reads(sfn: Any) -> None:
    batched = {**READER_MAP, "ItemBatcher": {"MaxItemsPerBatch": 2}}
    answer = run_state(sfn, batched, mock=mock([]), inspectionLevel="DEBUG",
                       stateConfiguration={"mapItemReaderData": '[{"n": 1}, {"n": 2}, {"n": 3}]'})
    data = answer["inspectionData"]
    assert json.loads(data["afterItemsPath"]) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert json.loads(data["afterItemBatcher"]) == [{"Items": [{"n": 1}, {"n": 2}]}, {"Items": [{"n": 3}]}]


# ------------------------------------------------------------------------------------------ the response

def test_inspection_levels(sfn: Any) -> None:
    definition = {"Type": "Pass", "InputPath": "$.a", "Parameters": {"b.$": "$"}, "ResultPath": "$.c",
                  "Assign": {"seen": 1}, "Next": "After"}
    info = run_state(sfn, definition, input='{"a": 1}', variables='{"given": true}')
    assert info["status"] == "SUCCEEDED" and info["nextState"] == "After" and "inspectionData" not in info
    debug = run_state(sfn, definition, input='{"a": 1}', variables='{"given": true}', inspectionLevel="DEBUG")
    data = debug["inspectionData"]
    assert json.loads(data["afterInputPath"]) == 1 and json.loads(data["afterParameters"]) == {"b": 1}
    assert json.loads(data["variables"]) == {"given": True, "seen": 1}
    trace = run_state(sfn, definition, input='{"a": 1}', variables='{"given": true}', inspectionLevel="TRACE")
    assert trace["inspectionData"] == data  # TRACE adds only an HTTP Task's request and response


def test_a_failed_state_has_no_next_state(sfn: Any) -> None:
    answer = run_state(sfn, {**CALL, "Next": "After"}, mock=error_mock())
    assert answer["status"] == "FAILED" and "nextState" not in answer and "output" not in answer
