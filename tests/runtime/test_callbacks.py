"""Callbacks and activities across processes: `stepline serve` in one, the worker (callback_worker.py) in another.

A `.waitForTaskToken` task invokes a local Lambda function with `$$.Task.Token` in its payload, records
TaskSubmitted and waits; another process answers with SendTaskSuccess or SendTaskFailure. An activity worker
long-polls GetActivityTask, heartbeats and answers; a worker that stops heartbeating makes the task fail with
States.HeartbeatTimeout, which a Catch handles.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import ACCOUNT, REGION, ROLE, StepLine, finished, history, types

WORKER = Path(__file__).with_name("callback_worker.py")
CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("callbacks") / "stepline.db", functions=["callback_functions"],
                             environment={"STEPLINE_ACTIVITY_WAIT_SECONDS": "2"})
    yield running
    running.stop()


@pytest.fixture
def sfn(server: StepLine) -> Any:
    return server.client()


def worker(server: StepLine, *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), arguments[0], server.url, *arguments[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def worker_result(process: subprocess.Popen[str]) -> dict:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return json.loads(stdout)


def callback_machine(sfn: Any, name: str, **task: Any) -> str:
    """A `.waitForTaskToken` task whose function records its token; a Catch may go to the Pass state "Gave up"."""
    definition = {"StartAt": "Wait for approval", "States": {"Wait for approval": {
        "Type": "Task", "Resource": CALLBACK, "End": True,
        "Parameters": {"FunctionName": "record_token",
                       "Payload": {"token.$": "$$.Task.Token", "path.$": "$.path", "order.$": "$.order"}},
        **task}}}
    if "Catch" in task:
        definition["States"]["Gave up"] = {"Type": "Pass", "End": True}
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


# -- .waitForTaskToken ---------------------------------------------------------------------------------------

def test_send_task_success_from_another_process_resumes_the_execution(sfn: Any, server: StepLine,
                                                                      tmp_path: Path) -> None:
    arn = callback_machine(sfn, "approve")
    token_file = tmp_path / "token"
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"path": str(token_file), "order": 7}))[
        "executionArn"]
    time.sleep(0.5)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"  # waits for the token
    answered = worker_result(worker(server, "answer", str(token_file), '{"approved": true}'))
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": True})
    events = history(sfn, execution)
    assert types(events) == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted",
                             "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    scheduled = json.loads(events[2]["taskScheduledEventDetails"]["parameters"])
    assert scheduled["Payload"]["token"] == answered["answered"]
    assert answered["answered"].startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:approve:")
    submitted = events[4]["taskSubmittedEventDetails"]
    assert (submitted["resourceType"], submitted["resource"]) == ("lambda", "invoke.waitForTaskToken")
    assert json.loads(submitted["output"])["Payload"] == {"recorded": True}
    assert [e["previousEventId"] for e in events[2:]] == [2, 3, 4, 5, 6, 7]


def test_send_task_failure_fails_the_execution_with_its_error(sfn: Any, server: StepLine, tmp_path: Path) -> None:
    arn = callback_machine(sfn, "reject")
    token_file = tmp_path / "token"
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"path": str(token_file), "order": 8}))[
        "executionArn"]
    worker_result(worker(server, "fail", str(token_file), "Order.Rejected", "out of stock"))
    described = finished(sfn, execution)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Order.Rejected",
                                                                              "out of stock")
    events = history(sfn, execution)
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert (failed["error"], failed["cause"], failed["resource"]) == ("Order.Rejected", "out of stock",
                                                                      "invoke.waitForTaskToken")
    assert types(events)[-1] == "ExecutionFailed"


def test_a_callback_without_heartbeat_times_out_and_is_caught(sfn: Any, tmp_path: Path) -> None:
    arn = callback_machine(sfn, "silent", HeartbeatSeconds=1, Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"],
                                                                      "ResultPath": "$.error", "Next": "Gave up"}])
    token_file = tmp_path / "token"
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"path": str(token_file), "order": 9}))[
        "executionArn"]
    described = finished(sfn, execution, timeout=10)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"]["Error"] == "States.HeartbeatTimeout"
    events = history(sfn, execution)
    assert "TaskSubmitted" in types(events)
    timed_out = next(e for e in events if e["type"] == "TaskTimedOut")["taskTimedOutEventDetails"]
    assert timed_out["error"] == "States.HeartbeatTimeout"
    with pytest.raises(sfn.exceptions.TaskTimedOut, match="Provided task does not exist anymore"):
        sfn.send_task_success(taskToken=token_file.read_text(), output="{}")


def test_a_callback_task_timeout(sfn: Any, tmp_path: Path) -> None:
    arn = callback_machine(sfn, "slow-approver", TimeoutSeconds=1)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"path": str(tmp_path / "t"), "order": 1}))[
        "executionArn"]
    described = finished(sfn, execution, timeout=10)
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")


def test_a_waiting_callback_survives_a_crash(sfn: Any, server: StepLine, tmp_path: Path) -> None:
    arn = callback_machine(sfn, "durable-approval")
    token_file = tmp_path / "token"
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"path": str(token_file), "order": 3}))[
        "executionArn"]
    deadline = time.monotonic() + 10
    while "TaskSubmitted" not in types(history(sfn, execution)) and time.monotonic() < deadline:
        time.sleep(0.05)
    token = token_file.read_text()
    token_file.unlink()
    restarted = _crash_and_restart(server)
    client = restarted.client()
    time.sleep(0.5)  # recovery runs: the submitted callback must not be invoked (nor submitted) again
    client.send_task_success(taskToken=token, output='{"after": "restart"}')
    described = finished(client, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"after": "restart"})
    events = history(client, execution)
    assert types(events).count("TaskSubmitted") == 1 and types(events).count("TaskScheduled") == 1
    assert not token_file.exists()


def _crash_and_restart(server: StepLine) -> StepLine:
    """SIGKILL the module's server and start it again on the same store; the fixture then stops the new one."""
    server.kill()
    restarted = server.restart()
    server.process, server.url = restarted.process, restarted.url
    return server


# -- activities ----------------------------------------------------------------------------------------------

def activity_machine(sfn: Any, name: str, activity: str, **task: Any) -> str:
    definition = {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": activity, "Next": "Done", **task,
                 "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.failure",
                            "Next": "Recovered"}]},
        "Done": {"Type": "Succeed"},
        "Recovered": {"Type": "Pass", "End": True}}}
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def test_an_activity_worker_in_another_process(sfn: Any, server: StepLine) -> None:
    activity = sfn.create_activity(name="ship")["activityArn"]
    arn = activity_machine(sfn, "shipping", activity, HeartbeatSeconds=1, TimeoutSeconds=30)
    process = worker(server, "activity", activity, "packer-1", "3", "0.5", '{"shipped": true}')
    time.sleep(0.3)  # the worker is already long-polling when the task is scheduled
    execution = sfn.start_execution(stateMachineArn=arn, input='{"parcel": 42}')["executionArn"]
    done = worker_result(process)
    assert done["input"] == {"parcel": 42}
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"shipped": True})
    events = history(sfn, execution)
    assert types(events) == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                             "ActivitySucceeded", "TaskStateExited", "SucceedStateEntered", "SucceedStateExited",
                             "ExecutionSucceeded"]
    scheduled = events[2]["activityScheduledEventDetails"]
    assert scheduled == {"resource": activity, "input": '{"parcel":42}', "inputDetails": {"truncated": False},
                         "timeoutInSeconds": 30, "heartbeatInSeconds": 1}
    assert events[3]["activityStartedEventDetails"] == {"workerName": "packer-1"}
    assert json.loads(events[4]["activitySucceededEventDetails"]["output"]) == {"shipped": True}
    assert [e["previousEventId"] for e in events[2:5]] == [2, 3, 4]


def test_a_worker_that_misses_its_heartbeat_times_the_activity_out(sfn: Any, server: StepLine) -> None:
    activity = sfn.create_activity(name="flaky")["activityArn"]
    arn = activity_machine(sfn, "flaky-work", activity, HeartbeatSeconds=1)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"parcel": 1}')["executionArn"]
    taken = worker_result(worker(server, "activity", activity, "quitter", "-1", "0", "{}"))
    described = finished(sfn, execution, timeout=10)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["failure"]["Error"] == "States.HeartbeatTimeout"
    events = history(sfn, execution)
    assert types(events)[:5] == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                                 "ActivityTimedOut"]
    assert events[4]["activityTimedOutEventDetails"]["error"] == "States.HeartbeatTimeout"
    assert "PassStateEntered" in types(events)
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_heartbeat(taskToken=taken["token"])


def test_the_heartbeat_clock_starts_when_a_worker_takes_the_task(sfn: Any, server: StepLine) -> None:
    """A task queued longer than its HeartbeatSeconds, with no worker yet, has not missed a heartbeat."""
    activity = sfn.create_activity(name="queued")["activityArn"]
    arn = activity_machine(sfn, "queued-work", activity, HeartbeatSeconds=1)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"parcel": 2}')["executionArn"]
    time.sleep(1.5)
    worker_result(worker(server, "activity", activity, "late", "1", "0.5", '{"late": true}'))
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"late": True})


def test_get_activity_task_waits_then_answers_empty(sfn: Any) -> None:
    activity = sfn.create_activity(name="nothing-to-do")["activityArn"]
    began = time.monotonic()
    assert "taskToken" not in sfn.get_activity_task(activityArn=activity)
    assert 1.8 <= time.monotonic() - began < 10  # STEPLINE_ACTIVITY_WAIT_SECONDS=2 here; AWS waits 60 s


def test_a_pending_long_poll_does_not_hold_a_shutdown(tmp_path: Path) -> None:
    """SIGTERM while a worker long-polls (60 s, AWS's length): the server still stops within seconds."""
    server = StepLine.start(tmp_path / "stepline.db")
    sfn = server.client()
    activity = sfn.create_activity(name="patient")["activityArn"]
    process = worker(server, "activity", activity, "waiter", "0", "0", "{}")
    time.sleep(1)  # the worker's GetActivityTask is pending
    began = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - began < 10
    process.kill()
    process.communicate()
