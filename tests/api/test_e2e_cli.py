"""End to end through the real AWS CLI (`aws stepfunctions ... --endpoint-url`), in a subprocess per command."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import ACCOUNT, REGION, ROLE, StepLine

PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"done": True}, "End": True}}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("cli") / "stepline.db",
                             environment={"STEPLINE_ACTIVITY_WAIT_SECONDS": "1"})
    yield running
    running.stop()


def aws(server: StepLine, *arguments: str) -> dict:
    result = server.cli(*arguments)
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_create_start_describe_history(server: StepLine, tmp_path: Path) -> None:
    definition = tmp_path / "machine.asl.json"
    definition.write_text(PASS)
    created = aws(server, "create-state-machine", "--name", "cli-machine", "--definition", f"file://{definition}",
                  "--role-arn", ROLE)
    assert created["stateMachineArn"] == f"{PREFIX}:stateMachine:cli-machine"
    assert isinstance(created["creationDate"], float)  # AWS CLI v1 prints the epoch seconds AWS sends
    started = aws(server, "start-execution", "--state-machine-arn", created["stateMachineArn"], "--name", "cli-run",
                  "--input", '{"from": "cli"}')
    assert started["executionArn"] == f"{PREFIX}:execution:cli-machine:cli-run"
    deadline = time.monotonic() + 10
    while (described := aws(server, "describe-execution", "--execution-arn", started["executionArn"]))[
            "status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"done": True})
    events = aws(server, "get-execution-history", "--execution-arn", started["executionArn"])["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                           "ExecutionSucceeded"]
    described = aws(server, "describe-state-machine", "--state-machine-arn", created["stateMachineArn"])
    assert (described["name"], described["definition"]) == ("cli-machine", PASS)


def test_the_cli_paginates_list_actions(server: StepLine) -> None:
    for i in range(5):
        aws(server, "create-activity", "--name", f"cli-activity-{i}")
    listed = aws(server, "list-activities", "--page-size", "2")  # the CLI follows nextToken itself
    names = [a["name"] for a in listed["activities"]]
    assert names == sorted(names) and {f"cli-activity-{i}" for i in range(5)} <= set(names)
    first = aws(server, "list-activities", "--max-items", "2")
    assert len(first["activities"]) == 2 and first["NextToken"]
    rest = aws(server, "list-activities", "--starting-token", first["NextToken"])
    assert [a["name"] for a in first["activities"] + rest["activities"]] == names


def test_errors_exit_non_zero_with_aws_message(server: StepLine) -> None:
    missing = f"{PREFIX}:execution:cli-machine:missing"
    result = server.cli("describe-execution", "--execution-arn", missing, check=False)
    assert result.returncode in (254, 255)  # a service error: 254 in AWS CLI v2, 255 in v1
    assert "(ExecutionDoesNotExist)" in result.stderr and f"Execution Does Not Exist: '{missing}'" in result.stderr
    result = server.cli("create-state-machine", "--name", "broken", "--role-arn", ROLE, "--definition",
                        '{"StartAt": "X", "States": {}}', check=False)
    assert result.returncode in (254, 255) and "(InvalidDefinition)" in result.stderr
    assert "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET" in result.stderr
    result = server.cli("send-task-success", "--task-token", "bogus", "--task-output", "{}", check=False)
    assert result.returncode in (254, 255) and "(InvalidToken)" in result.stderr


def test_validate_and_sync_express(server: StepLine) -> None:
    verdict = aws(server, "validate-state-machine-definition", "--definition", PASS)
    assert (verdict["result"], verdict["diagnostics"]) == ("OK", [])
    created = aws(server, "create-state-machine", "--name", "cli-express", "--type", "EXPRESS", "--definition", PASS,
                  "--role-arn", ROLE)
    result = aws(server, "start-sync-execution", "--state-machine-arn", created["stateMachineArn"], "--input", "{}")
    assert (result["status"], json.loads(result["output"])) == ("SUCCEEDED", {"done": True})


def test_tags_and_activity_poll(server: StepLine) -> None:
    activity = aws(server, "create-activity", "--name", "cli-tagged")["activityArn"]
    aws(server, "tag-resource", "--resource-arn", activity, "--tags", "key=team,value=ops")
    assert aws(server, "list-tags-for-resource", "--resource-arn", activity)["tags"] == [{"key": "team",
                                                                                          "value": "ops"}]
    began = time.monotonic()
    assert aws(server, "get-activity-task", "--activity-arn", activity) == {}  # nothing to do: empty after the wait
    assert time.monotonic() - began >= 0.9
