"""The optimized integrations against moto: the documented parameters, result shapes (with the SDK's
SdkHttpMetadata where Step Functions adds it) and error names (checked against cases/services/*_task_service and
error_handling/task_service_* in ../shared/conformance)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import pytest
from aws_services import aws_client

from stepline.service.workflow import Result

RunTask = Callable[..., Result]
V1_CAUSE = r" \(Service: {service}; Status Code: {status}; Error Code: {code}; Request ID: [^;]+; Proxy: null\)"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def with_metadata(output: dict) -> dict:
    """The result's own members; checks the SDK's metadata that Step Functions adds."""
    http = output["SdkHttpMetadata"]
    assert http["HttpStatusCode"] == 200 and output["SdkResponseMetadata"]["RequestId"]
    assert {name: [value] for name, value in http["HttpHeaders"].items()} == http["AllHttpHeaders"]
    assert "Content-Type" in http["HttpHeaders"]  # header names as the service sent them
    return {key: value for key, value in output.items() if not key.startswith("Sdk")}


def test_dynamodb_put_update_get_delete(task: RunTask) -> None:
    table = unique("table")
    aws_client("dynamodb").create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    key = {"id": {"S": "id1"}}
    put = task("arn:aws:states:::dynamodb:putItem", {"TableName": table, "Item": {**key, "data": {"S": "Hello"}}})
    assert with_metadata(put.output) == {}
    updated = task("arn:aws:states:::dynamodb:updateItem", {
        "TableName": table, "Key": key, "UpdateExpression": "set S=:r",
        "ExpressionAttributeValues": {":r": {"S": "Updated"}}, "ReturnValues": "UPDATED_NEW"})
    assert with_metadata(updated.output)["Attributes"] == {"S": {"S": "Updated"}}  # moto adds ConsumedCapacity
    got = task("arn:aws:states:::dynamodb:getItem", {"TableName": table, "Key": key})
    assert with_metadata(got.output) == {"Item": {**key, "data": {"S": "Hello"}, "S": {"S": "Updated"}}}
    deleted = task("arn:aws:states:::dynamodb:deleteItem", {"TableName": table, "Key": key})
    assert with_metadata(deleted.output) == {}
    assert "Item" not in aws_client("dynamodb").get_item(TableName=table, Key=key)


def test_dynamodb_failures_are_named_by_the_optimized_integration(task: RunTask) -> None:
    result = task("arn:aws:states:::dynamodb:putItem", {"TableName": "no-such-table", "Item": {"id": {"S": "a"}}})
    assert result.error == "DynamoDB.ResourceNotFoundException"
    assert re.fullmatch("Requested resource not found" + V1_CAUSE.format(
        service="AmazonDynamoDBv2", status=400, code="ResourceNotFoundException"), result.cause), result.cause


def test_sqs_send_message_sends_json_bodies_as_text(task: RunTask) -> None:
    queue = aws_client("sqs").create_queue(QueueName=unique("queue"))["QueueUrl"]
    sent = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": queue, "MessageBody": {"order": 1},
                                                      "MessageAttributes": {"kind": {"DataType": "String",
                                                                                     "StringValue": "x"}}})
    assert set(with_metadata(sent.output)) == {"MD5OfMessageAttributes", "MD5OfMessageBody", "MessageId"}
    messages = aws_client("sqs").receive_message(QueueUrl=queue)["Messages"]
    assert [m["Body"] for m in messages] == ['{"order":1}']
    missing = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": queue + "-none", "MessageBody": "m"})
    assert missing.error == "SQS.QueueDoesNotExistException"
    assert "(Service: AmazonSQS; Status Code: 400; Error Code: AWS.SimpleQueueService.NonExistentQueue;" in (
        missing.cause)


def test_sns_publish(task: RunTask) -> None:
    topic = aws_client("sns").create_topic(Name=unique("topic"))["TopicArn"]
    queue = aws_client("sqs").create_queue(QueueName=unique("queue"))["QueueUrl"]
    queue_arn = aws_client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    aws_client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"],
                                Attributes={"RawMessageDelivery": "true"})
    published = task("arn:aws:states:::sns:publish", {"TopicArn": topic, "Message": {"Message": "Hello"}})
    assert set(with_metadata(published.output)) == {"MessageId"}
    assert [m["Body"] for m in aws_client("sqs").receive_message(QueueUrl=queue)["Messages"]] == [
        '{"Message":"Hello"}']
    missing = task("arn:aws:states:::sns:publish", {"TopicArn": topic + "-none", "Message": "m"})
    assert missing.error == "SNS.NotFoundException"
    assert re.search(V1_CAUSE.format(service="AmazonSNS", status=404, code="NotFound") + "$", missing.cause)


def test_eventbridge_put_events_appends_the_execution_to_resources(task: RunTask) -> None:
    queue = aws_client("sqs").create_queue(QueueName=unique("queue"))["QueueUrl"]
    queue_arn = aws_client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    rule = unique("rule")
    aws_client("events").put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
    aws_client("events").put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}])
    result = task("arn:aws:states:::events:putEvents", {"Entries": [
        {"Detail": {"Message": "Hello"}, "DetailType": "greeting", "Source": rule}]})
    assert result.output["FailedEntryCount"] == 0 and len(result.output["Entries"]) == 1
    assert "SdkHttpMetadata" not in result.output
    event = json.loads(aws_client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert event["detail"] == {"Message": "Hello"}
    machine = result.execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    assert event["resources"] == [result.execution_arn, machine]


def test_lambda_invoke_reaches_the_lambda_endpoint(task: RunTask) -> None:
    # moto runs no function code without Docker: a function that does not exist shows the call reached Lambda
    result = task("arn:aws:states:::lambda:invoke", {"FunctionName": "no-such-function", "Payload": {}})
    assert result.error == "Lambda.ResourceNotFoundException"
    assert re.search(V1_CAUSE.format(service="AWSLambda", status=404, code="ResourceNotFoundException") + "$",
                     result.cause)
    arn = task("arn:aws:lambda:us-east-1:123456789012:function:no-such-function")
    assert arn.error == "Lambda.ResourceNotFoundException"


@pytest.mark.parametrize(("resource", "parameters"), [
    pytest.param("arn:aws:states:::sqs:sendMessage", {"QueueUrl": "q", "MessageBody": "m", "Nope": 1}, id="sqs"),
    pytest.param("arn:aws:states:::dynamodb:getItem", {"TableName": "t", "Key": {}, "Nope": 1}, id="dynamodb"),
])
def test_unknown_parameters_are_refused(task: RunTask, resource: str, parameters: dict) -> None:
    result = task(resource, parameters)
    assert result.error == "States.Runtime"
    assert result.cause.endswith("could not be used to start the Task: [The field \"Nope\" is not supported by "
                                 "Step Functions]")


def test_the_runtime_serves_only_actions_the_definition_rules_know() -> None:
    """asl/resources.py holds the one list of optimized actions: every action the runtime's tables serve is in it,
    with the pattern it is served for."""
    from stepline.asl.resources import optimized_patterns
    from stepline.runtime.integrations.aws.jobs import JOBS
    from stepline.runtime.integrations.aws.optimized import APIS

    assert all("" in optimized_patterns(api.resource_type, action) for api in APIS for action in api.actions)
    assert all(".sync" in optimized_patterns(resource_type, action) for resource_type, action in JOBS)

