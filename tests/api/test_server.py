"""End to end: `serve()` in a subprocess on a free port, driven by real boto3 and the real `aws` CLI.

The service is a small stub defined here; run as a script, this file serves it: `python test_server.py`.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stepline.service import arns, paging
from stepline.service.errors import ExecutionDoesNotExist

REGION, ACCOUNT = "us-east-1", "123456789012"
CREATED = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
AWS_CLI = Path(sys.executable).with_name("aws")


class StubService:
    """Just enough of a service: activities, an execution that never exists, a sync run, and a bug."""

    def __init__(self) -> None:
        self.activities = [{"activityArn": arns.activity_arn(REGION, ACCOUNT, f"activity-{i}"), "name": f"activity-{i}",
                            "creationDate": CREATED} for i in range(5)]

    async def start(self) -> None:
        print("stub: started", file=sys.stderr, flush=True)

    async def close(self) -> None:
        print("stub: closed", file=sys.stderr, flush=True)

    async def list_activities(self, maxResults: int | None = None, nextToken: str | None = None) -> dict[str, Any]:
        page, token = paging.paginate(self.activities, key=lambda a: a["activityArn"], max_results=maxResults,
                                      next_token=nextToken, scope="ListActivities")
        return {"activities": page, **({"nextToken": token} if token else {})}

    async def create_activity(self, name: str, **options: Any) -> dict[str, Any]:
        arns.check_name(name)
        return {"activityArn": arns.activity_arn(REGION, ACCOUNT, name), "creationDate": CREATED}

    async def describe_execution(self, executionArn: str, includedData: str | None = None) -> dict[str, Any]:
        arns.parse_execution_arn(executionArn)
        raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{executionArn}'")

    async def list_executions(self, **params: Any) -> dict[str, Any]:
        return {"executions": []}

    async def start_sync_execution(self, stateMachineArn: str, name: str | None = None, input: str | None = None,
                                   **options: Any) -> dict[str, Any]:
        machine = arns.parse_state_machine_arn(stateMachineArn)
        return {"executionArn": arns.express_execution_arn(REGION, ACCOUNT, machine.name, name or "run", "u-1"),
                "stateMachineArn": stateMachineArn, "name": name or "run", "startDate": CREATED,
                "stopDate": CREATED, "status": "SUCCEEDED", "input": input or "{}", "output": input or "{}",
                "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100}}

    async def list_state_machines(self, **params: Any) -> dict[str, Any]:
        raise RuntimeError("stub bug: list_state_machines")


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    port: int

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything it wrote on stderr."""
        self.process.send_signal(signal.SIGTERM)
        try:
            _, stderr = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return self.process.returncode, stderr


def start_server() -> Server:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            assert line.startswith("stepline: Step Functions API on http://127.0.0.1:"), line
            url = line.split(" on ", 1)[1].strip()
            return Server(process, url, int(url.rsplit(":", 1)[1]))
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read() if process.stderr else ''}")
    process.kill()
    raise AssertionError("server did not announce its address within 30 s")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = start_server()
    yield running
    running.stop()


def client(server: Server, **config: Any) -> Any:
    return boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, **config))


def raw(server: Server, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# -- boto3 ---------------------------------------------------------------------------------------------------

def test_boto3_lists_and_paginates(server: Server) -> None:
    sfn = client(server)
    listed = sfn.list_activities()
    assert [a["name"] for a in listed["activities"]] == [f"activity-{i}" for i in range(5)]
    assert listed["activities"][0]["creationDate"] == CREATED          # epoch seconds with milliseconds
    pages = list(sfn.get_paginator("list_activities").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(page["activities"]) for page in pages] == [2, 2, 1]
    assert listed["ResponseMetadata"]["RequestId"]


def test_boto3_sees_aws_errors(server: Server) -> None:
    sfn = client(server)
    with pytest.raises(sfn.exceptions.InvalidArn) as caught:
        sfn.describe_execution(executionArn="not_an_arn")
    assert caught.value.response["Error"]["Message"] == "Invalid Arn: 'Invalid ARN prefix: not_an_arn'"
    missing = arns.execution_arn(REGION, ACCOUNT, "m", "e")
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist) as caught:
        sfn.describe_execution(executionArn=missing)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert caught.value.response["Error"]["Message"] == f"Execution Does Not Exist: '{missing}'"
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_activity(name="activity:name")


def test_boto3_gets_server_side_validation(server: Server) -> None:
    unchecked = client(server, parameter_validation=False)
    with pytest.raises(ClientError) as caught:
        unchecked.list_executions(stateMachineArn=arns.state_machine_arn(REGION, ACCOUNT, "m"),
                                  statusFilter="succeeded")
    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'succeeded' at 'statusFilter' failed to satisfy constraint: "
                   "Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, "
                   "RUNNING]"}
    with pytest.raises(ClientError) as caught:
        client(server).create_activity(name="a" * 81)       # botocore checks no maximum: the server does
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        unchecked.list_activities(maxResults="3")
    assert caught.value.response["Error"] == {"Code": "SerializationException",
                                              "Message": "STRING_VALUE cannot be converted to Integer"}


def test_boto3_gets_internal_failure_without_a_traceback(server: Server) -> None:
    with pytest.raises(ClientError) as caught:
        client(server).list_state_machines()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert "stub bug" not in caught.value.response["Error"]["Message"]


def test_boto3_gets_413_for_a_request_over_1_mib(server: Server) -> None:
    definition = json.dumps({"Comment": "x" * 1_100_000, "StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                                          "End": True}}})
    with pytest.raises(ClientError) as caught:
        client(server).create_state_machine(name="big", definition=definition,
                                            roleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_sync_actions_need_host_prefix_injection_off_locally(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sends StartSyncExecution/TestState to `sync-<host>`, which 127.0.0.1 cannot resolve; turning
    injection off (Config or AWS_DISABLE_HOST_PREFIX_INJECTION) makes the default endpoint work."""
    machine = arns.state_machine_arn(REGION, ACCOUNT, "express")
    result = client(server, inject_host_prefix=False).start_sync_execution(stateMachineArn=machine, input='{"a":1}')
    assert (result["status"], result["output"], result["startDate"]) == ("SUCCEEDED", '{"a":1}', CREATED)
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    assert client(server).start_sync_execution(stateMachineArn=machine)["status"] == "SUCCEEDED"


def test_the_server_accepts_the_sync_host(server: Server) -> None:
    status, headers, body = raw(server, b'{"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m"}', {
        "Host": f"sync-127.0.0.1:{server.port}", "X-Amz-Target": "AWSStepFunctions.StartSyncExecution",
        "Content-Type": "application/x-amz-json-1.0"})
    assert status == 200 and json.loads(body)["status"] == "SUCCEEDED"
    assert headers["content-type"] == "application/x-amz-json-1.0" and headers["x-amzn-requestid"]


def test_raw_protocol_errors(server: Server) -> None:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    assert raw(server, b"{}", {**headers, "X-Amz-Target": "AWSStepFunctions.Nope"})[::2] == (
        400, b'{"__type":"UnknownOperationException"}')
    assert raw(server, b"{", {**headers, "X-Amz-Target": "AWSStepFunctions.ListActivities"})[::2] == (
        400, b'{"__type":"SerializationException"}')


# -- the aws CLI ---------------------------------------------------------------------------------------------

def aws(server: Server, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull,
                   "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": "", **env}
    environment.pop("AWS_PROFILE", None)
    return subprocess.run([str(AWS_CLI), "stepfunctions", *args, "--endpoint-url", server.url, "--output", "json"],
                          capture_output=True, text=True, env=environment, timeout=60)


def test_aws_cli(server: Server) -> None:
    listed = aws(server, "list-activities")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["activities"]) == 5

    failed = aws(server, "describe-execution", "--execution-arn", "not_an_arn")
    assert failed.returncode in (254, 255)          # CLI v2 and v1 exit codes for a service error
    assert "(InvalidArn)" in failed.stderr and "Invalid ARN prefix: not_an_arn" in failed.stderr

    synced = aws(server, "start-sync-execution", "--state-machine-arn",
                 arns.state_machine_arn(REGION, ACCOUNT, "express"), "--input", "{}",
                 AWS_DISABLE_HOST_PREFIX_INJECTION="true")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["status"] == "SUCCEEDED"


# -- the process ---------------------------------------------------------------------------------------------

def test_sigterm_stops_cleanly_and_bugs_are_logged() -> None:
    running = start_server()
    status, _, body = raw(running, b"{}", {"X-Amz-Target": "AWSStepFunctions.ListStateMachines"})
    assert status == 500 and b"Traceback" not in body
    code, stderr = running.stop()
    assert code == 0, stderr
    assert "stub: started" in stderr and "stub: closed" in stderr
    assert "Traceback" in stderr and "stub bug: list_state_machines" in stderr   # logged, not sent


if __name__ == "__main__":
    from stepline.server import serve

    serve(StubService(), port=0)
