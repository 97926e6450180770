"""The actions AWS refuses for an Express execution's ARN, through boto3 against `stepline serve`.

AWS answers DescribeExecution, StopExecution and GetExecutionHistory on an Express execution with InvalidArn
"Invalid Arn: 'Resource type not valid in this context: express'" (recorded by LocalStack against AWS); the API
reference says DescribeStateMachineForExecution and RedriveExecution do not support Express state machines
either, and that DescribeExecution does take an Express execution that a Map Run dispatched. What stepline does
with Express executions itself (a nested execution's parent, the console) goes on through the service.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from serving import ACCOUNT, REGION, ROLE, StepLine

PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"
NOT_IN_CONTEXT = ("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("express") / "stepline.db")
    yield running
    assert running.stop() == 0


def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def create(sfn: Any, name: str, definition: dict, machine_type: str = "STANDARD") -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE,
                                    type=machine_type)["stateMachineArn"]


def test_the_execution_actions_refuse_an_express_execution_as_aws_does(server: StepLine) -> None:
    sfn = server.client()
    machine = create(sfn, "express-refused", WAIT, "EXPRESS")
    running = sfn.start_execution(stateMachineArn=machine, name="running")["executionArn"]
    ended = sfn.start_sync_execution(stateMachineArn=machine, name="ended")["executionArn"]
    for arn in (running, ended):
        for call in (sfn.describe_execution, sfn.stop_execution, sfn.get_execution_history,
                     sfn.describe_state_machine_for_execution, sfn.redrive_execution):
            assert error_of(call, executionArn=arn) == NOT_IN_CONTEXT, call
    # one that never existed is refused for its type all the same, before any lookup
    assert error_of(sfn.describe_execution, executionArn=f"{PREFIX}:express:express-refused:gone:0a1b") == \
        NOT_IN_CONTEXT


def test_describe_execution_takes_the_express_child_of_a_map_run(server: StepLine) -> None:
    sfn = server.client()
    child = f"{PREFIX}:express:parent/Items:child-1:0a1b2c3d"
    assert error_of(sfn.describe_execution, executionArn=child) == (
        "ExecutionDoesNotExist", f"Execution Does Not Exist: '{child}'")
    for call in (sfn.stop_execution, sfn.get_execution_history, sfn.describe_state_machine_for_execution,
                 sfn.redrive_execution):
        assert error_of(call, executionArn=child) == NOT_IN_CONTEXT, call


def test_a_sync_parent_follows_its_express_child_and_the_console_shows_it(server: StepLine) -> None:
    sfn = server.client()
    child = create(sfn, "express-child", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "EXPRESS")
    parent = create(sfn, "express-parent", {"StartAt": "Start", "States": {"Start": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
        "Parameters": {"StateMachineArn": child, "Input": {"n": 1}}}}})
    arn = sfn.start_execution(stateMachineArn=parent, name="p-1")["executionArn"]
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert (output["Status"], output["Output"]) == ("SUCCEEDED", {"n": 1})
    express = output["ExecutionArn"]
    assert express.startswith(f"{PREFIX}:express:express-child:")
    assert error_of(sfn.describe_execution, executionArn=express) == NOT_IN_CONTEXT

    with urllib.request.urlopen(f"{server.url}/console/api/execution?executionArn={quote(express, safe='')}") as page:
        shown = json.loads(page.read())
    assert (shown["execution"]["executionArn"], shown["execution"]["status"]) == (express, "SUCCEEDED")
    assert json.loads(shown["execution"]["output"]) == {"n": 1}
    assert shown["machine"]["stateMachineArn"] == child
