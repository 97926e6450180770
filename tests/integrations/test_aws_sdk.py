"""`arn:aws:states:::aws-sdk:*` resources against moto: parameters, results and failures as Step Functions gives
them (checked against the recordings in ../shared/conformance: cases/services/aws_sdk_*, error_handling/aws_sdk*)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable

import pytest
from aws_services import aws_client

from stepline.engine.resources import describe_resource
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.aws.sdk import AwsSdk
from stepline.runtime.integrations.registry import Succeeded, TaskCall
from stepline.service.workflow import Result

RunTask = Callable[..., Result]

SDK = "arn:aws:states:::aws-sdk:"
V2_CAUSE = r"\(Service: {service}, Status Code: {status}, Request ID: [^)]+\)"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def table() -> str:
    name = unique("table")
    aws_client("dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return name


def test_dynamodb_items_round_trip(task: RunTask) -> None:
    name = table()
    item = {"id": {"S": "id1"}, "data": {"S": "HelloWorld"}, "n": {"N": "1.5"}}
    put = task(SDK + "dynamodb:putItem", {"TableName": name, "Item": item})
    assert (put.status, put.output) == ("SUCCEEDED", {})
    got = task(SDK + "dynamodb:getItem", {"TableName": name, "Key": {"id": {"S": "id1"}}})
    assert got.output == {"Item": item}
    queried = task(SDK + "dynamodb:query", {"TableName": name, "KeyConditionExpression": "id = :id",
                                            "ExpressionAttributeValues": {":id": {"S": "id1"}}})
    assert queried.output == {"Count": 1, "Items": [item], "ScannedCount": 1}


def test_s3_bodies_are_text_and_dates_iso(task: RunTask) -> None:
    bucket = unique("bucket")
    aws_client("s3").create_bucket(Bucket=bucket)
    for key, body, stored in [("dict", {"Dict": "Value"}, b'{"Dict":"Value"}'), ("num", 0, b"0"),
                              ("str", "text", b"text"), ("bool", False, b"false")]:
        put = task(SDK + "s3:putObject", {"Bucket": bucket, "Key": key, "Body": body})
        assert put.status == "SUCCEEDED" and set(put.output) >= {"ETag"}, put
        assert aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == stored
    aws_client("s3").put_object(Bucket=bucket, Key="binary", Body=b"binary data")
    got = task(SDK + "s3:getObject", {"Bucket": bucket, "Key": "binary"})
    assert got.output["Body"] == "binary data" and got.output["ContentLength"] == 11
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", got.output["LastModified"])
    assert got.output["Metadata"] == {} and "ResponseMetadata" not in got.output


def test_member_names_are_pascal_case_in_both_directions(task: RunTask) -> None:
    # API Gateway's model names its members in camelCase (restApiId, items, name)
    created = task(SDK + "apigateway:createRestApi", {"Name": "api"})
    assert created.status == "SUCCEEDED" and created.output["Name"] == "api", created
    listed = task(SDK + "apigateway:getRestApis", {"Limit": 10})
    assert created.output["Id"] in [api["Id"] for api in listed.output["Items"]]
    camel = task(SDK + "apigateway:getRestApis", {"limit": 10})
    assert camel.error == "States.Runtime" and 'The field "limit" is not supported' in camel.cause


def test_sqs_sns_secrets_and_sts(task: RunTask) -> None:
    queue = task(SDK + "sqs:createQueue", {"QueueName": unique("queue")}).output["QueueUrl"]
    sent = task(SDK + "sqs:sendMessage", {"QueueUrl": queue, "MessageBody": "hello"})
    assert set(sent.output) == {"MD5OfMessageBody", "MessageId"}
    received = task(SDK + "sqs:receiveMessage", {"QueueUrl": queue})
    assert [message["Body"] for message in received.output["Messages"]] == ["hello"]
    topic = task(SDK + "sns:createTopic", {"Name": unique("topic")}).output["TopicArn"]
    assert "MessageId" in task(SDK + "sns:publish", {"TopicArn": topic, "Message": "hi"}).output
    name = unique("secret")
    task(SDK + "secretsmanager:createSecret", {"Name": name, "SecretString": "s3cr3t"})
    value = task(SDK + "secretsmanager:getSecretValue", {"SecretId": name})
    assert value.output["SecretString"] == "s3cr3t" and value.output["CreatedDate"].endswith("Z")
    assert task(SDK + "sts:getCallerIdentity", {}).output["Account"] == "123456789012"


@pytest.mark.parametrize(("resource", "parameters", "error", "cause"), [
    pytest.param("dynamodb:putItem", {"TableName": "no-such-table", "Item": {"id": {"S": "a"}}},
                 "DynamoDb.ResourceNotFoundException",
                 "Requested resource not found " + V2_CAUSE.format(service="DynamoDb", status=400), id="dynamodb"),
    pytest.param("sns:publish", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:none", "Message": "m"},
                 "Sns.NotFoundException", r".+ " + V2_CAUSE.format(service="Sns", status=404), id="sns"),
    pytest.param("sqs:sendMessage", {"QueueUrl": "http://127.0.0.1/123456789012/none", "MessageBody": "m"},
                 "Sqs.QueueDoesNotExistException", r".+ " + V2_CAUSE.format(service="Sqs", status=400),
                 id="sqs-query-compatible"),
    pytest.param("secretsmanager:getSecretValue", {"SecretId": "none"}, "SecretsManager.ResourceNotFoundException",
                 r".+ " + V2_CAUSE.format(service="SecretsManager", status=r"4\d\d"), id="secretsmanager"),
])
def test_failures_are_named_as_step_functions_names_them(task: RunTask, resource: str, parameters: dict,
                                                        error: str, cause: str) -> None:
    result = task(SDK + resource, parameters)
    assert (result.status, result.error) == ("FAILED", error)
    assert re.fullmatch(cause, result.cause), result.cause
    failed = [event for event in result.history if event["type"] == "TaskFailed"]
    assert failed and failed[0]["taskFailedEventDetails"]["resourceType"] == "aws-sdk:" + resource.split(":")[0]


def test_s3_errors_without_exception_suffix_get_one(task: RunTask) -> None:
    bucket = unique("bucket")
    aws_client("s3").create_bucket(Bucket=bucket)
    result = task(SDK + "s3:getObject", {"Bucket": bucket, "Key": "none"})
    assert result.error == "S3.NoSuchKeyException"
    assert re.fullmatch(r"The specified key does not exist\. \(Service: S3, Status Code: 404, Request ID: .+\)",
                        result.cause)


@pytest.mark.parametrize(("resource", "parameters", "cause"), [
    pytest.param("dynamodb:putItem", {"TableName": "t", "Nope": 1},
                 '''The Parameters '{"TableName":"t","Nope":1}' could not be used to start the Task: '''
                 '''[The field "Nope" is not supported by Step Functions]''', id="unknown-field"),
    pytest.param("dynamodb:getItem", {"TableName": "t", "Key": "id"},
                 '''The Parameters '{"TableName":"t","Key":"id"}' could not be used to start the Task: '''
                 "[The value of the field 'Key' has an invalid format]", id="wrong-kind"),
    pytest.param("nosuchservice:doIt", {}, "The AWS SDK integration has no service 'nosuchservice'",
                 id="unknown-service"),
    pytest.param("dynamodb:doIt", {}, "The AWS SDK integration dynamodb has no action 'doIt'", id="unknown-action"),
])
def test_requests_aws_would_not_send_fail_clearly(task: RunTask, resource: str, parameters: dict,
                                                  cause: str) -> None:
    result = task(SDK + resource, parameters)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause.startswith(cause), result.cause


def test_service_names_are_the_java_sdk_clients(task: RunTask) -> None:
    # sfn is botocore's stepfunctions, eventbridge its events, cloudwatchlogs its logs
    assert task(SDK + "sfn:listStateMachines", {}).output == {"StateMachines": []}
    assert "EventBuses" in task(SDK + "eventbridge:listEventBuses", {}).output
    assert "LogGroups" in task(SDK + "cloudwatchlogs:describeLogGroups", {}).output
    assert task(SDK + "stepfunctions:listStateMachines", {}).error == "States.Runtime"


def test_an_idempotency_token_left_out_is_the_invocations_key(aws: object) -> None:
    key = str(uuid.uuid4())
    call = TaskCall(resource=describe_resource(SDK + "secretsmanager:createSecret"), state_name="T", invocation=0,
                    parameters={"Name": unique("secret"), "SecretString": "s"}, execution_arn="arn", idempotency_key=key)
    clients = AwsClients()
    outcome = asyncio.run(AwsSdk(clients).invoke(call))
    assert isinstance(outcome, Succeeded) and outcome.output["VersionId"] == key  # Secrets Manager's version is it
    given = TaskCall(**{**{field: getattr(call, field) for field in ("resource", "state_name", "invocation",
                                                                      "execution_arn", "idempotency_key")},
                        "parameters": {"Name": unique("secret"), "SecretString": "s", "ClientRequestToken": "t" * 32}})
    assert asyncio.run(AwsSdk(clients).invoke(given)).output["VersionId"] == "t" * 32  # type: ignore[union-attr]
