"""Nested workflows on this stepline: states:startExecution in its three patterns, and aws-sdk:sfn:startExecution,
start the child here as an execution of its own; a .sync parent resumes when the child ends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stepline.service.app import StepFunctionsService

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
MACHINES = "arn:aws:states:us-east-1:123456789012:stateMachine"


async def machine(service: StepFunctionsService, name: str, states: dict, start: str | None = None,
                  machine_type: str = "STANDARD") -> str:
    definition = {"StartAt": start or next(iter(states)), "States": states}
    response = await service.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE,
                                                  type=machine_type)
    return response["stateMachineArn"]


def nested(resource: str, **fields: Any) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::{resource}", "End": True,
            "Parameters": {"StateMachineArn": f"{MACHINES}:child", "Input": {"value.$": "$.value",
                           "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}}, **fields}


async def run(service: StepFunctionsService, parent: str, value: Any = 1) -> tuple[dict, list[dict]]:
    started = await service.start_execution(stateMachineArn=parent, input=json.dumps({"value": value}))
    await asyncio.wait_for(service.wait_for_execution(started["executionArn"]), 10)
    described = await service.describe_execution(executionArn=started["executionArn"])
    return described, await service.full_history(started["executionArn"])


async def children(service: StepFunctionsService) -> list[dict]:
    listed = await service.list_executions(stateMachineArn=f"{MACHINES}:child")
    return [await service.describe_execution(executionArn=e["executionArn"]) for e in listed["executions"]]


CHILD = {"Double": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.value, $.value)"}, "End": True}}


async def test_request_response_starts_the_child_and_returns_its_arn(service: StepFunctionsService) -> None:
    await machine(service, "child", CHILD)
    parent = await machine(service, "parent", {"Start": nested("states:startExecution")})
    described, _ = await run(service, parent)
    output = json.loads(described["output"])
    assert set(output) == {"ExecutionArn", "StartDate"} and isinstance(output["StartDate"], int)
    [child] = await children(service)
    assert child["executionArn"] == output["ExecutionArn"]
    await service.wait_for_execution(child["executionArn"])
    child = await service.describe_execution(executionArn=child["executionArn"])
    assert child["status"] == "SUCCEEDED" and json.loads(child["output"]) == {"doubled": 2}
    assert json.loads(child["input"])["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] == described["executionArn"]


@pytest.mark.parametrize(("resource", "as_json"), [("states:startExecution.sync", False),
                                                   ("states:startExecution.sync:2", True)])
async def test_sync_waits_for_the_child_and_returns_its_description(service: StepFunctionsService, resource: str,
                                                                    as_json: bool) -> None:
    await machine(service, "child", {"Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Double"}, **CHILD})
    parent = await machine(service, "parent", {"Start": nested(resource)})
    described, history = await run(service, parent, 21)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["Status"] == "SUCCEEDED" and output["Name"]
    assert output["Output"] == ({"doubled": 42} if as_json else json.dumps({"doubled": 42}, separators=(",", ":")))
    assert (output["Input"]["value"] if as_json else json.loads(output["Input"])["value"]) == 21
    assert output["StopDate"] >= output["StartDate"] and output["OutputDetails"] == {"Included": True}
    types = [e["type"] for e in history]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")
    submitted = json.loads(next(e for e in history if e["type"] == "TaskSubmitted")
                           ["taskSubmittedEventDetails"]["output"])
    assert submitted["ExecutionArn"] == output["ExecutionArn"]


async def test_a_child_that_fails_fails_the_sync_task_with_its_description(service: StepFunctionsService) -> None:
    await machine(service, "child", {"Boom": {"Type": "Fail", "Error": "Child.Broke", "Cause": "on purpose"}})
    parent = await machine(service, "parent", {"Start": nested("states:startExecution.sync:2")})
    described, _ = await run(service, parent)
    assert described["status"] == "FAILED" and described["error"] == "States.TaskFailed"
    cause = json.loads(described["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "Child.Broke", "on purpose")


@pytest.mark.parametrize(("resource", "error"), [
    ("states:startExecution", "StepFunctions.StateMachineDoesNotExistException"),
    ("aws-sdk:sfn:startExecution", "Sfn.StateMachineDoesNotExistException")])
async def test_errors_are_named_as_step_functions_names_them(service: StepFunctionsService, resource: str,
                                                             error: str) -> None:
    parent = await machine(service, "parent", {"Start": nested(resource)})  # no child machine
    described, _ = await run(service, parent)
    assert described["error"] == error
    assert described["cause"].startswith(f"State Machine Does Not Exist: '{MACHINES}:child'")


async def test_the_same_name_twice_is_execution_already_exists(service: StepFunctionsService) -> None:
    await machine(service, "child", CHILD)
    task = nested("states:startExecution")
    task["Parameters"]["Name"] = "only-once"
    task["Parameters"]["Input"]["state.$"] = "$$.State.Name"  # another input: not the same request again
    parent = await machine(service, "parent", {"First": {**task, "End": False, "Next": "Again", "ResultPath": None},
                                               "Again": task})
    described, _ = await run(service, parent)
    assert described["error"] == "StepFunctions.ExecutionAlreadyExistsException", described["cause"]


async def test_unknown_parameters_are_rejected(service: StepFunctionsService) -> None:
    await machine(service, "child", CHILD)
    task = nested("states:startExecution")
    task["Parameters"]["Priority"] = 1
    described, _ = await run(service, await machine(service, "parent", {"Start": task}))
    assert described["error"] == "States.Runtime" and "Priority" in described["cause"]


async def test_stopping_the_parent_stops_a_sync_child(service: StepFunctionsService) -> None:
    activity = (await service.create_activity(name="hold"))["activityArn"]  # no worker: the child waits
    await machine(service, "child", {"Hold": {"Type": "Task", "Resource": activity, "End": True}})
    parent = await machine(service, "parent", {"Start": nested("states:startExecution.sync")})
    started = await service.start_execution(stateMachineArn=parent, input=json.dumps({"value": 1}))
    await eventually(lambda: children(service), lambda found: len(found) == 1)
    await service.stop_execution(executionArn=started["executionArn"])
    [child] = await eventually(lambda: children(service), lambda found: found[0]["status"] != "RUNNING")
    assert child["status"] == "ABORTED"


async def test_a_callback_child_answers_its_parent(service: StepFunctionsService) -> None:
    await machine(service, "child", {"Answer": {"Type": "Pass", "End": True}})
    task = nested("states:startExecution.waitForTaskToken")
    task["Parameters"]["Input"]["token.$"] = "$$.Task.Token"
    parent = await machine(service, "parent", {"Start": task})
    started = await service.start_execution(stateMachineArn=parent, input=json.dumps({"value": 1}))
    [child] = await eventually(lambda: children(service), lambda found: len(found) == 1)
    await service.send_task_success(taskToken=json.loads(child["input"])["token"], output='{"answered": true}')
    await asyncio.wait_for(service.wait_for_execution(started["executionArn"]), 10)
    described = await service.describe_execution(executionArn=started["executionArn"])
    assert json.loads(described["output"]) == {"answered": True}


async def test_an_express_child_runs_to_its_end_for_a_sync_parent(service: StepFunctionsService) -> None:
    await machine(service, "child", CHILD, machine_type="EXPRESS")
    parent = await machine(service, "parent", {"Start": nested("states:startExecution.sync:2")})
    described, _ = await run(service, parent, 5)
    assert json.loads(described["output"])["Output"] == {"doubled": 10}


async def eventually(read: Any, done: Any, timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, value
        await asyncio.sleep(0.02)


async def test_aws_sdk_sfn_actions_reach_this_stepline_whatever_aws_endpoint_is_set(
        service: StepFunctionsService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there: not used for sfn
    child = await machine(service, "child", CHILD)
    parent = await machine(service, "parent", {
        "Describe": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
                     "Parameters": {"StateMachineArn": child}, "ResultSelector": {"Name.$": "$.Name",
                                                                                "Created.$": "$.CreationDate"},
                     "ResultPath": "$.described", "Next": "Answer"},
        "Answer": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess",
                   "Parameters": {"TaskToken": "no-such-token", "Output": "{}"}, "End": True,
                   "Catch": [{"ErrorEquals": ["Sfn.InvalidTokenException"], "ResultPath": "$.error",
                              "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}})
    described, _ = await run(service, parent)
    output = json.loads(described["output"])
    assert output["described"]["Name"] == "child" and output["described"]["Created"].endswith("Z")
    assert output["error"]["Error"] == "Sfn.InvalidTokenException"
    assert "(Service: Sfn, Status Code: 400" in output["error"]["Cause"]
