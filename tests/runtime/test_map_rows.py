"""The rows of a Map's items and results (engine/checkpoint.py) on the durable runtime: written while the Map
runs, kept by a failed execution for its redrive, and gone once no checkpoint needs them."""

from __future__ import annotations

import asyncio
import json

import pytest

from stepline.service.app import StepFunctionsService

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:work"
MAP_KEY = "@2.0"  # the root thread's Map, entered at event 2, not retried


async def test_the_rows_of_a_map_that_ended_go_while_the_execution_goes_on(service: StepFunctionsService) -> None:
    tokens: asyncio.Queue = asyncio.Queue()
    service.functions.register("work", lambda event, context: {"done": event})
    service.functions.register("hold", lambda event, context: tokens.put_nowait(event["token"]))
    definition = {"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "MaxConcurrency": 2, "Next": "Hold",
                 "ItemProcessor": {"StartAt": "Work", "States": {"Work": {
                     "Type": "Task", "Resource": FUNCTION, "End": True}}}},
        "Hold": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True,
                 "Parameters": {"FunctionName": "hold", "Payload": {"token.$": "$$.Task.Token"}}}}}
    machine = await service.create_state_machine(name="rows", definition=json.dumps(definition), roleArn=ROLE)
    arn = (await service.start_execution(stateMachineArn=machine["stateMachineArn"],
                                         input=json.dumps(list(range(6)))))["executionArn"]
    token = await asyncio.wait_for(tokens.get(), 10)
    assert (await service.describe_execution(executionArn=arn))["status"] == "RUNNING"
    assert await service.store.get_iterations(arn, [MAP_KEY]) == []  # the Map ended: its rows went with it
    await service.send_task_success(taskToken=token, output="{}")
    await service.runtime.wait(arn, timeout=10)
    assert (await service.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"


async def test_a_failed_map_keeps_its_rows_for_the_redrive_and_a_success_drops_them(
        service: StepFunctionsService) -> None:
    broken = {2}

    def work(event: int, context: object) -> int:
        if event in broken:
            raise RuntimeError("broken")
        return event * 10
    service.functions.register("work", work)
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "End": True,
        "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FUNCTION, "End": True}}}}}}
    machine = await service.create_state_machine(name="redrive", definition=json.dumps(definition), roleArn=ROLE)
    arn = (await service.start_execution(stateMachineArn=machine["stateMachineArn"],
                                         input=json.dumps([1, 2, 3])))["executionArn"]
    await service.runtime.wait(arn, timeout=10)
    assert (await service.describe_execution(executionArn=arn))["status"] == "FAILED"
    rows = {index: json.loads(body) for _, index, body in await service.store.get_iterations(arn, [MAP_KEY])}
    assert rows == {-1: {"items": [1, 2, 3], "input": [1, 2, 3], "effective": [1, 2, 3]}, 0: 10}
    broken.clear()
    await service.redrive_execution(executionArn=arn)
    await service.runtime.wait(arn, timeout=10)
    described = await service.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == [10, 20, 30]
    assert await service.store.get_iterations(arn, [MAP_KEY]) == []
