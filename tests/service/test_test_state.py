"""service/test_state.py: TestState's request checks, mock validation against the service models, and unmocked
Tasks answered by local functions."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from stepline.runtime.integrations.lambda_local import LocalFunctions
from stepline.runtime.integrations.registry import Integrations
from stepline.service import errors
from stepline.service.settings import Settings
from stepline.service.test_state import test_state as run_test_state

NOW = datetime(2025, 1, 15, tzinfo=timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/test"
LAMBDA_TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"FunctionName": "double", "Payload.$": "$"}, "End": True}
START_EXECUTION = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                   "Parameters": {"StateMachineArn": "arn"}, "End": True}
MAP = {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}


def call(definition: Any, **request: Any) -> dict:
    functions = LocalFunctions({"double": lambda event, context: event["n"] * 2})
    body = {"definition": json.dumps(definition) if not isinstance(definition, str) else definition, **request}
    return asyncio.run(run_test_state(body, settings=Settings(), integrations=Integrations([functions]), now=NOW))


def rejected(definition: Any, **request: Any) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as raised:
        call(definition, **request)
    return raised.value


# ---------------------------------------------------------------------------------------------- unmocked tasks

def test_unmocked_task_calls_a_local_function() -> None:
    response = call(LAMBDA_TASK, roleArn=ROLE, input='{"n": 21}')
    assert response["status"] == "SUCCEEDED"
    assert json.loads(response["output"])["Payload"] == 42


def test_unmocked_task_without_a_function_fails_clearly() -> None:
    task = {**LAMBDA_TASK, "Parameters": {"FunctionName": "missing"}}
    response = call(task, roleArn=ROLE)
    assert response["status"] == "FAILED" and response["error"] == "Lambda.ResourceNotFoundException"


def test_unmocked_task_needs_a_role() -> None:
    error = rejected(LAMBDA_TASK)
    assert isinstance(error, errors.ValidationException)
    assert error.message == "RoleArn must be specified when testing a Task state"


def test_unmocked_callback_task_is_refused() -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}
    assert isinstance(rejected(task, roleArn=ROLE), errors.ValidationException)


# ---------------------------------------------------------------------------------------------- the request

@pytest.mark.parametrize(("definition", "request_members", "code", "message"), [
    pytest.param(LAMBDA_TASK, {"mock": {"result": "{}", "errorOutput": {"error": "E"}}}, "ValidationException",
                 "A test mock should have only one of the following fields: [result, errorOutput].", id="two-mocks"),
    pytest.param(LAMBDA_TASK, {"mock": {"result": "{}"}, "revealSecrets": True}, "ValidationException",
                 "TestState does not support RevealSecrets when a mock is specified.", id="reveal-secrets-mock"),
    pytest.param({"Type": "Pass", "End": True}, {"mock": {"result": "{}"}}, "ValidationException",
                 "State type 'Pass' is not supported when a mock is specified", id="pass-mock"),
    pytest.param(MAP, {}, "InvalidDefinition", "TestState API does not support Map or Parallel states. Supported "
                 "state types include: [Task, Wait, Pass, Succeed, Fail, Choice]", id="map-needs-mock"),
    pytest.param(MAP, {"mock": {"result": "{}"}}, "ValidationException", "Mocked result must be an array.",
                 id="map-mock-not-array"),
    pytest.param(LAMBDA_TASK, {"mock": {"result": "nope"}}, "ValidationException", "Mocked result must be valid JSON",
                 id="mock-not-json"),
    pytest.param({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, {"stateName": "B"},
                 "ValidationException", "State not found in definition", id="state-not-found"),
    pytest.param({"Type": "Pass"}, {}, "InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_"
                 "FAILED: One of these fields is required: [Next, End] at /States/StateName'",
                 id="lone-state-still-validated"),
    pytest.param({"Type": "Pass", "End": True}, {"input": "{"}, "InvalidExecutionInput", None, id="bad-input"),
    pytest.param(LAMBDA_TASK, {"mock": {"result": "{}"}, "context": '{"Map": {}}'}, "ValidationException",
                 "Invalid Context object provided: 'Map' field is not supported when mocking a Context object",
                 id="context-map"),
    pytest.param(LAMBDA_TASK, {"mock": {"result": "{}"}, "context": '{"State": {"RetryCount": "1"}}'},
                 "ValidationException", "Invalid Context object provided: State.RetryCount must be an integer",
                 id="context-type"),
])
def test_request_errors(definition: Any, request_members: dict, code: str, message: str | None) -> None:
    error = rejected(definition, **request_members)
    assert error.code == code
    if message is not None:
        assert error.message == message


# ---------------------------------------------------------------------------------------------- mock validation

@pytest.mark.parametrize(("definition", "result", "mode", "problem"), [
    pytest.param(START_EXECUTION, {}, "STRICT", "Required field 'ExecutionArn' is missing", id="strict-required"),
    pytest.param(START_EXECUTION, {}, "PRESENT", None, id="present-ignores-required"),
    pytest.param(START_EXECUTION, {"StartDate": 1}, "PRESENT", "Field 'StartDate' must be a string",
                 id="present-checks-types"),
    pytest.param(START_EXECUTION, {"StartDate": 1}, "NONE", None, id="none-checks-nothing"),
    pytest.param(START_EXECUTION, {"ExecutionArn": "a", "StartDate": "d", "Extra": [1]}, "STRICT", None,
                 id="unknown-fields-allowed"),
    pytest.param(LAMBDA_TASK, {"StatusCode": "200"}, "STRICT", "Field 'StatusCode' must be a number",
                 id="lambda-integer"),
    pytest.param(LAMBDA_TASK, {"StatusCode": 200, "Payload": {"any": ["json"]}}, "STRICT", None,
                 id="lambda-payload-any-json"),
    pytest.param({**LAMBDA_TASK, "Resource": "arn:aws:states:::aws-sdk:s3:getObject"}, {"StorageClass": "X"},
                 "STRICT", "Field 'StorageClass' is not an expected value", id="enum"),
    pytest.param({**LAMBDA_TASK, "Resource": "arn:aws:states:::events:putEvents"},
                 {"Entries": [{"EventId": "a"}, {"EventId": 1}]}, "PRESENT", "Field 'EventId' must be a string",
                 id="list-items"),
    pytest.param({"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True, "Parameters": {
        "ApiEndpoint": "https://example.com", "Method": "GET", "Authentication": {
            "ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/c/00000000-0000-0000-0000-000000000000"}}},
                 {"anything": 1}, "STRICT", None, id="no-model-no-check"),
])
def test_mock_field_validation(definition: dict, result: Any, mode: str, problem: str | None) -> None:
    mock = {"result": json.dumps(result), "fieldValidationMode": mode}
    if problem is None:
        assert call(definition, mock=mock)["status"] == "SUCCEEDED"
    else:
        error = rejected(definition, mock=mock)
        assert error.message == f"Mock result schema validation error: {problem}"


def test_parallel_mock_must_match_the_branches() -> None:
    parallel = {"Type": "Parallel", "End": True,
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}] * 2}
    error = rejected(parallel, mock={"result": "[1]"})
    assert error.message == "Mocked result must contain the same number of items as number of Parallel branches."
    assert call(parallel, mock={"result": "[1, 2]"})["output"] == "[1,2]"


def test_unmocked_task_without_integration_fails_clearly() -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Parameters": {}, "End": True}
    response = call(task, roleArn=ROLE)
    assert response["status"] == "FAILED" and response["error"] == "States.Runtime"
    assert "give the request a mock" in response["cause"]


# ---------------------------------------------------------------------------------------------- Map and Parallel

READER_MAP = {"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                            "Parameters": {"Bucket": "b", "Key": "k"}},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
              "ItemSelector": {"v.$": "$$.Map.Item.Value"}, "End": True}
PARALLEL = {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
    {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}


def reader_map(config: dict) -> dict:
    return {**READER_MAP, "ItemReader": {**READER_MAP["ItemReader"], "ReaderConfig": config}}


@pytest.mark.parametrize(("config", "data", "items"), [
    pytest.param({"InputType": "JSON"}, "[1, 2]", [1, 2], id="json"),
    pytest.param({"InputType": "JSON", "ItemsPointer": "/rows"}, '{"rows": [3]}', [3], id="json-items-pointer"),
    pytest.param({"InputType": "JSONL"}, '{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}], id="jsonl"),
    pytest.param({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}, "a,b\n1,2\n", [{"a": "1", "b": "2"}],
                 id="csv-first-row"),
    pytest.param({"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["x"], "CSVDelimiter": "PIPE"},
                 "1|2\n3\n", [{"x": "1"}, {"x": "3"}], id="csv-given-headers"),
    pytest.param({"InputType": "JSON", "MaxItems": 1}, "[1, 2]", [1], id="max-items"),
])
def test_map_item_reader_data_is_read_as_its_source(config: dict, data: str, items: list) -> None:
    response = call(reader_map(config), mock={"result": "[]"}, inspectionLevel="DEBUG",
                    stateConfiguration={"mapItemReaderData": data})
    assert json.loads(response["inspectionData"]["afterItemSelector"]) == [{"v": item} for item in items]


def test_a_distributed_maps_items_pointer_and_batches_are_inspected() -> None:
    definition = {**reader_map({"InputType": "JSON", "ItemsPointer": "/rows"}),
                  "ItemBatcher": {"MaxItemsPerBatchPath": "$.size", "BatchInput": {"tag.$": "$.tag"}}}
    response = call(definition, mock={"result": "[]"}, inspectionLevel="DEBUG", input=json.dumps({"size": 2, "tag": "t"}),
                    stateConfiguration={"mapItemReaderData": '{"rows": [1, 2, 3]}'})
    inspected = response["inspectionData"]
    assert json.loads(inspected["afterItemsPointer"]) == [1, 2, 3]
    assert json.loads(inspected["afterItemBatcher"]) == [{"BatchInput": {"tag": "t"}, "Items": [{"v": 1}, {"v": 2}]},
                                                         {"BatchInput": {"tag": "t"}, "Items": [{"v": 3}]}]


def test_map_item_reader_data_must_parse() -> None:
    error = rejected(reader_map({"InputType": "JSON"}), mock={"result": "[]"},
                     stateConfiguration={"mapItemReaderData": "[1,"})
    assert isinstance(error, errors.ValidationException)


def test_error_caused_by_state_names_a_state_of_the_map_or_parallel() -> None:
    error = rejected(MAP, mock={"errorOutput": {"error": "E"}}, input='{"a": []}',
                     stateConfiguration={"errorCausedByState": "Missing"})
    assert isinstance(error, errors.ValidationException) and "Missing" in error.message
    response = call(PARALLEL, mock={"errorOutput": {"error": "E", "cause": "C"}},
                    stateConfiguration={"errorCausedByState": "B"})
    assert (response["status"], response["error"], response["cause"]) == ("FAILED", "E", "C")


@pytest.mark.parametrize(("definition", "result", "message"), [
    pytest.param(PARALLEL, {"a": 1}, "Mocked result must be an array.", id="parallel-not-array"),
    pytest.param(PARALLEL, [1], "Mocked result must contain the same number of items as number of Parallel "
                 "branches.", id="parallel-count"),
    pytest.param({**MAP, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                          "Parameters": {"Bucket": "b", "Prefix": "p"}}}, {"MapRunArn": "a"}, None,
                 id="map-result-writer-object"),
    pytest.param(PARALLEL, [1, 2], None, id="parallel-one-per-branch"),
])
def test_map_and_parallel_mocked_results(definition: dict, result: Any, message: str | None) -> None:
    request = {"mock": {"result": json.dumps(result)}, "input": "[]"}
    if message is None:
        assert call(definition, **request)["output"] == json.dumps(result, separators=(",", ":"))
    else:
        assert rejected(definition, **request).message == message


def test_jsonata_map_reports_its_item_selector() -> None:
    definition = {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% [1, 2] %}",
                  "ItemSelector": {"v": "{% $states.context.Map.Item.Value * 10 %}"},
                  "ItemProcessor": MAP["ItemProcessor"], "End": True}
    data = call(definition, mock={"result": "[]"}, inspectionLevel="DEBUG")["inspectionData"]
    assert json.loads(data["afterItemSelector"]) == [{"v": 10}, {"v": 20}]
    assert "afterItemsPath" not in data
