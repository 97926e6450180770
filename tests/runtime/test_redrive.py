"""RedriveExecution on the durable runtime: the failed states run again, successful work does not."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stepline.runtime.clock import VirtualClock
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import Lease
from stepline.service import errors
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

from .conftest import Backend

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:work"


def _flaky(calls: Counter, broken: set) -> object:
    def work(event, context):
        calls[event["item"]] += 1
        if event["item"] in broken:
            raise RuntimeError(f"item {event['item']} is broken")
        return {"done": event["item"]}
    return work


async def _run(service: StepFunctionsService, definition: dict, input: dict) -> str:
    machine = await service.create_state_machine(name="redrive", definition=json.dumps(definition), roleArn=ROLE)
    started = await service.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(input))
    await service.runtime.wait(started["executionArn"], timeout=30)
    return started["executionArn"]


MAP = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ItemSelector": {"item.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FUNCTION, "End": True}}},
    "End": True}}}


async def test_a_redriven_map_reruns_only_its_failed_iterations(service: StepFunctionsService) -> None:
    calls: Counter = Counter()
    broken = {2}
    service.functions.register("work", _flaky(calls, broken))
    arn = await _run(service, MAP, {"items": [1, 2, 3]})
    failed = await service.describe_execution(executionArn=arn)
    assert failed["status"] == "FAILED" and failed["error"] == "RuntimeError"
    assert failed["redriveStatus"] == "REDRIVABLE"

    broken.clear()
    redriven = await service.redrive_execution(executionArn=arn)
    assert "redriveDate" in redriven
    await service.runtime.wait(arn, timeout=30)
    done = await service.describe_execution(executionArn=arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [{"done": 1}, {"done": 2}, {"done": 3}]
    assert done["redriveCount"] == 1
    assert calls == Counter({1: 1, 2: 2, 3: 1})  # item 1 was not run again; item 3 never ran before
    types = [e["type"] for e in await service.full_history(arn)]
    assert types.count("ExecutionRedriven") == 1 and types[-1] == "ExecutionSucceeded"
    assert [e["id"] for e in await service.full_history(arn)] == list(range(1, len(types) + 1))


async def test_a_redriven_execution_continues_from_the_failed_state(service: StepFunctionsService) -> None:
    calls: Counter = Counter()
    broken = {"b"}
    service.functions.register("work", _flaky(calls, broken))
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": FUNCTION, "Parameters": {"item": "a"}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Task", "Resource": FUNCTION, "Parameters": {"item": "b"}, "ResultPath": "$.b", "End": True}}}
    arn = await _run(service, definition, {})
    assert (await service.describe_execution(executionArn=arn))["status"] == "FAILED"
    broken.clear()
    await service.redrive_execution(executionArn=arn)
    await service.runtime.wait(arn, timeout=30)
    done = await service.describe_execution(executionArn=arn)
    assert json.loads(done["output"]) == {"a": {"done": "a"}, "b": {"done": "b"}}
    assert calls == Counter({"a": 1, "b": 2})


async def test_only_unsuccessful_standard_executions_can_be_redriven(service: StepFunctionsService) -> None:
    service.functions.register("work", _flaky(Counter(), set()))
    arn = await _run(service, MAP, {"items": [1]})
    assert (await service.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"
    with pytest.raises(errors.ExecutionNotRedrivable):
        await service.redrive_execution(executionArn=arn)


async def test_a_stopped_execution_can_be_redriven(tmp_path: Path) -> None:
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                                                "Done": {"Type": "Pass", "Result": "after", "End": True}}}
    service = StepFunctionsService(Settings(db=str(tmp_path / "real-time.db")))  # real time: the Wait is real
    await service.start()
    try:
        machine = await service.create_state_machine(name="stop", definition=json.dumps(definition), roleArn=ROLE)
        started = await service.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
        arn = started["executionArn"]
        await service.stop_execution(executionArn=arn, error="Operator", cause="stopped by a test")
        stopped = await service.describe_execution(executionArn=arn)
        assert (stopped["status"], stopped["error"], stopped["cause"]) == ("ABORTED", "Operator", "stopped by a test")
        await service.redrive_execution(executionArn=arn)
        await service.runtime.wait(arn, timeout=30)
        done = await service.describe_execution(executionArn=arn)
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", "after")
        types = [e["type"] for e in await service.full_history(arn)]
        assert types.count("WaitStateEntered") == 2  # the Wait it was stopped in runs again, whole
    finally:
        await service.close()


async def test_a_redrive_accepted_by_a_server_that_died_is_applied_by_the_next(tmp_path: Path) -> None:
    """RedriveExecution marks the row RUNNING before its signal is applied: a server that dies in between
    leaves a RUNNING row with a failed checkpoint, which the next server's claim redrives."""
    calls: Counter = Counter()
    settings = Settings(db=str(tmp_path / "store.db"), time_scale=0)
    first = StepFunctionsService(settings)
    await first.start()
    first.functions.register("work", _flaky(calls, {2}))
    arn = await _run(first, MAP, {"items": [1, 2]})
    record = await first.describe_execution(executionArn=arn)
    assert record["status"] == "FAILED"
    await first.store.update_execution(arn, {"redriveCount": 1, "redriveDate": record["startDate"]},
                                       status="RUNNING")  # accepted; the server dies before its signal is applied
    await first.close()
    second = StepFunctionsService(settings)
    second.functions.register("work", _flaky(calls, set()))
    await second.start()
    try:
        await second.runtime.wait(arn, timeout=30)
        done = await second.describe_execution(executionArn=arn)
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", [{"done": 1}, {"done": 2}])
        assert calls == Counter({1: 1, 2: 2})
        types = [e["type"] for e in await second.full_history(arn)]
        assert types.count("ExecutionRedriven") == 1 and types[-1] == "ExecutionSucceeded"
    finally:
        await second.close()


async def test_a_resume_never_redrives_an_execution_that_ended_in_memory(service: StepFunctionsService) -> None:
    """A claim's "resume" may reach the signal loop after the execution it names ended in this worker: only a
    redrive accepted in the store (a RUNNING row over a failed checkpoint, as above) restarts an execution,
    never a resume of the ended copy in memory. The moment is made by hand: that copy and a lease put back."""
    service.functions.register("work", _flaky(Counter(), {1}))
    arn = await _run(service, MAP, {"items": [1]})
    runtime = service.runtime
    copy = await runtime._load(arn, await service.store.load_executions([arn]))
    assert copy is not None and copy.status == "FAILED" and arn in runtime.memory
    runtime.leases.hold(Lease(arn, runtime.worker, 0, datetime.now(timezone.utc) + timedelta(seconds=30)))
    before = await service.full_history(arn)
    runtime.submit(Signal("resume", arn))
    while not runtime._queue.empty() or runtime._busy:  # the signal loop takes it and commits
        await asyncio.sleep(0.01)
    assert (await service.describe_execution(executionArn=arn))["status"] == "FAILED"
    assert await service.full_history(arn) == before


LONG_LEASE = 600.0  # a redrive, a stop or an answer that waited for a lease to expire would time the test out
CALLBACK = {"StartAt": "Approve", "States": {"Approve": {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True,
    "Parameters": {"FunctionName": "keep_token", "Payload": {"token.$": "$$.Task.Token"}}}}}


def _prompt_service(location: str, tokens: list[str]) -> StepFunctionsService:
    """A worker whose leases outlast the test (30 s bounds each wait below)."""
    service = StepFunctionsService(Settings(db=location, time_scale=0, lease_seconds=LONG_LEASE, poll_seconds=0.2))
    service.functions.register("keep_token", lambda event, context: tokens.append(event["token"]) or {})
    return service


async def _token(tokens: list[str], count: int) -> str:
    async with asyncio.timeout(30):
        while len(tokens) < count:
            await asyncio.sleep(0.01)
    return tokens[count - 1]


async def test_a_redrive_runs_at_once_on_either_store(backend: Backend) -> None:
    """The lease an execution ended under does not hold its redrive back: redriven twice, it fails again each
    time within the wait's 30 s, long before the lease would have expired."""
    service = _prompt_service(backend.location, [])
    await service.start()
    try:
        definition = {"StartAt": "Broken", "States": {"Broken": {"Type": "Fail", "Error": "Broken", "Cause": "x"}}}
        arn = await _run(service, definition, {})
        for count in (1, 2):
            await service.redrive_execution(executionArn=arn)
            await service.runtime.wait(arn, timeout=30)
            failed = await service.describe_execution(executionArn=arn)
            assert (failed["status"], failed["redriveCount"]) == ("FAILED", count)
        types = [e["type"] for e in await service.full_history(arn)]
        assert types.count("ExecutionRedriven") == 2 and types.count("ExecutionFailed") == 3
    finally:
        await service.close()


async def test_a_stopped_and_redriven_execution_takes_its_answer_at_once_after_a_restart(backend: Backend) -> None:
    """A stop reaches a waiting execution, a redrive runs its callback task again, and SendTaskSuccess sent to the
    next server (after a restart) ends it: none waits for a lease."""
    tokens: list[str] = []
    first = _prompt_service(backend.location, tokens)
    await first.start()
    machine = await first.create_state_machine(name="approve", definition=json.dumps(CALLBACK), roleArn=ROLE)
    arn = (await first.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}"))["executionArn"]
    await _token(tokens, 1)
    await first.stop_execution(executionArn=arn, error="Operator")
    await first.runtime.wait(arn, timeout=30)
    assert (await first.describe_execution(executionArn=arn))["status"] == "ABORTED"
    await first.redrive_execution(executionArn=arn)
    token = await _token(tokens, 2)
    await first.close()
    second = _prompt_service(backend.location, tokens)
    await second.start()
    try:
        await second.send_task_success(taskToken=token, output='{"approved": true}')
        await second.runtime.wait(arn, timeout=30)
        done = await second.describe_execution(executionArn=arn)
        assert (done["status"], done["redriveCount"]) == ("SUCCEEDED", 1)
    finally:
        await second.close()


async def test_a_retention_shorter_than_14_days_bounds_the_redrivable_period(tmp_path: Path) -> None:
    """An execution that the purge may be deleting (closed before the retention's cut-off) is not redriven."""
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0, retention_days=1))
    service.clock = clock = VirtualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    await service.start()
    try:
        fail = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Broken"}}}
        arn = await _run(service, fail, {})
        clock.advance(12 * 3600)
        assert (await service.describe_execution(executionArn=arn))["redriveStatus"] == "REDRIVABLE"
        clock.advance(13 * 3600)  # a day and an hour after it failed
        described = await service.describe_execution(executionArn=arn)
        assert (described["redriveStatus"], described["redriveStatusReason"]) == (
            "NOT_REDRIVABLE", "Execution redrivable period exceeded.")
        with pytest.raises(errors.ExecutionNotRedrivable, match="Execution redrivable period exceeded."):
            await service.redrive_execution(executionArn=arn)
    finally:
        await service.close()
