"""service/mock_results.py: a mocked Task result checked against the output shape of the API the Task calls, for
every kind of shape, in each fieldValidationMode, for aws-sdk and optimized integrations alike."""

from __future__ import annotations

import pytest

from stepline.engine.resources import describe_resource
from stepline.service import errors
from stepline.service.mock_results import check_mock_result, output_shape

S3_GET = "arn:aws:states:::aws-sdk:s3:getObject"
SFN_LIST = "arn:aws:states:::aws-sdk:sfn:listExecutions"
PUT_EVENTS = "arn:aws:states:::events:putEvents"


def problem(resource: str, result: object, mode: str = "STRICT") -> str | None:
    try:
        check_mock_result(result, describe_resource(resource), mode)  # type: ignore[arg-type]
    except errors.ValidationException as error:
        assert error.message.startswith("Mock result schema validation error: ")
        return error.message.removeprefix("Mock result schema validation error: ")
    return None


@pytest.mark.parametrize(("resource", "result", "expected"), [
    pytest.param(S3_GET, {"ContentType": 1}, "Field 'ContentType' must be a string", id="string"),
    pytest.param(S3_GET, {"StorageClass": "Papyrus"}, "Field 'StorageClass' is not an expected value", id="enum"),
    pytest.param(S3_GET, {"StorageClass": "GLACIER"}, None, id="enum-value"),
    pytest.param(S3_GET, {"LastModified": 1}, "Field 'LastModified' must be a string", id="timestamp"),
    pytest.param(S3_GET, {"LastModified": "2024-05-01T12:00:00Z"}, None, id="timestamp-text"),
    pytest.param(S3_GET, {"ContentLength": "12"}, "Field 'ContentLength' must be a number", id="long"),
    pytest.param(S3_GET, {"ContentLength": 12}, None, id="long-number"),
    pytest.param("arn:aws:states:::lambda:invoke", {"StatusCode": "200"}, "Field 'StatusCode' must be a number",
                 id="integer"),
    pytest.param("arn:aws:states:::dynamodb:putItem", {"ConsumedCapacity": {"CapacityUnits": "1.5"}},
                 "Field 'CapacityUnits' must be a number", id="double-nested"),
    pytest.param("arn:aws:states:::dynamodb:putItem", {"ConsumedCapacity": {"CapacityUnits": 1.5}}, None,
                 id="double"),
    pytest.param(S3_GET, {"DeleteMarker": "true"}, "Field 'DeleteMarker' must be a boolean", id="boolean"),
    pytest.param(S3_GET, {"DeleteMarker": 1}, "Field 'DeleteMarker' must be a boolean", id="boolean-number"),
    pytest.param(S3_GET, {"Body": {"any": ["json"]}}, "Field 'Body' must be a string", id="sdk-blob-is-text"),
    pytest.param(S3_GET, {"Body": "the object's text"}, None, id="sdk-blob-text"),
    pytest.param("arn:aws:states:::bedrock:invokeModel", {"Body": {"any": ["json"]}, "ContentType": "json"}, None,
                 id="optimized-blob-any-json"),
    pytest.param("arn:aws:states:::lambda:invoke", {"Payload": [1, 2]}, None, id="lambda-payload-json"),
    pytest.param(S3_GET, {"Metadata": {"a": 1}}, "Field 'Metadata' must be a string", id="map-value"),
    pytest.param(S3_GET, {"Metadata": ["a"]}, "Field 'Metadata' must be an object", id="map"),
    pytest.param(PUT_EVENTS, {"Entries": "x"}, "Field 'Entries' must be an array", id="list"),
    pytest.param(PUT_EVENTS, {"Entries": [{"EventId": "a"}, {"EventId": ["b"]}]}, "Field 'EventId' must be a string",
                 id="list-second-item"),
    pytest.param(PUT_EVENTS, {"Entries": ["x"]}, "Field 'Entries' must be an object", id="list-item-structure"),
    pytest.param(PUT_EVENTS, [1], "Field 'result' must be an object", id="result-not-object"),
    pytest.param(PUT_EVENTS, {"random": "json"}, None, id="unknown-field"),
    pytest.param(PUT_EVENTS, {"Entries": None}, None, id="null-is-absent"),
    pytest.param(SFN_LIST, {"Executions": [{}]}, "Required field 'ExecutionArn' is missing", id="required-nested"),
    pytest.param("arn:aws:states:::states:startExecution", {"executionArn": "a", "startDate": "d"},
                 "Required field 'ExecutionArn' is missing", id="fields-in-pascal-case"),
])
def test_each_kind_of_shape(resource: str, result: object, expected: str | None) -> None:
    assert problem(resource, result) == expected


def test_present_checks_only_present_fields_at_every_depth() -> None:
    assert problem(SFN_LIST, {"Executions": [{}]}, "PRESENT") is None
    assert problem(SFN_LIST, {"Executions": [{"Status": "DONE"}]}, "PRESENT") == "Field 'Status' is not an expected value"
    assert problem("arn:aws:states:::states:startExecution", {"StartDate": True}, "PRESENT") == (
        "Field 'StartDate' must be a string")


def test_none_checks_nothing() -> None:
    assert problem(SFN_LIST, {"Executions": "x"}, "NONE") is None


@pytest.mark.parametrize(("resource", "operation"), [
    pytest.param("arn:aws:states:::aws-sdk:eventbridge:putEvents", "PutEventsResponse", id="sdk-eventbridge"),
    pytest.param("arn:aws:states:::aws-sdk:cloudwatchlogs:describeLogGroups", "DescribeLogGroupsResponse",
                 id="sdk-cloudwatchlogs"),
    pytest.param("arn:aws:states:::aws-sdk:sfn:startExecution", "StartExecutionOutput", id="sdk-sfn"),
    pytest.param("arn:aws:states:::aws-sdk:elasticloadbalancingv2:describeLoadBalancers",
                 "DescribeLoadBalancersOutput", id="sdk-elbv2"),
    pytest.param("arn:aws:states:::lambda:invoke", "InvocationResponse", id="lambda"),
    pytest.param("arn:aws:states:::sqs:sendMessage", "SendMessageResult", id="sqs"),
    pytest.param("arn:aws:states:::sns:publish", "PublishResponse", id="sns"),
    pytest.param("arn:aws:states:::dynamodb:getItem", "GetItemOutput", id="dynamodb"),
    pytest.param("arn:aws:states:::states:startExecution", "StartExecutionOutput", id="states"),
    pytest.param("arn:aws:states:::ecs:runTask", "RunTaskResponse", id="ecs"),
    pytest.param("arn:aws:states:::elasticmapreduce:createCluster", "RunJobFlowOutput", id="emr-renamed"),
    pytest.param("arn:aws:states:::bedrock:invokeModel", "InvokeModelResponse", id="bedrock-runtime"),
    pytest.param("arn:aws:states:::bedrock:createModelCustomizationJob", "CreateModelCustomizationJobResponse",
                 id="bedrock"),
    pytest.param("arn:aws:states:::states:startExecution.sync", "DescribeExecutionOutput", id="sync-execution"),
    pytest.param("arn:aws:states:::states:startExecution.sync:2", "DescribeExecutionOutput", id="sync2-execution"),
    pytest.param("arn:aws:states:::ecs:runTask.sync", "Task", id="sync-ecs-task"),
    pytest.param("arn:aws:states:::glue:startJobRun.sync", "JobRun", id="sync-glue-job-run"),
    pytest.param("arn:aws:states:::elasticmapreduce:createCluster.sync", "RunJobFlowOutput", id="sync-emr-submitted"),
])
def test_output_shape_of_the_api_called(resource: str, operation: str) -> None:
    shape = output_shape(describe_resource(resource))
    assert shape is not None and shape.name == operation


@pytest.mark.parametrize("resource", [
    pytest.param("arn:aws:states:::sqs:sendMessage.waitForTaskToken", id="callback"),
    pytest.param("arn:aws:states:::codebuild:startBuild.sync", id="sync-wrapped-build"),
    pytest.param("arn:aws:states:us-east-1:123456789012:activity:work", id="activity"),
    pytest.param("arn:aws:lambda:us-east-1:123456789012:function:work", id="function-arn"),
    pytest.param("arn:aws:states:::http:invoke", id="http"),
    pytest.param("arn:aws:states:::apigateway:invoke", id="apigateway"),
    pytest.param("arn:aws:states:::eks:call", id="kubernetes"),
    pytest.param("arn:aws:states:::aws-sdk:nosuchservice:doIt", id="unknown-service"),
])
def test_no_output_shape(resource: str) -> None:
    assert output_shape(describe_resource(resource)) is None
