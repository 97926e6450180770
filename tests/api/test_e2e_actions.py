"""End to end through boto3: every one of the 37 Step Functions actions against `stepline serve`.

One server per module (a subprocess on a free port with a temporary store). Every response boto3 gets is
checked against botocore's model of the action (AWS's API reference in machine form): each required member
is there and no member is one the model does not know, recursively.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from serving import ACCOUNT, REGION, ROLE, StepLine, finished

ACTIONS_COUNT = 37
PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
INVALID_DEFINITION = re.compile(r"^Invalid State Machine Definition: '[A-Z_]+: .+ at (/\S*|null)(, [A-Z_]+: .+ at "
                                r"(/\S*|null))*'$")


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


# -- the shape check -----------------------------------------------------------------------------------------

def shape_problems(shape: Any, value: Any, where: str) -> list[str]:
    """Members missing from or unknown to the model's output shape (raw JSON value)."""
    problems: list[str] = []
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{where}.{name}: required, missing")
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{where}.{name}: not in the model")
            else:
                problems += shape_problems(shape.members[name], member, f"{where}.{name}")
    elif shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        for index, item in enumerate(value):
            problems += shape_problems(shape.member, item, f"{where}[{index}]")
    elif shape.type_name == "string" and not isinstance(value, str):
        problems.append(f"{where}: not a string")
    elif shape.type_name == "timestamp" and not isinstance(value, (int, float)):
        problems.append(f"{where}: not epoch seconds")
    elif shape.type_name in ("integer", "long") and (not isinstance(value, int) or isinstance(value, bool)):
        problems.append(f"{where}: not an integer")
    elif shape.type_name == "boolean" and not isinstance(value, bool):
        problems.append(f"{where}: not a boolean")
    if getattr(shape, "enum", None) and value not in shape.enum:
        problems.append(f"{where}: {value!r} not one of {shape.enum}")
    return problems


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("e2e") / "stepline.db", functions=["callback_functions"],
                             environment={"STEPLINE_ACTIVITY_WAIT_SECONDS": "1"})
    yield running
    assert running.stop() == 0


@pytest.fixture
def sfn(server: StepLine) -> Iterator[Any]:
    """A boto3 client whose every successful response is checked against the action's output shape."""
    client = server.client()
    problems: list[str] = []

    def check(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        if http_response.status_code == 200 and model.output_shape is not None:
            body = json.loads(http_response.content or b"{}")
            problems.extend(f"{model.name}: {p}" for p in shape_problems(model.output_shape, body, ""))

    client.meta.events.register("after-call.sfn", check)
    yield client
    assert not problems, problems


@pytest.fixture
def unvalidated(server: StepLine) -> Any:
    """A client that sends what it is given: the server's own validation answers."""
    return server.client(parameter_validation=False)


def error_of(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def machine(sfn: Any, name: str, definition: str = PASS, **options: Any) -> str:
    return sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE, **options)["stateMachineArn"]


def all_pages(call: Callable[..., dict], key: str, page_size: int = 2, **params: Any) -> list:
    """Every item of a listing, read `page_size` at a time; each page but the last is full."""
    items: list = []
    token = None
    while True:
        page = call(maxResults=page_size, **params, **({"nextToken": token} if token else {}))
        assert len(page[key]) <= page_size
        items += page[key]
        token = page.get("nextToken")
        if token is None:
            return items
        assert len(page[key]) == page_size


# -- state machines ------------------------------------------------------------------------------------------

def test_create_describe_update_delete_state_machine(sfn: Any) -> None:
    created = sfn.create_state_machine(name="lifecycle", definition=PASS, roleArn=ROLE,
                                       tags=[{"key": "team", "value": "a"}])
    arn = created["stateMachineArn"]
    assert arn == f"{PREFIX}:stateMachine:lifecycle"
    again = sfn.create_state_machine(name="lifecycle", definition=PASS, roleArn=ROLE)  # same: idempotent
    assert again["stateMachineArn"] == arn and again["creationDate"] == created["creationDate"]
    assert error_of(sfn.create_state_machine, name="lifecycle", definition=WAIT, roleArn=ROLE) == (
        "StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (described["name"], described["status"], described["type"], described["definition"],
            described["roleArn"]) == ("lifecycle", "ACTIVE", "STANDARD", PASS, ROLE)
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=WAIT)
    assert updated["revisionId"] and updated["updateDate"] >= created["creationDate"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["definition"] == WAIT and described["revisionId"] == updated["revisionId"]
    code, _ = error_of(sfn.update_state_machine, stateMachineArn=arn)
    assert code == "MissingRequiredParameter"
    sfn.delete_state_machine(stateMachineArn=arn)
    assert error_of(sfn.describe_state_machine, stateMachineArn=arn) == (
        "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def test_state_machine_errors(sfn: Any) -> None:
    code, message = error_of(sfn.create_state_machine, name="broken", roleArn=ROLE,
                             definition=json.dumps({"StartAt": "Nowhere", "States": {}}))
    assert code == "InvalidDefinition" and INVALID_DEFINITION.match(message), message
    code, message = error_of(sfn.create_state_machine, name="broken", roleArn=ROLE, definition="{not json")
    assert code == "InvalidDefinition" and message.startswith("Invalid State Machine Definition: '"), message
    assert error_of(sfn.create_state_machine, name="bad name", definition=PASS, roleArn=ROLE) == (
        "InvalidName", "Invalid Name: 'bad name'")
    assert error_of(sfn.create_state_machine, name="roleless", definition=PASS, roleArn="my-role") == (
        "InvalidArn", "Invalid Role Arn: 'my-role'")
    assert error_of(sfn.describe_state_machine, stateMachineArn="not-an-arn")[0] == "InvalidArn"
    assert error_of(sfn.describe_state_machine, stateMachineArn=f"{PREFIX}:activity:x")[0] == "InvalidArn"
    missing = f"{PREFIX}:stateMachine:missing"
    assert error_of(sfn.describe_state_machine, stateMachineArn=missing)[0] == "StateMachineDoesNotExist"
    assert error_of(sfn.update_state_machine, stateMachineArn=missing, definition=PASS)[0] == \
        "StateMachineDoesNotExist"


def test_server_side_validation_names_the_parameter(unvalidated: Any) -> None:
    code, message = error_of(unvalidated.list_state_machines, maxResults=5000)
    assert code == "ValidationException" and "'maxResults'" in message, message
    code, message = error_of(unvalidated.create_state_machine, name="v", definition=PASS, roleArn=ROLE,
                             type="BOGUS")
    assert code == "ValidationException" and "'type'" in message, message
    code, message = error_of(unvalidated.create_state_machine, name="v", definition=PASS)
    assert code == "ValidationException" and "'roleArn'" in message, message
    code, message = error_of(unvalidated.list_executions, stateMachineArn=f"{PREFIX}:stateMachine:x",
                             statusFilter="DONE")
    assert code == "ValidationException" and "'statusFilter'" in message, message


def test_list_state_machines_pages(sfn: Any) -> None:
    for i in range(5):
        machine(sfn, f"listed-{i}")
    everything = sfn.list_state_machines()["stateMachines"]
    paged = all_pages(sfn.list_state_machines, "stateMachines")
    assert paged == everything
    assert {f"listed-{i}" for i in range(5)} <= {m["name"] for m in paged}
    assert error_of(sfn.list_state_machines, nextToken="garbage")[0] == "InvalidToken"


def test_validate_state_machine_definition(sfn: Any) -> None:
    ok = sfn.validate_state_machine_definition(definition=PASS)
    assert (ok["result"], ok["diagnostics"]) == ("OK", [])
    failed = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "X", "States": {}}))
    assert failed["result"] == "FAIL"
    assert {d["code"] for d in failed["diagnostics"]} >= {"MISSING_TRANSITION_TARGET"}
    assert all(d["severity"] == "ERROR" for d in failed["diagnostics"])


# -- versions and aliases ------------------------------------------------------------------------------------

def test_versions(sfn: Any) -> None:
    arn = machine(sfn, "versioned")
    first = sfn.publish_state_machine_version(stateMachineArn=arn, description="one")
    assert first["stateMachineVersionArn"] == f"{arn}:1"
    assert "revisionId" not in sfn.describe_state_machine(stateMachineArn=arn)  # never updated: no revision yet
    code, message = error_of(sfn.publish_state_machine_version, stateMachineArn=arn, revisionId="stale")
    assert code == "ConflictException", message
    for i in range(2, 5):
        sfn.update_state_machine(stateMachineArn=arn, definition=PASS.replace('"P"', f'"P{i}"'))
        assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == f"{arn}:{i}"
    assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"]
    versions = all_pages(sfn.list_state_machine_versions, "stateMachineVersions", stateMachineArn=arn)
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:{i}" for i in (4, 3, 2, 1)]
    described = sfn.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert described["stateMachineArn"] == f"{arn}:1" and described["description"] == "one"
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:4")
    assert error_of(sfn.describe_state_machine, stateMachineArn=f"{arn}:4")[0] == "StateMachineDoesNotExist"
    assert error_of(sfn.delete_state_machine_version, stateMachineVersionArn="nope")[0] == "InvalidArn"
    assert error_of(sfn.list_state_machine_versions, stateMachineArn=f"{PREFIX}:stateMachine:none")[0] == \
        "StateMachineDoesNotExist"


def test_aliases(sfn: Any) -> None:
    arn = machine(sfn, "aliased")
    one = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=WAIT)
    two = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    aliases = []
    for name in ("blue", "green", "red"):
        created = sfn.create_state_machine_alias(name=name, description=name,
                                                 routingConfiguration=[{"stateMachineVersionArn": one,
                                                                        "weight": 100}])
        aliases.append(created["stateMachineAliasArn"])
    assert aliases[0] == f"{arn}:blue"
    described = sfn.describe_state_machine_alias(stateMachineAliasArn=aliases[0])
    assert (described["name"], described["description"], described["routingConfiguration"]) == (
        "blue", "blue", [{"stateMachineVersionArn": one, "weight": 100}])
    updated = sfn.update_state_machine_alias(stateMachineAliasArn=aliases[0], routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 50}, {"stateMachineVersionArn": two, "weight": 50}])
    assert updated["updateDate"]
    listed = all_pages(sfn.list_state_machine_aliases, "stateMachineAliases", stateMachineArn=arn)
    assert sorted(a["stateMachineAliasArn"] for a in listed) == sorted(aliases)
    code, _ = error_of(sfn.delete_state_machine_version, stateMachineVersionArn=two)
    assert code == "ConflictException"  # the alias routes to it
    code, _ = error_of(sfn.create_state_machine_alias, name="bad", routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 60}])
    assert code == "ValidationException"
    sfn.delete_state_machine_alias(stateMachineAliasArn=aliases[2])
    assert error_of(sfn.describe_state_machine_alias, stateMachineAliasArn=aliases[2])[0] == "ResourceNotFound"
    execution = sfn.start_execution(stateMachineArn=aliases[1])["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["stateMachineAliasArn"] == aliases[1]
    sfn.stop_execution(executionArn=execution)


# -- executions ----------------------------------------------------------------------------------------------

def test_start_describe_and_history(sfn: Any) -> None:
    arn = machine(sfn, "runs")
    started = sfn.start_execution(stateMachineArn=arn, name="first", input='{"a": 1}')
    assert started["executionArn"] == f"{PREFIX}:execution:runs:first"
    described = finished(sfn, started["executionArn"])
    assert (described["status"], json.loads(described["output"]), described["name"]) == ("SUCCEEDED", {"a": 1},
                                                                                         "first")
    assert described["startDate"] <= described["stopDate"]
    history = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    assert [e["type"] for e in history] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                            "ExecutionSucceeded"]
    assert [e["id"] for e in history] == [1, 2, 3, 4]
    paged = all_pages(sfn.get_execution_history, "events", page_size=3, executionArn=started["executionArn"])
    assert paged == history
    newest_first = sfn.get_execution_history(executionArn=started["executionArn"], reverseOrder=True)["events"]
    assert newest_first == history[::-1]
    assert all_pages(sfn.get_execution_history, "events", page_size=3, executionArn=started["executionArn"],
                     reverseOrder=True) == newest_first
    bare = sfn.get_execution_history(executionArn=started["executionArn"], includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]
    for_execution = sfn.describe_state_machine_for_execution(executionArn=started["executionArn"])
    assert (for_execution["stateMachineArn"], for_execution["definition"]) == (arn, PASS)


def test_execution_errors(sfn: Any) -> None:
    arn = machine(sfn, "strict")
    missing = f"{PREFIX}:execution:strict:missing"
    for call in (sfn.describe_execution, sfn.get_execution_history, sfn.stop_execution,
                 sfn.describe_state_machine_for_execution, sfn.redrive_execution):
        assert error_of(call, executionArn=missing) == ("ExecutionDoesNotExist",
                                                        f"Execution Does Not Exist: '{missing}'")
        assert error_of(call, executionArn="arn:aws:nothing")[0] == "InvalidArn"
    assert error_of(sfn.start_execution, stateMachineArn=arn, input="{not json")[0] == "InvalidExecutionInput"
    assert error_of(sfn.start_execution, stateMachineArn=arn, name="a b")[0] == "InvalidName"
    assert error_of(sfn.start_execution, stateMachineArn=f"{PREFIX}:stateMachine:none")[0] == \
        "StateMachineDoesNotExist"
    assert error_of(sfn.start_execution, stateMachineArn="arn:aws:states:x")[0] == "InvalidArn"
    assert error_of(sfn.list_executions, stateMachineArn=f"{PREFIX}:stateMachine:none")[0] == \
        "StateMachineDoesNotExist"
    assert error_of(sfn.start_sync_execution, stateMachineArn=arn)[0] == "StateMachineTypeNotSupported"


def test_start_is_idempotent_only_for_the_same_input_while_running(sfn: Any) -> None:
    arn = machine(sfn, "waits", WAIT)
    first = sfn.start_execution(stateMachineArn=arn, name="once", input='{"n": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="once", input='{"n": 1}')
    assert (again["executionArn"], again["startDate"]) == (first["executionArn"], first["startDate"])
    assert error_of(sfn.start_execution, stateMachineArn=arn, name="once", input='{"n": 2}') == (
        "ExecutionAlreadyExists", f"Execution Already Exists: '{first['executionArn']}'")
    stopped = sfn.stop_execution(executionArn=first["executionArn"], error="Halt", cause="enough")
    assert stopped["stopDate"]
    described = sfn.describe_execution(executionArn=first["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == ("ABORTED", "Halt", "enough")
    assert sfn.get_execution_history(executionArn=first["executionArn"], reverseOrder=True)["events"][0]["type"] == \
        "ExecutionAborted"
    # closed: the same name and input is no longer the same request
    assert error_of(sfn.start_execution, stateMachineArn=arn, name="once", input='{"n": 1}')[0] == \
        "ExecutionAlreadyExists"


def test_list_executions_pages_and_filters(sfn: Any) -> None:
    arn = machine(sfn, "many")
    waiting = machine(sfn, "many-waits", WAIT)
    arns = []
    for i in range(5):
        arns.append(sfn.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"])
        time.sleep(0.01)  # distinct start dates
    for execution in arns:
        finished(sfn, execution)
    listed = all_pages(sfn.list_executions, "executions", stateMachineArn=arn)
    assert [e["executionArn"] for e in listed] == arns[::-1]  # newest first, as AWS lists them
    assert [e["executionArn"] for e in listed] == [e["executionArn"] for e in
                                                  sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert {e["status"] for e in listed} == {"SUCCEEDED"}
    running = sfn.start_execution(stateMachineArn=waiting)["executionArn"]
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=waiting, statusFilter="RUNNING")[
        "executions"]] == [running]
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] == []
    sfn.stop_execution(executionArn=running)
    assert error_of(sfn.list_executions, stateMachineArn=arn, nextToken="bad")[0] == "InvalidToken"


def test_redrive_execution(sfn: Any) -> None:
    arn = machine(sfn, "redrivable", json.dumps({"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": lambda_arn("fail_unless_redriven"),
        "Parameters": {"redriveCount.$": "$$.Execution.RedriveCount"}, "End": True}}}))
    execution = sfn.start_execution(stateMachineArn=arn, name="again")["executionArn"]
    described = finished(sfn, execution)
    assert (described["status"], described["error"], described["redriveStatus"]) == ("FAILED", "OrderRejected",
                                                                                      "REDRIVABLE")
    redriven = sfn.redrive_execution(executionArn=execution)
    assert redriven["redriveDate"]
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"]), described["redriveCount"]) == (
        "SUCCEEDED", {"redriven": 1}, 1)
    kinds = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert "ExecutionRedriven" in kinds and kinds[-1] == "ExecutionSucceeded"
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN")[
        "executions"]] == [execution]
    assert error_of(sfn.redrive_execution, executionArn=execution)[0] == "ExecutionNotRedrivable"


def test_express_and_start_sync_execution(sfn: Any) -> None:
    arn = machine(sfn, "quick", type="EXPRESS")
    result = sfn.start_sync_execution(stateMachineArn=arn, name="sync", input='{"x": 1}')
    assert (result["status"], json.loads(result["output"]), result["name"]) == ("SUCCEEDED", {"x": 1}, "sync")
    assert result["executionArn"].startswith(f"{PREFIX}:express:quick:sync:")
    assert result["billingDetails"]["billedDurationInMilliseconds"] >= 100
    started = sfn.start_execution(stateMachineArn=arn, input='{"y": 2}')["executionArn"]
    assert started.startswith(f"{PREFIX}:express:quick:")
    assert error_of(sfn.start_sync_execution, stateMachineArn=arn, input="[")[0] == "InvalidExecutionInput"


# -- tags ----------------------------------------------------------------------------------------------------

def test_tags(sfn: Any) -> None:
    arn = machine(sfn, "tagged")
    activity = sfn.create_activity(name="tagged-activity")["activityArn"]
    for resource in (arn, activity):
        sfn.tag_resource(resourceArn=resource, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
        sfn.untag_resource(resourceArn=resource, tagKeys=["a"])
        assert sfn.list_tags_for_resource(resourceArn=resource)["tags"] == [{"key": "b", "value": "2"}]
    missing = f"{PREFIX}:stateMachine:untagged"
    for call, extra in ((sfn.tag_resource, {"tags": []}), (sfn.untag_resource, {"tagKeys": []}),
                        (sfn.list_tags_for_resource, {})):
        assert error_of(call, resourceArn=missing, **extra)[0] == "ResourceNotFound"


# -- activities and task tokens ------------------------------------------------------------------------------

def test_activities(sfn: Any) -> None:
    arns = [sfn.create_activity(name=f"act-{i}")["activityArn"] for i in range(5)]
    assert arns[0] == f"{PREFIX}:activity:act-0"
    described = sfn.describe_activity(activityArn=arns[0])
    assert (described["activityArn"], described["name"]) == (arns[0], "act-0")
    listed = all_pages(sfn.list_activities, "activities")
    assert set(arns) <= {a["activityArn"] for a in listed}
    assert len(listed) == len({a["activityArn"] for a in listed})
    sfn.delete_activity(activityArn=arns[4])
    assert error_of(sfn.describe_activity, activityArn=arns[4]) == (
        "ActivityDoesNotExist", f"Activity Does Not Exist: '{arns[4]}'")
    assert error_of(sfn.describe_activity, activityArn="arn:aws:states:us-east-1:1:stateMachine:x")[0] == \
        "InvalidArn"
    assert error_of(sfn.create_activity, name="a b")[0] == "InvalidName"
    assert error_of(sfn.get_activity_task, activityArn=arns[4])[0] == "ActivityDoesNotExist"


def test_get_activity_task_answers_empty_after_its_wait(sfn: Any) -> None:
    activity = sfn.create_activity(name="idle")["activityArn"]
    began = time.monotonic()
    answer = sfn.get_activity_task(activityArn=activity, workerName="w")
    assert "taskToken" not in answer and "input" not in answer
    assert time.monotonic() - began >= 0.9  # STEPLINE_ACTIVITY_WAIT_SECONDS=1 for this server


def test_activity_task_round_trip(sfn: Any) -> None:
    activity = sfn.create_activity(name="worker-pool")["activityArn"]
    arn = machine(sfn, "uses-activity", json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 30, "End": True}}}))
    execution = sfn.start_execution(stateMachineArn=arn, input='{"job": 7}')["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="me")
    assert json.loads(task["input"]) == {"job": 7}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"done": 7}')
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"done": 7})
    assert error_of(sfn.send_task_success, taskToken=task["taskToken"], output="{}") == (
        "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")  # answered already

    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="me")
    assert error_of(sfn.send_task_success, taskToken=task["taskToken"], output="{nope")[0] == "InvalidOutput"
    sfn.send_task_failure(taskToken=task["taskToken"], error="Broke", cause="it broke")
    described = finished(sfn, execution)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Broke", "it broke")


def test_task_token_errors(sfn: Any) -> None:
    for call, extra in ((sfn.send_task_success, {"output": "{}"}), (sfn.send_task_failure, {}),
                        (sfn.send_task_heartbeat, {})):
        assert error_of(call, taskToken="no-such-token", **extra)[0] == "InvalidToken"
        unknown = f"{PREFIX}:execution:none:none##1"
        assert error_of(call, taskToken=unknown, **extra)[0] == "TaskDoesNotExist"


# -- Map Runs ------------------------------------------------------------------------------------------------

DISTRIBUTED = {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                                "StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}},
               "MaxConcurrency": 2, "ToleratedFailureCount": 1}


def test_map_runs(sfn: Any) -> None:
    arn = machine(sfn, "distributed", json.dumps({"StartAt": "M1", "States": {
        "M1": {**DISTRIBUTED, "ResultPath": None, "Next": "M2"},
        "M2": {**DISTRIBUTED, "ResultPath": None, "Next": "M3"},
        "M3": {**DISTRIBUTED, "End": True}}}))
    execution = sfn.start_execution(stateMachineArn=arn, name="spread", input="[1, 2, 3]")["executionArn"]
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    runs = all_pages(sfn.list_map_runs, "mapRuns", executionArn=execution)
    assert [r["mapRunArn"].split(":mapRun:")[1].split(":")[0] for r in runs] == ["distributed/M1", "distributed/M2",
                                                                               "distributed/M3"]
    assert {r["executionArn"] for r in runs} == {execution}
    assert runs[0]["stateMachineArn"] == f"{PREFIX}:stateMachine:distributed/M1"
    run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert (run["status"], run["maxConcurrency"], run["toleratedFailureCount"], run["executionArn"]) == (
        "SUCCEEDED", 2, 1, execution)
    assert (run["itemCounts"]["total"], run["itemCounts"]["succeeded"]) == (3, 3)
    sfn.update_map_run(mapRunArn=runs[0]["mapRunArn"], maxConcurrency=5, toleratedFailurePercentage=10)
    run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert (run["maxConcurrency"], run["toleratedFailurePercentage"]) == (5, 10)
    unknown = runs[0]["mapRunArn"].replace("spread-", "nothing-")
    assert error_of(sfn.describe_map_run, mapRunArn=unknown)[0] == "ResourceNotFound"
    assert error_of(sfn.update_map_run, mapRunArn=unknown, maxConcurrency=1)[0] == "ResourceNotFound"
    assert error_of(sfn.describe_map_run, mapRunArn="arn:aws:states:us-east-1:1:mapRun")[0] == "InvalidArn"
    assert error_of(sfn.list_map_runs, executionArn=f"{PREFIX}:execution:distributed:none")[0] == \
        "ExecutionDoesNotExist"


# -- TestState, and every action --------------------------------------------------------------------------

def test_test_state(sfn: Any) -> None:
    answer = sfn.test_state(definition=json.dumps({"Type": "Pass", "Result": {"r": 1}, "End": True}), roleArn=ROLE,
                            input="{}")
    assert (answer["status"], json.loads(answer["output"])) == ("SUCCEEDED", {"r": 1})


def test_every_action_is_exercised_here(sfn: Any) -> None:
    """Each of the model's 37 operations is called by a test of this module."""
    methods = sfn.meta.method_to_api_mapping  # snake_case method -> action
    assert len(methods) == len(sfn.meta.service_model.operation_names) == ACTIONS_COUNT
    source = Path(__file__).read_text()
    missing = [action for method, action in methods.items()
               if not re.search(rf"\b(sfn|unvalidated)\.{method}\b", source)]
    assert missing == []
