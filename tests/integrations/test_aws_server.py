"""AWS service Tasks through `stepline serve` (moto as AWS, boto3 as the client): a .waitForTaskToken round trip
through a real SQS message, aws-sdk and optimized Tasks side by side, and --assume-role."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_services import aws_client, aws_environment
from serving import StepLine

ROLE = "arn:aws:iam::123456789012:role/stepline-machine"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("aws") / "stepline.db", options=["--assume-role"],
                             environment=aws_environment())
    yield running
    assert running.stop() == 0


def run(server: StepLine, states: dict, value: Any = None) -> dict:
    sfn = server.client()
    name = f"m-{uuid.uuid4().hex[:8]}"
    definition = {"StartAt": next(iter(states)), "States": states}
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(value or {}))
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.05)
    return described


def test_wait_for_task_token_round_trip_through_sqs(server: StepLine) -> None:
    queue = aws_client("sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def worker() -> None:  # reads the message from SQS and answers with its token
        while True:
            messages = aws_client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
            if messages:
                body = json.loads(messages[0]["Body"])
                server.client().send_task_success(taskToken=body["token"],
                                                  output=json.dumps({"doubled": body["n"] * 2}))
                return

    thread = threading.Thread(target=worker)
    thread.start()
    described = run(server, {"Send": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token", "n.$": "$.n"}}}}, {"n": 21})
    thread.join(timeout=30)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"doubled": 42}
    history = server.client().get_execution_history(executionArn=described["executionArn"])["events"]
    submitted = [e for e in history if e["type"] == "TaskSubmitted"]
    assert "MessageId" in json.loads(submitted[0]["taskSubmittedEventDetails"]["output"])


def test_aws_sdk_and_optimized_tasks_with_the_machines_role(server: StepLine) -> None:
    table = f"t-{uuid.uuid4().hex[:8]}"
    aws_client("dynamodb").create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    described = run(server, {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "ResultPath": None, "Next": "Get",
                "Parameters": {"TableName": table, "Item": {"id": {"S": "a"}, "v": {"S.$": "$.v"}}}},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem", "ResultPath": "$.got",
                "Parameters": {"TableName": table, "Key": {"id": {"S": "a"}}}, "Next": "Who"},
        "Who": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity", "ResultPath": "$.who", "Parameters": {},
                "End": True},
    }, {"v": "value"})
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert output["got"] == {"Item": {"id": {"S": "a"}, "v": {"S": "value"}}}
    assert output["who"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/stepline-machine/stepline"


def test_failures_are_catchable_by_their_names(server: StepLine) -> None:
    described = run(server, {
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "End": True,
                "Parameters": {"Bucket": f"none-{uuid.uuid4().hex[:8]}", "Key": "k"},
                "Catch": [{"ErrorEquals": ["S3.NoSuchBucketException"], "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True},
    })
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["Error"] == "S3.NoSuchBucketException"


def test_serve_refuses_a_malformed_endpoint_variable(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="DYNAMODB_ENDPOINT"):
        StepLine.start(tmp_path / "stepline.db", environment={"DYNAMODB_ENDPOINT": "not a url"})
