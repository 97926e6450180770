"""Where AWS calls go and with which credentials (runtime/integrations/aws/clients.py), through real Tasks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from support import QuietHandler, local_server
from aws_services import free_port, moto_endpoint

from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.service.workflow import Result

RunTask = Callable[..., Result]
LIST_TABLES = "arn:aws:states:::aws-sdk:dynamodb:listTables"


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connections are refused


@pytest.mark.parametrize(("environment", "reaches_moto"), [
    pytest.param({"AWS_ENDPOINT_URL": "dead", "AWS_ENDPOINT_URL_DYNAMODB": "moto"}, True, id="service-over-global"),
    pytest.param({"AWS_ENDPOINT_URL": "dead", "DYNAMODB_ENDPOINT": "moto"}, True, id="sfn-local-over-global"),
    pytest.param({"AWS_ENDPOINT_URL_DYNAMODB": "dead", "DYNAMODB_ENDPOINT": "moto"}, False,
                 id="service-over-sfn-local"),
    pytest.param({"AWS_ENDPOINT_URL": "dead", "SQS_ENDPOINT": "moto"}, False, id="another-service's-variable"),
])
def test_endpoints_as_the_sdks_and_step_functions_local_decide(task: RunTask, aws: pytest.MonkeyPatch,
                                                             environment: dict, reaches_moto: bool) -> None:
    for name, value in environment.items():
        aws.setenv(name, moto_endpoint() if value == "moto" else dead_endpoint())
    result = task(LIST_TABLES, {})
    if reaches_moto:
        assert result.status == "SUCCEEDED" and "TableNames" in result.output, result
    else:
        assert result.error == "DynamoDb.SdkClientException"
        assert result.cause.startswith("Unable to execute HTTP request: Could not connect to the endpoint URL"), (
            result.cause)


def test_an_endpoint_refusing_connections_fails_the_optimized_task_clearly(task: RunTask,
                                                                          aws: pytest.MonkeyPatch) -> None:
    aws.setenv("AWS_ENDPOINT_URL", dead_endpoint())
    result = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": "q", "MessageBody": "m"})
    assert result.error == "SQS.SdkClientException"
    assert result.cause.startswith("Unable to execute HTTP request: Could not connect to the endpoint URL")


def test_a_tasks_role_is_assumed_once_and_its_credentials_kept(task: RunTask) -> None:
    clients = AwsClients()
    assumed: list[str] = []
    clients.session.register("before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(params["RoleArn"]))
    role = f"arn:aws:iam::123456789012:role/{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        result = task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}, clients=clients,
                      Credentials={"RoleArn": role})
        assert result.output["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role.rsplit('/', 1)[1]}/stepline"
    assert assumed == [role]
    plain = task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}, clients=clients)
    assert ":assumed-role/" not in plain.output["Arn"]


def test_a_role_that_cannot_be_assumed_fails_the_task(task: RunTask) -> None:
    result = task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}, Credentials={"RoleArn": "not-a-role"})
    assert (result.error, result.cause.split(":")[0]) == ("States.TaskFailed", "Unable to assume the role 'not-a-role'")


def test_the_state_machines_role_is_assumed_only_when_asked(task: RunTask) -> None:
    # Workflow runs with the role arn:aws:iam::123456789012:role/... of its default
    asked = task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}, clients=AwsClients(assume_role=True))
    assert ":assumed-role/" in asked.output["Arn"]
    assert ":assumed-role/" not in task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}).output["Arn"]


def test_malformed_credentials_are_refused(task: RunTask) -> None:
    result = task("arn:aws:states:::aws-sdk:sts:getCallerIdentity", {}, Credentials={"RoleArn": "r", "Extra": 1})
    assert result.error == "States.Runtime" and "RoleArn" in result.cause


def test_one_client_per_service_region_endpoint_and_role(aws: pytest.MonkeyPatch) -> None:
    clients = AwsClients()
    first = clients._client("dynamodb", "us-east-1", None)
    assert clients._client("dynamodb", "us-east-1", None) is first
    assert clients._client("dynamodb", "eu-west-1", None) is not first
    assert first.meta.endpoint_url == moto_endpoint()  # AWS_ENDPOINT_URL, read by botocore


def test_expired_credentials_fail_the_task_as_step_functions_reports_them(task: RunTask,
                                                                        aws: pytest.MonkeyPatch) -> None:
    """AWS's answer to a request signed with expired credentials, from a real HTTP server standing in for it."""
    class Expired(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"__type": "com.amazon.coral.service#ExpiredTokenException",
                               "message": "The security token included in the request is expired"}).encode()
            self.send_response(400)
            for name, value in (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "req-1"),
                                ("Content-Length", str(len(body)))):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    with local_server(Expired) as url:
        aws.setenv("AWS_ENDPOINT_URL", url)
        result = task(LIST_TABLES, {})
    assert result.error == "DynamoDb.DynamoDbException"
    assert result.cause == ("The security token included in the request is expired (Service: DynamoDb, "
                            "Status Code: 400, Request ID: req-1)")
