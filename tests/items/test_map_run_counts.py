"""DescribeMapRun's `failuresNotRedrivable` and `pendingRedrive`, through boto3 against `stepline serve` on
SQLite and on PostgreSQL: the failed children a redrive can no longer rerun (their redrivable period of 14 days
is over), and those a running redrive has not rerun yet (it reruns them within MaxConcurrency)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from serving import ROLE, StepLine, finished
from support import fresh_schema

@pytest.fixture(params=["sqlite", "postgres"])
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., StepLine]]:
    """Starts `stepline serve` with the options given, on a fresh store of each kind."""
    servers: list[StepLine] = []

    def start(*options: str) -> StepLine:
        if request.param == "sqlite":
            server = StepLine.start(tmp_path / "store.db", options=list(options))
        else:
            location = stack.enter_context(fresh_schema(request.getfixturevalue("postgres_url"), "counts"))[0]
            server = StepLine.start(location, options=list(options), log=tmp_path / "server.log")
        servers.append(server)
        return server

    with ExitStack() as stack:
        yield start
        for server in servers:
            server.stop()


def distributed(processor: dict, **fields: Any) -> str:
    return json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True, **fields,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": next(iter(processor)), "States": processor}}}})


def map_run(sfn: Any, execution: str) -> str:
    return str(sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"])


def test_failures_past_their_redrivable_period_are_not_redrivable(serve: Callable[..., StepLine]) -> None:
    sfn = serve("--time-scale", "0").client()  # virtual time: a 15-day Wait ends at once, and time has passed
    odd_fail = {"Odd?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Fail"},
                                                       {"Variable": "$.n", "NumericEquals": 3, "Next": "Fail"}],
                         "Default": "Done"},
                "Fail": {"Type": "Fail", "Error": "Odd"}, "Done": {"Type": "Pass", "End": True}}
    machine = sfn.create_state_machine(name="odd", roleArn=ROLE, definition=distributed(
        odd_fail, MaxConcurrency=1, ToleratedFailureCount=1))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"items": [{"n": n} for n in range(5)]}))["executionArn"]
    assert finished(sfn, execution)["status"] == "FAILED"  # the second odd item is one failure too many
    run = map_run(sfn, execution)
    described = sfn.describe_map_run(mapRunArn=run)
    assert described["executionCounts"] == {
        "pending": 0, "running": 0, "succeeded": 2, "failed": 2, "timedOut": 0, "aborted": 0, "total": 4,
        "resultsWritten": 4, "failuresNotRedrivable": 0, "pendingRedrive": 0}
    assert (described["itemCounts"]["failed"], described["itemCounts"]["failuresNotRedrivable"]) == (2, 0)
    child = sfn.list_executions(mapRunArn=run, statusFilter="FAILED")["executions"][0]["executionArn"]
    assert sfn.describe_execution(executionArn=child)["redriveStatus"] == "REDRIVABLE"

    later = sfn.create_state_machine(name="later", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 15 * 86400, "End": True}}}))
    assert finished(sfn, sfn.start_execution(stateMachineArn=later["stateMachineArn"])["executionArn"]
                    )["status"] == "SUCCEEDED"
    described = sfn.describe_map_run(mapRunArn=run)
    assert (described["executionCounts"]["failed"], described["executionCounts"]["failuresNotRedrivable"]) == (2, 2)
    assert (described["itemCounts"]["failed"], described["itemCounts"]["failuresNotRedrivable"]) == (2, 2)
    described = sfn.describe_execution(executionArn=child)  # as RedriveExecution answers: not redrivable
    assert (described["redriveStatus"], described["redriveStatusReason"]) == (
        "NOT_REDRIVABLE", "Execution redrivable period exceeded.")
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable, match="Execution redrivable period exceeded."):
        sfn.redrive_execution(executionArn=child)


def test_a_redrive_reruns_failed_children_within_max_concurrency_and_counts_those_pending(
        serve: Callable[..., StepLine]) -> None:
    sfn = serve("--time-scale", "0.02").client()  # a 50 s Wait takes 1 s
    fail_then_nap = {  # items but the first fail until redriven (a redrive reruns the failed state), then nap
        "Check": {"Type": "Pass", "QueryLanguage": "JSONata", "Next": "Redriven?",
                  "Output": "{% ($states.context.Execution.RedriveCount = 0 and $states.input.n > 0) ? "
                            "$error('not yet') : $states.input %}"},
        "Redriven?": {"Type": "Choice", "Choices": [{"Variable": "$$.Execution.RedriveCount",
                                                     "NumericGreaterThan": 0, "Next": "Nap"}], "Default": "Done"},
        "Nap": {"Type": "Wait", "Seconds": 50, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}}
    machine = sfn.create_state_machine(name="redriven", roleArn=ROLE, definition=distributed(
        fail_then_nap, MaxConcurrency=1, ToleratedFailureCount=2))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"items": [{"n": n} for n in range(4)]}))["executionArn"]
    assert finished(sfn, execution, timeout=30)["status"] == "FAILED"  # three failures, two tolerated
    run = map_run(sfn, execution)
    counts = sfn.describe_map_run(mapRunArn=run)["executionCounts"]
    assert (counts["succeeded"], counts["failed"], counts["pendingRedrive"]) == (1, 3, 0)

    sfn.redrive_execution(executionArn=execution)
    deadline = time.monotonic() + 20
    while True:  # the first failed child runs again, one at a time: the other two wait for their turn
        described = sfn.describe_map_run(mapRunArn=run)
        if described["executionCounts"]["pendingRedrive"] == 2:
            break
        assert time.monotonic() < deadline, described
        time.sleep(0.05)
    assert described["status"] == "RUNNING" and described["redriveCount"] == 1
    assert described["executionCounts"] == {
        "pending": 0, "running": 1, "succeeded": 1, "failed": 2, "timedOut": 0, "aborted": 0, "total": 4,
        "resultsWritten": 0, "failuresNotRedrivable": 0, "pendingRedrive": 2}
    assert (described["itemCounts"]["running"], described["itemCounts"]["pendingRedrive"]) == (1, 2)

    done = finished(sfn, execution, timeout=30)
    assert done["status"] == "SUCCEEDED", done
    described = sfn.describe_map_run(mapRunArn=run)
    assert described["executionCounts"] == {
        "pending": 0, "running": 0, "succeeded": 4, "failed": 0, "timedOut": 0, "aborted": 0, "total": 4,
        "resultsWritten": 4, "failuresNotRedrivable": 0, "pendingRedrive": 0}
    children = [sfn.describe_execution(executionArn=c["executionArn"])
                for c in sfn.list_executions(mapRunArn=run)["executions"]]
    spans = sorted((c for c in children if c["redriveCount"] == 1), key=lambda c: c["redriveDate"])
    assert len(spans) == 3
    for earlier, following in zip(spans, spans[1:]):  # MaxConcurrency 1: each reran after the one before ended
        assert earlier["stopDate"] <= following["redriveDate"]
