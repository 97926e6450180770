"""DescribeExecution takes an EXPRESS child of a Map Run (the API reference: Express executions are not supported
"unless they were dispatched by a Map Run"), once it ended, from the row its end was kept in."""

from __future__ import annotations

import json

import pytest

from stepline.runtime.store.records import MAP_RUN_EXPRESS_CHILDREN
from stepline.service.app import StepFunctionsService

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
MAP = json.dumps({"StartAt": "M", "States": {"M": {
    "Type": "Map", "Label": "Doubling", "End": True,
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                      "StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"},
                                                       "End": True}}}}}})


async def test_an_ended_express_child_is_described(service: StepFunctionsService) -> None:
    machine = await service.create_state_machine(name="doubling", definition=MAP, roleArn=ROLE)
    parent = (await service.start_execution(stateMachineArn=machine["stateMachineArn"], input="[1, 2]"))["executionArn"]
    await service.runtime.wait(parent)
    run = (await service.list_map_runs(executionArn=parent))["mapRuns"][0]["mapRunArn"]
    children = await service.store.list_resources(MAP_RUN_EXPRESS_CHILDREN, parent=parent)
    described = [await service.describe_execution(executionArn=child.arn) for child in children]
    assert sorted((d["status"], d["input"], json.loads(d["output"])["twice"]) for d in described) == [
        ("SUCCEEDED", "1", 2), ("SUCCEEDED", "2", 4)]
    assert {d["mapRunArn"] for d in described} == {run}
    assert all(":express:doubling/Doubling:" in d["executionArn"] for d in described)
