"""An execution whose changes the store refuses for a reason of its own fails alone, with States.Runtime and a
complete history; the executions committed in the same batch go on (the runtime commits each alone to find it)."""

from __future__ import annotations

import asyncio
import json

import pytest

from stepline.runtime.store.base import StoreError
from stepline.service.app import StepFunctionsService
from support import check_history

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}, "Q": {"Type": "Pass", "End": True}}})


async def test_a_change_the_store_refuses_fails_its_execution_alone(service: StepFunctionsService) -> None:
    machine = (await service.create_state_machine(name="p", definition=PASS, roleArn=ROLE))["stateMachineArn"]
    commit = service.store.commit
    refused = []

    async def refusing(changes: list) -> None:  # a value the database will not take, in one execution's change
        if any(change.execution_arn.endswith(":poison") and any(e["type"] == "PassStateEntered" for e in change.events)
               for change in changes):
            refused.append(len(changes))
            raise StoreError("The store cannot be written: value too long for type character varying(10)")
        await commit(changes)

    service.store.commit = refusing  # type: ignore[method-assign]
    names = ["a", "b", "poison", "c", "d"]
    started = await asyncio.gather(*(service.start_execution(stateMachineArn=machine, name=name) for name in names))
    for execution in started:
        await asyncio.wait_for(service.runtime.wait(execution["executionArn"]), 10)
    assert refused and max(refused) > 1, "the poison was never committed beside others"
    for name, execution in zip(names, started):
        described = await service.describe_execution(executionArn=execution["executionArn"])
        history = await service.full_history(execution["executionArn"])
        check_history(history)
        if name == "poison":
            assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
            assert "value too long" in described["cause"]
            assert [e["type"] for e in history] == ["ExecutionStarted", "ExecutionFailed"]
        else:
            assert described["status"] == "SUCCEEDED", described
