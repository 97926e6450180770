"""A nested .sync:2 child across a SIGKILL of its server, on SQLite; on PostgreSQL, across the kill of the worker
that ran the parent, the other worker taking over; and a child on another stepline (STEP_FUNCTIONS_ENDPOINT).
The child is started once, and the parent resumes with its output when it ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import ROLE, StepLine, finished, history, types
from support import fresh_schema

PREFIX = "arn:aws:states:us-east-1:123456789012"
CHILD = {"StartAt": "Nap", "States": {
    "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Double"},
    "Double": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.value, $.value)"}, "End": True}}}
PARENT = {"StartAt": "Child", "States": {"Child": {
    "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
    "Parameters": {"StateMachineArn": f"{PREFIX}:stateMachine:child", "Input": {"value.$": "$.value"}},
    "ResultSelector": {"output.$": "$.Output", "child.$": "$.ExecutionArn"}}}}


def create(sfn: Any, name: str, definition: dict) -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def children(sfn: Any) -> list[dict]:
    return sfn.list_executions(stateMachineArn=f"{PREFIX}:stateMachine:child")["executions"]


def wait_for_child(sfn: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not children(sfn):
        assert time.monotonic() < deadline, "the child was not started"
        time.sleep(0.05)


def check(sfn: Any, parent: str) -> None:
    done = finished(sfn, parent, timeout=30)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["output"] == {"doubled": 42}
    [child] = children(sfn)
    assert child["executionArn"] == output["child"] and child["status"] == "SUCCEEDED"
    assert types(history(sfn, parent)).count("TaskSubmitted") == 1


def test_a_sync_child_survives_a_sigkill_of_its_server(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "store.db")
    try:
        sfn = server.client()
        create(sfn, "child", CHILD)
        parent = sfn.start_execution(stateMachineArn=create(sfn, "parent", PARENT),
                                     input=json.dumps({"value": 21}))["executionArn"]
        wait_for_child(sfn)
        server.kill()
        server = server.restart()
        check(server.client(), parent)
    finally:
        server.stop()


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, "nested") as (location, _):
        yield location


def test_a_sync_child_survives_the_kill_of_its_worker_on_postgres(database: str, tmp_path: Path) -> None:
    options = ["--lease-seconds", "2", "--poll-seconds", "0.5"]
    first = StepLine.start(database, options=[*options, "--worker-name", "first"], log=tmp_path / "first.log")
    second = StepLine.start(database, options=[*options, "--worker-name", "second"], log=tmp_path / "second.log")
    try:
        sfn = first.client()
        create(sfn, "child", CHILD)
        parent = sfn.start_execution(stateMachineArn=create(sfn, "parent", PARENT),
                                     input=json.dumps({"value": 21}))["executionArn"]
        wait_for_child(sfn)
        first.kill()  # the parent and its child were started on the first worker: the second takes them over
        check(second.client(), parent)
    finally:
        first.stop()
        second.stop()


def test_a_child_runs_on_the_stepline_step_functions_endpoint_names(tmp_path: Path) -> None:
    remote = StepLine.start(tmp_path / "remote.db", log=tmp_path / "remote.log")
    local = StepLine.start(tmp_path / "local.db", log=tmp_path / "local.log",
                           environment={"STEP_FUNCTIONS_ENDPOINT": remote.url, "AWS_ACCESS_KEY_ID": "testing",
                                        "AWS_SECRET_ACCESS_KEY": "testing"})
    try:
        create(remote.client(), "child", CHILD)
        sfn = local.client()
        parent = sfn.start_execution(stateMachineArn=create(sfn, "parent", PARENT),
                                     input=json.dumps({"value": 21}))["executionArn"]
        done = finished(sfn, parent, timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"])["output"] == {"doubled": 42}
        assert [e["status"] for e in children(remote.client())] == ["SUCCEEDED"]
        assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["parent"]  # no child here
    finally:
        local.stop()
        remote.stop()
