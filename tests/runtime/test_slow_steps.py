"""Steps that run past their time on the event loop are applied again in a thread (runtime/applying.py): what
that must not lose, in process on a SQLite store with a short evaluation limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import stepline.runtime.worker as worker
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
SPIN = "{% $contains('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!', /^(a+)+$/) %}"  # runs until the limit stops it
SLOW_START = {"QueryLanguage": "JSONata", "StartAt": "E", "States": {"E": {"Type": "Pass", "Output": SPIN,
                                                                          "End": True}}}


async def open_service(db: Path) -> StepFunctionsService:
    service = StepFunctionsService(Settings(db=str(db), time_scale=1, evaluation_seconds=1))
    await service.start()
    return service


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[StepFunctionsService]:
    service = await open_service(tmp_path / "store.db")
    yield service
    await service.close()


async def history_types(service: StepFunctionsService, arn: str) -> list[str]:
    return [event["type"] for event in await service.full_history(arn)]


async def test_a_recovered_start_that_runs_over_is_applied_in_a_thread(tmp_path: Path) -> None:
    service = await open_service(tmp_path / "store.db")
    submit = service.runtime.submit
    service.runtime.submit = lambda signal: None if signal.kind == "start" else submit(signal)  # a crash before it
    machine = (await service.create_state_machine(name="slow", definition=json.dumps(SLOW_START), roleArn=ROLE))
    arn = (await service.start_execution(stateMachineArn=machine["stateMachineArn"]))["executionArn"]
    await service.close()
    service = await open_service(tmp_path / "store.db")  # recovery: a resume, which becomes the start
    try:
        await asyncio.wait_for(service.runtime.wait(arn), 10)
        described = await service.describe_execution(executionArn=arn)
        assert (described["status"], described["error"]) == ("FAILED", "States.QueryEvaluationError")
        assert await history_types(service, arn) == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed",
                                                     "ExecutionFailed"]
    finally:
        await service.close()


async def test_a_stop_during_a_slow_redrive_ends_the_redriven_execution(service: StepFunctionsService) -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "E", "States": {"E": {  # fails, then spins once redriven
        "Type": "Pass", "End": True,
        "Output": "{% $states.context.Execution.RedriveCount = 0 ? $error('E', 'first') : " + SPIN[3:-3] + " %}"}}}
    machine = (await service.create_state_machine(name="redrive", definition=json.dumps(definition), roleArn=ROLE))
    arn = (await service.start_execution(stateMachineArn=machine["stateMachineArn"]))["executionArn"]
    await asyncio.wait_for(service.runtime.wait(arn), 10)
    await service.redrive_execution(executionArn=arn)
    for _ in range(100):
        if arn in service.runtime._applier.late:
            break
        await asyncio.sleep(0.02)
    assert arn in service.runtime._applier.late
    await service.stop_execution(executionArn=arn, error="E", cause="stopped")
    await asyncio.wait_for(service.runtime.wait(arn), 10)
    described = await service.describe_execution(executionArn=arn)
    assert described["status"] in ("ABORTED", "FAILED"), described  # stopped, or failed by its limit first
    assert (await history_types(service, arn)).count("ExecutionRedriven") == 1


async def test_a_timer_of_an_execution_failed_alone_fires_again_after_a_redrive(
        service: StepFunctionsService, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Next": "X"},
                                             "X": {"Type": "Wait", "Seconds": 1, "End": True}}}
    write = worker.checkpoint

    def refusing(execution: object, *iterations: object) -> object:  # the one after the first Wait cannot be written
        threads = execution.threads  # type: ignore[attr-defined]
        if "" in threads and threads[""].state is not None and threads[""].state.name == "X":
            raise ValueError("cannot checkpoint")
        return write(execution, *iterations)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "checkpoint", refusing)
    machine = (await service.create_state_machine(name="waits", definition=json.dumps(definition), roleArn=ROLE))
    arn = (await service.start_execution(stateMachineArn=machine["stateMachineArn"]))["executionArn"]
    await asyncio.wait_for(service.runtime.wait(arn), 10)
    described = await service.describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    monkeypatch.setattr(worker, "checkpoint", write)
    await service.redrive_execution(executionArn=arn)
    await asyncio.wait_for(service.runtime.wait(arn), 10)
    assert (await service.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"
