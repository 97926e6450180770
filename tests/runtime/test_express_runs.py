"""Express executions run as kept tasks: a failure is logged, and closing stops and awaits the ones still running."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stepline.engine.interpreter import Execution
from stepline.engine.program import compile_definition
from stepline.runtime.clock import SystemClock
from stepline.runtime.integrations.registry import Integrations
from stepline.runtime.runner import ExecutionRunner, ExpressRuns

pytestmark = pytest.mark.anyio

ARN = "arn:aws:states:us-east-1:123456789012:express:m:run:1"


def _runner(definition: str) -> ExecutionRunner:
    execution = Execution(compile_definition(definition), input={}, execution_arn=ARN, name="run",
                          state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:m",
                          state_machine_name="m", role_arn="", start_time=SystemClock().now(), seed=ARN,
                          region="us-east-1", redrive_count=None)
    return ExecutionRunner(execution, Integrations([]), SystemClock())


def _summary(execution: Execution) -> str:
    return execution.status


async def test_a_run_that_breaks_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    runs = ExpressRuns(_summary)
    runner = _runner('{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0, "End": true}}}')

    async def broken() -> Execution:
        raise RuntimeError("a bug in the runner")

    runner.run = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="stepline.runtime.runner"):
        runs.start(runner)
        await asyncio.sleep(0.05)
    assert any("Express execution failed" in r.getMessage() and r.exc_info and "a bug in the runner" in
               str(r.exc_info[1]) for r in caplog.records)
    assert runs.get(ARN) == "RUNNING"  # ended by a bug: its last known state is kept


async def test_closing_stops_and_awaits_the_runs_still_going() -> None:
    runs = ExpressRuns(_summary)
    runs.start(_runner('{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 31536000, "End": true}}}'))
    await asyncio.sleep(0.05)
    assert runs.get(ARN) == "RUNNING"
    await asyncio.wait_for(runs.close(), 5)
    assert not runs._running
