"""Several `stepline serve` processes on one PostgreSQL database behave as one stepline.

Each test runs two or three servers on a schema of its own. A callback, a stop or an activity worker's answer
that reaches one server resumes an execution another server runs; a Wait's timer fires once, on one worker;
GetActivityTask on one server gets a task another scheduled; a server stopped with SIGTERM hands its executions
back at once; `stepline workers` lists the servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from serving import ROLE, StepLine, finished, history, stream, types
from support import fresh_schema

CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:{}"
FAST = ["--lease-seconds", "3", "--poll-seconds", "0.5"]


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A store URL on a fresh schema, dropped afterwards."""
    with fresh_schema(postgres_url, "mw") as (location, _):
        yield location


def servers(database: str, tmp_path: Path, count: int, *, options: list[str] = FAST,
            functions: tuple[str, ...] = ("callback_functions", "multiworker_functions")) -> list[StepLine]:
    started = []
    for number in range(count):
        started.append(StepLine.start(database, functions=list(functions),  # type: ignore[arg-type]
                                      options=[*options, "--worker-name", f"server-{number}"],
                                      environment={"STEPLINE_ACTIVITY_WAIT_SECONDS": "5"},
                                      log=tmp_path / f"server-{number}.log"))
    return started


@pytest.fixture
def two(database: str, tmp_path: Path) -> Iterator[list[StepLine]]:
    running = servers(database, tmp_path, 2)
    yield running
    for server in running:
        server.stop()


def wait_for_file(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)
    return path.read_text()


def callback_machine(sfn: Any, name: str) -> str:
    definition = {"StartAt": "Wait for approval", "States": {"Wait for approval": {
        "Type": "Task", "Resource": CALLBACK, "End": True,
        "Parameters": {"FunctionName": "record_token",
                       "Payload": {"token.$": "$$.Task.Token", "path.$": "$.path", "order.$": "$.order"}}}}}
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def test_a_callback_sent_to_server_b_resumes_the_execution_server_a_runs(two: list[StepLine], tmp_path: Path) -> None:
    a, b = (server.client() for server in two)
    machine = callback_machine(a, "approve")
    token_file = tmp_path / "token"
    execution = a.start_execution(stateMachineArn=machine, input=json.dumps({"path": str(token_file), "order": 1}))[
        "executionArn"]
    token = wait_for_file(token_file)
    b.send_task_heartbeat(taskToken=token)
    b.send_task_success(taskToken=token, output='{"approved": true}')
    described = finished(b, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": True})
    assert types(history(b, execution)) == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                                            "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    with pytest.raises(a.exceptions.TaskTimedOut):  # answered: the token is spent, on every server
        a.send_task_success(taskToken=token, output="{}")


def test_the_console_of_server_b_follows_live_the_execution_server_a_runs(two: list[StepLine],
                                                                          tmp_path: Path) -> None:
    a = two[0].client()
    token_file = tmp_path / "token"
    execution = a.start_execution(stateMachineArn=callback_machine(a, "watched"),
                                  input=json.dumps({"path": str(token_file), "order": 2}))["executionArn"]
    token = wait_for_file(token_file)
    url = f"{two[1].url}/console/api/events?executionArn={quote(execution)}"
    watched: list[tuple[str, Any]] = []
    watcher = threading.Thread(target=lambda: watched.extend(stream(url, "end", timeout=20)))
    watcher.start()
    time.sleep(1)  # the stream has shown the waiting execution
    a.send_task_success(taskToken=token, output='{"approved": true}')
    watcher.join(timeout=25)
    events = [event["type"] for kind, data in watched if kind == "events" for event in data]
    assert events == types(history(a, execution))
    assert watched[-1] == ("end", {"status": "SUCCEEDED"})
    statuses = [data["status"] for kind, data in watched if kind == "status"]
    assert statuses[0] == "RUNNING" and statuses[-1] == "SUCCEEDED"


def test_a_stop_sent_to_server_b_aborts_the_execution_server_a_runs(two: list[StepLine], tmp_path: Path) -> None:
    a, b = (server.client() for server in two)
    machine = callback_machine(a, "stoppable")
    token_file = tmp_path / "token"
    execution = a.start_execution(stateMachineArn=machine, input=json.dumps({"path": str(token_file), "order": 2}))[
        "executionArn"]
    wait_for_file(token_file)
    started = time.monotonic()
    b.stop_execution(executionArn=execution, error="Operator", cause="stopped on server B")
    assert time.monotonic() - started < 5
    described = a.describe_execution(executionArn=execution)
    assert (described["status"], described["error"], described["cause"]) == ("ABORTED", "Operator",
                                                                              "stopped on server B")
    assert types(history(a, execution))[-1] == "ExecutionAborted"


def test_a_redrive_sent_to_server_b_continues_the_execution(two: list[StepLine]) -> None:
    a, b = (server.client() for server in two)
    definition = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FUNCTION.format(
        "fail_unless_redriven"), "Parameters": {"redriveCount.$": "$$.Execution.RedriveCount"}, "End": True}}}
    machine = a.create_state_machine(name="redriven", definition=json.dumps(definition), roleArn=ROLE)
    execution = a.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    assert finished(a, execution)["status"] == "FAILED"
    b.redrive_execution(executionArn=execution)
    described = finished(a, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"redriven": 1})
    assert Counter(types(history(a, execution)))["ExecutionRedriven"] == 1


def test_each_timer_fires_once_on_one_of_three_servers(database: str, tmp_path: Path) -> None:
    running = servers(database, tmp_path, 3)
    try:
        clients = [server.client() for server in running]
        definition = {"StartAt": "Pause", "States": {
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Again"},
            "Again": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Pass", "End": True}}}
        machine = clients[0].create_state_machine(name="ticks", definition=json.dumps(definition), roleArn=ROLE)
        executions = [clients[i % 3].start_execution(stateMachineArn=machine["stateMachineArn"], name=f"tick-{i}",
                                                     input=json.dumps({"i": i}))["executionArn"] for i in range(30)]
        for number, arn in enumerate(executions):
            described = finished(clients[number % 3], arn, timeout=30)
            assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"i": number}
            kinds = Counter(types(history(clients[0], arn)))
            assert kinds["WaitStateEntered"] == kinds["WaitStateExited"] == 2, kinds
            assert len(history(clients[0], arn)) == 8
    finally:
        for server in running:
            server.stop()


def test_get_activity_task_on_server_b_gets_the_task_server_a_scheduled(two: list[StepLine]) -> None:
    a, b = (server.client() for server in two)
    activity = a.create_activity(name="approve")["activityArn"]
    definition = {"StartAt": "Approve", "States": {"Approve": {"Type": "Task", "Resource": activity, "End": True,
                                                               "HeartbeatSeconds": 30}}}
    machine = a.create_state_machine(name="approvals", definition=json.dumps(definition), roleArn=ROLE)
    started = time.monotonic()
    execution = a.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"order": 3}')["executionArn"]
    task = b.get_activity_task(activityArn=activity, workerName="clerk")
    assert time.monotonic() - started < 4  # woken by the notification, not by the end of the long poll
    assert json.loads(task["input"]) == {"order": 3}
    b.send_task_heartbeat(taskToken=task["taskToken"])
    a.send_task_success(taskToken=task["taskToken"], output='{"approved": 3}')
    described = finished(b, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": 3})
    events = history(a, execution)
    assert types(events) == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                             "ActivitySucceeded", "TaskStateExited", "ExecutionSucceeded"]
    assert events[3]["activityStartedEventDetails"]["workerName"] == "clerk"


def test_a_server_stopped_with_sigterm_hands_its_executions_to_another(database: str, tmp_path: Path) -> None:
    first, second = servers(database, tmp_path, 2, options=["--lease-seconds", "60", "--poll-seconds", "0.5"])
    try:
        sfn = first.client()
        definition = {"StartAt": "Slow", "States": {"Slow": {
            "Type": "Task", "Resource": FUNCTION.format("nap_add_one"), "End": True}}}
        machine = sfn.create_state_machine(name="slow", definition=json.dumps(definition), roleArn=ROLE)
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                        input=json.dumps({"value": 1, "nap": 8}))["executionArn"]
        deadline = time.monotonic() + 10  # the task runs on the first server, which reports its lease
        while {w["name"]: (w["alive"], w["leases"]) for w in listed(database)}["server-0"] != (True, 1):
            assert time.monotonic() < deadline, listed(database)
            time.sleep(0.5)
        assert first.stop() == 0  # SIGTERM: the lease is handed back, not left to expire (60 s)
        other = second.client()
        described = finished(other, execution, timeout=25)
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"value": 2, "nap": 8})
        kinds = Counter(types(history(other, execution)))
        assert kinds["LambdaFunctionScheduled"] == kinds["LambdaFunctionSucceeded"] == 1, kinds
        assert [w["name"] for w in listed(database)] == ["server-1"]
    finally:
        first.stop()
        second.stop()


def listed(database: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "stepline.cli.main", "workers", "--db", database, "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["workers"]
