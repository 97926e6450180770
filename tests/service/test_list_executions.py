"""ListExecutions pages through the store a page at a time, whatever the filters drop between pages."""

from __future__ import annotations

import json

import pytest

from stepline.service.app import StepFunctionsService

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


async def pages(service: StepFunctionsService, **query: object) -> list[list[str]]:
    found, token = [], None
    while True:
        page = await service.list_executions(**query, maxResults=2, **({"nextToken": token} if token else {}))
        found.append([execution["name"] for execution in page["executions"]])
        token = page.get("nextToken")
        if token is None:
            return found


async def test_executions_of_a_version_page_among_many_others(service: StepFunctionsService) -> None:
    machine = await service.create_state_machine(name="versions", definition=PASS, roleArn=ROLE, publish=True)
    version = machine["stateMachineVersionArn"]
    for number in range(9):  # every third execution runs the version
        target = version if number % 3 == 0 else machine["stateMachineArn"]
        started = await service.start_execution(stateMachineArn=target, name=f"run-{number}")
        await service.runtime.wait(started["executionArn"])
    assert await pages(service, stateMachineArn=version) == [["run-6", "run-3"], ["run-0"]]
    assert await pages(service, stateMachineArn=machine["stateMachineArn"], statusFilter="SUCCEEDED") == [
        ["run-8", "run-7"], ["run-6", "run-5"], ["run-4", "run-3"], ["run-2", "run-1"], ["run-0"]]
    assert await pages(service, stateMachineArn=machine["stateMachineArn"], redriveFilter="REDRIVEN") == [[]]
