"""Execution logs (runtime/execution_logs.py): the records AWS writes to CloudWatch Logs for each level, with and
without execution data, delivered to files and to CloudWatch Logs (moto's server), on SQLite and PostgreSQL.

The expected records are AWS's, as recorded from Step Functions (the same state machines, levels and data settings
as LocalStack's recorded AWS snapshots in tests/aws/services/stepfunctions/v2/logs): `id`, `previous_event_id`,
`event_timestamp` and `redrive_count` are strings; `details` is the event's details, without `input`, `output` and
their `*Details` unless includeExecutionData; ERROR logs the failures of AWS's table, FATAL only the execution's end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aws_services import REGION, aws_client, free_port, moto_endpoint

from stepline.runtime import execution_logs
from stepline.runtime.execution_logs import _batches, log_file_name, log_record, log_stream_name
from stepline.service import errors
from stepline.service.app import StepFunctionsService, open_store
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/test"
GROUP = "/aws/vendedlogs/states/orders"
GROUP_ARN = f"arn:aws:logs:{REGION}:123456789012:log-group:{GROUP}:*"
PASS = {"StartAt": "State_1", "States": {"State_1": {"Type": "Pass", "Result": {"Arg1": "argument1"}, "End": True}}}
FAIL = {"StartAt": "FailState", "States": {"FailState": {
    "Type": "Fail", "Error": "SomeFailure", "Cause": "This state machines raises a 'SomeFailure' failure."}}}
CAUSE = "This state machines raises a 'SomeFailure' failure."


def _logging(level: str, data: bool, group_arn: str = GROUP_ARN) -> dict:
    return {"level": level, "includeExecutionData": data,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn}}]}


def _expected(definition: dict, level: str, data: bool) -> list[dict]:
    """AWS's records for an execution of PASS or FAIL with the input {} (without the ARN and timestamp)."""
    started = {"input": "{}", "inputDetails": {"truncated": False}, "roleArn": ROLE} if data else {"roleArn": ROLE}
    if definition is PASS:
        output = {"output": '{"Arg1":"argument1"}', "outputDetails": {"truncated": False}} if data else {}
        entered = {"input": "{}", "inputDetails": {"truncated": False}, "name": "State_1"} if data \
            else {"name": "State_1"}
        records = [("1", "ExecutionStarted", started, "0"), ("2", "PassStateEntered", entered, "0"),
                   ("3", "PassStateExited", {"name": "State_1", **output}, "2"),
                   ("4", "ExecutionSucceeded", output, "3")]
    else:
        entered = {"input": "{}", "inputDetails": {"truncated": False}, "name": "FailState"} if data \
            else {"name": "FailState"}
        records = [("1", "ExecutionStarted", started, "0"), ("2", "FailStateEntered", entered, "0"),
                   ("3", "ExecutionFailed", {"cause": CAUSE, "error": "SomeFailure"}, "2")]
    selected = {"ALL": {r[1] for r in records}, "ERROR": {"FailStateEntered", "ExecutionFailed"},
                "FATAL": {"ExecutionFailed"}, "OFF": set()}[level]
    return [{"id": id, "type": type, "details": details, "previous_event_id": previous, "redrive_count": "0"}
            for id, type, details, previous in records if type in selected]


def _compare(records: list[dict], expected: list[dict], execution_arn: str, history: list[dict]) -> None:
    """Field by field; the timestamp is the history event's, in epoch milliseconds, as a string."""
    timestamps = {str(event["id"]): str(round(event["timestamp"].timestamp() * 1000)) for event in history}
    assert [{k: v for k, v in r.items() if k not in ("event_timestamp", "execution_arn")} for r in records] == expected
    assert all(r["execution_arn"] == execution_arn for r in records)
    assert [r["event_timestamp"] for r in records] == [timestamps[r["id"]] for r in records]
    assert all(list(r) == ["id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn",
                           "redrive_count"] for r in records)


@pytest.fixture
async def logged(backend, tmp_path: Path):
    """The application on the store of `backend` (SQLite and PostgreSQL), its execution logs in tmp_path/logs."""
    service = StepFunctionsService(Settings(db=backend.location, time_scale=0, log_dir=str(tmp_path / "logs")))
    await service.start()
    yield service
    await service.close()


async def _run(service: StepFunctionsService, machine_arn: str, input: str = "{}") -> tuple[str, list[dict]]:
    started = await service.start_execution(stateMachineArn=machine_arn, input=input)
    await service.runtime.wait(started["executionArn"], timeout=30)
    return started["executionArn"], await service.full_history(started["executionArn"])


def _file_records(directory: Path, group: str = GROUP) -> list[dict]:
    path = directory / log_file_name(group)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("level", ["ALL", "ERROR", "FATAL", "OFF"])
@pytest.mark.parametrize("data", [True, False], ids=["with-data", "without-data"])
async def test_each_level_writes_the_records_aws_writes(logged: StepFunctionsService, tmp_path: Path, level: str,
                                                         data: bool) -> None:
    runs = []
    for name, definition in (("passes", PASS), ("fails", FAIL)):
        machine = await logged.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE,
                                                    loggingConfiguration=_logging(level, data))
        runs.append((definition, *await _run(logged, machine["stateMachineArn"])))
    await logged.execution_logs.close()
    records = _file_records(tmp_path / "logs")
    for definition, arn, history in runs:
        _compare([r for r in records if r["execution_arn"] == arn], _expected(definition, level, data), arn, history)


async def test_an_updated_configuration_applies_to_the_next_records(logged: StepFunctionsService,
                                                                    tmp_path: Path) -> None:
    other = f"arn:aws:logs:{REGION}:123456789012:log-group:other:*"
    machine = (await logged.create_state_machine(name="changes", definition=json.dumps(PASS),
                                                 roleArn=ROLE))["stateMachineArn"]
    quiet, _ = await _run(logged, machine)
    await logged.update_state_machine(stateMachineArn=machine, loggingConfiguration=_logging("ALL", False))
    loud, loud_history = await _run(logged, machine)
    await logged.update_state_machine(stateMachineArn=machine, loggingConfiguration=_logging("FATAL", True, other))
    moved, _ = await _run(logged, machine)
    await logged.execution_logs.close()
    records = _file_records(tmp_path / "logs")
    assert {r["execution_arn"] for r in records} == {loud}  # nothing before logging was on, nothing after it moved
    _compare(records, _expected(PASS, "ALL", False), loud, loud_history)
    assert _file_records(tmp_path / "logs", "other") == []  # FATAL: a success logs nothing
    assert quiet != moved


async def test_an_express_execution_logs_its_whole_run(logged: StepFunctionsService, tmp_path: Path) -> None:
    machine = await logged.create_state_machine(name="quick", definition=json.dumps(FAIL), roleArn=ROLE,
                                                type="EXPRESS", loggingConfiguration=_logging("ERROR", True))
    result = await logged.start_sync_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    await logged.execution_logs.close()
    records = _file_records(tmp_path / "logs")
    assert [{k: v for k, v in r.items() if k not in ("event_timestamp", "execution_arn")} for r in records] == \
        _expected(FAIL, "ERROR", True)
    assert {r["execution_arn"] for r in records} == {result["executionArn"]}


async def test_an_express_execution_logs_as_it_runs(logged: StepFunctionsService, tmp_path: Path) -> None:
    release = threading.Event()
    logged.functions.register("hold", lambda event, context: release.wait(10) and {"held": True})
    definition = {"StartAt": "Hold", "States": {"Hold": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hold", "End": True}}}
    machine = await logged.create_state_machine(name="held", definition=json.dumps(definition), roleArn=ROLE,
                                                type="EXPRESS", loggingConfiguration=_logging("ALL", False))
    arn = (await logged.start_execution(stateMachineArn=machine["stateMachineArn"]))["executionArn"]
    deadline = time.monotonic() + 10
    while "LambdaFunctionStarted" not in [r["type"] for r in _file_records(tmp_path / "logs")]:
        assert time.monotonic() < deadline, "the running execution's records were not written"
        await asyncio.sleep(0.05)
    assert "ExecutionSucceeded" not in [r["type"] for r in _file_records(tmp_path / "logs")]
    release.set()
    await logged.wait_for_execution(arn)
    await logged.execution_logs.close()
    assert [r["type"] for r in _file_records(tmp_path / "logs")] == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
        "LambdaFunctionSucceeded", "TaskStateExited", "ExecutionSucceeded"]


async def test_a_redriven_execution_logs_its_redrive_count(tmp_path: Path) -> None:
    # on SQLite only: a redrive on PostgreSQL does not finish here (the same without execution logs)
    logged = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0, log_dir=str(tmp_path / "logs")))
    await logged.start()
    machine = await logged.create_state_machine(name="again", definition=json.dumps(FAIL), roleArn=ROLE,
                                                loggingConfiguration=_logging("FATAL", False))
    arn, _ = await _run(logged, machine["stateMachineArn"])
    await logged.redrive_execution(executionArn=arn)
    await logged.runtime.wait(arn, timeout=30)
    await logged.close()
    records = _file_records(tmp_path / "logs")
    assert [(r["type"], r["redrive_count"]) for r in records] == [("ExecutionFailed", "0"), ("ExecutionFailed", "1")]


async def test_records_are_delivered_to_cloudwatch_logs(aws, backend, tmp_path: Path) -> None:
    logs = aws_client("logs")
    group = f"/stepline/{tmp_path.name}"
    logs.create_log_group(logGroupName=group)
    service = StepFunctionsService(Settings(db=backend.location, time_scale=0))  # AWS_ENDPOINT_URL: CloudWatch Logs
    await service.start()
    try:
        machine = await service.create_state_machine(
            name="delivered", definition=json.dumps(PASS), roleArn=ROLE,
            loggingConfiguration=_logging("ALL", True, f"arn:aws:logs:{REGION}:123456789012:log-group:{group}:*"))
        runs = [await _run(service, machine["stateMachineArn"]) for _ in range(3)]
    finally:
        await service.close()
    for arn, history in runs:  # a stream per execution
        start = history[0]["timestamp"]
        stream = log_stream_name("delivered", start, arn.rsplit(":", 1)[1])
        assert stream == f"states/delivered/{start:%Y-%m-%d-%H-%M}/{arn.rsplit(':', 1)[1]}"
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        _compare([json.loads(event["message"]) for event in events], _expected(PASS, "ALL", True), arn, history)
        assert [event["timestamp"] for event in events] == [round(e["timestamp"].timestamp() * 1000) for e in history]


@pytest.mark.parametrize("config, to_cloudwatch", [
    pytest.param("[default]\nendpoint_url = {moto}\n", True, id="profile-endpoint"),
    pytest.param("[default]\nservices = here\n[services here]\ncloudwatch_logs =\n  endpoint_url = {moto}\n", True,
                 id="profile-services-section"),
    pytest.param("[default]\nservices = here\n[services here]\nsqs =\n  endpoint_url = {moto}\n", False,
                 id="another-services-endpoint"),
    pytest.param("[default]\nendpoint_url = {moto}\nignore_configured_endpoint_urls = true\n", False,
                 id="endpoints-ignored"),
])
async def test_the_aws_configuration_decides_where_records_go(aws, tmp_path: Path, config: str,
                                                              to_cloudwatch: bool) -> None:
    """Without --log-dir, to CloudWatch Logs when the configuration the SDKs read names its endpoint, else to files
    under stepline-logs (in the working directory)."""
    aws.delenv("AWS_ENDPOINT_URL")
    (tmp_path / "config").write_text(config.format(moto=moto_endpoint()))
    aws.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    aws.chdir(tmp_path)
    group = f"/stepline/configured-{tmp_path.name}"
    aws_client("logs").create_log_group(logGroupName=group)
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0))
    await service.start()
    try:
        machine = await service.create_state_machine(
            name="configured", definition=json.dumps(PASS), roleArn=ROLE,
            loggingConfiguration=_logging("ALL", False, f"arn:aws:logs:{REGION}:123456789012:log-group:{group}:*"))
        arn, history = await _run(service, machine["stateMachineArn"])
    finally:
        await service.close()
    streams = aws_client("logs").describe_log_streams(logGroupName=group)["logStreams"]
    filed = _file_records(tmp_path / "stepline-logs", group)
    if to_cloudwatch:
        assert [s["logStreamName"] for s in streams] == [log_stream_name("configured", history[0]["timestamp"],
                                                                         arn.rsplit(":", 1)[1])]
        assert filed == []
    else:
        assert streams == []
        _compare(filed, _expected(PASS, "ALL", False), arn, history)


async def test_a_failing_destination_never_fails_the_execution(aws, tmp_path: Path, caplog,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution_logs, "RETRY_SECONDS", 0.01)
    logs = aws_client("logs")
    group = f"deleted-group-{tmp_path.name}"
    logs.create_log_group(logGroupName=group)
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0))
    await service.start()
    try:
        deleted = f"arn:aws:logs:{REGION}:123456789012:log-group:{group}:*"
        machine = await service.create_state_machine(name="unheard", definition=json.dumps(PASS), roleArn=ROLE,
                                                     loggingConfiguration=_logging("ALL", False, deleted))
        logs.delete_log_group(logGroupName=group)  # after the state machine was made: its records have nowhere to go
        with caplog.at_level(logging.WARNING, logger="stepline.runtime.execution_logs"):
            arn, _ = await _run(service, machine["stateMachineArn"])
            await service.execution_logs.close()
        assert (await service.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"
        dropped = [r for r in caplog.records if r.name == "stepline.runtime.execution_logs"]
        assert len(dropped) == 1 and "4 execution log records" in dropped[0].getMessage()
        assert "ResourceNotFoundException" in dropped[0].getMessage()
    finally:
        await service.close()


async def test_a_log_group_that_does_not_exist_is_refused_as_aws_refuses_it(aws, tmp_path: Path) -> None:
    logs = aws_client("logs")
    group = f"/stepline/{tmp_path.name}"
    logs.create_log_group(logGroupName=f"{group}-longer")  # a group whose name begins with the one asked for
    arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{group}:*"
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0))  # CloudWatch Logs: moto
    await service.start()
    try:
        with pytest.raises(errors.InvalidLoggingConfiguration) as refused:
            await service.create_state_machine(name="unheard", definition=json.dumps(PASS), roleArn=ROLE,
                                               loggingConfiguration=_logging("ERROR", False, arn))
        assert refused.value.message == "Invalid Logging Configuration: Log Destination not found."
        assert (await service.list_state_machines())["stateMachines"] == []
        machine = (await service.create_state_machine(
            name="unheard", definition=json.dumps(PASS), roleArn=ROLE,
            loggingConfiguration=_logging("OFF", False, arn)))["stateMachineArn"]  # OFF logs nowhere: not checked
        with pytest.raises(errors.InvalidLoggingConfiguration, match="Log Destination not found"):
            await service.update_state_machine(stateMachineArn=machine,
                                               loggingConfiguration=_logging("ALL", True, arn))
        described = await service.describe_state_machine(stateMachineArn=machine)
        assert described["loggingConfiguration"]["level"] == "OFF"  # the refused update changed nothing
        logs.create_log_group(logGroupName=group)
        await service.update_state_machine(stateMachineArn=machine, loggingConfiguration=_logging("ALL", True, arn))
        assert (await service.describe_state_machine(stateMachineArn=machine))["loggingConfiguration"]["level"] == "ALL"
    finally:
        await service.close()


async def test_files_and_an_unreachable_endpoint_take_any_log_group(aws, tmp_path: Path, caplog) -> None:
    arn = f"arn:aws:logs:{REGION}:123456789012:log-group:never-made-{tmp_path.name}:*"
    with_files = StepFunctionsService(Settings(db=str(tmp_path / "files.db"), time_scale=0,
                                               log_dir=str(tmp_path / "logs")))  # --log-dir: files, nothing to check
    await with_files.start()
    try:
        await with_files.create_state_machine(name="filed", definition=json.dumps(PASS), roleArn=ROLE,
                                              loggingConfiguration=_logging("ALL", False, arn))
    finally:
        await with_files.close()
    aws.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    unreachable = StepFunctionsService(Settings(db=str(tmp_path / "unreachable.db"), time_scale=0))
    await unreachable.start()
    try:
        with caplog.at_level(logging.WARNING, logger="stepline.runtime.execution_logs"):
            await unreachable.create_state_machine(name="unchecked", definition=json.dumps(PASS), roleArn=ROLE,
                                                    loggingConfiguration=_logging("ALL", False, arn))
        assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "stepline.runtime.execution_logs"] \
            == [f"could not check that log group never-made-{tmp_path.name} exists"]
    finally:
        await unreachable.close()


@pytest.mark.parametrize("configuration, problem", [
    pytest.param({"level": "ALL"}, "Must specify exactly one Log Destination", id="no-destination"),
    pytest.param({"level": "ERROR", "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": GROUP_ARN}}] * 2},
                 "Must specify exactly one Log Destination", id="two-destinations"),
    pytest.param(_logging("ALL", True, f"arn:aws:logs:{REGION}:123456789012:log-group:{GROUP}"),
                 "must be of the form", id="arn-without-star"),
    pytest.param(_logging("ALL", True, "arn:aws:s3:::bucket"), "must be of the form", id="not-a-log-group"),
])
async def test_a_configuration_that_cannot_log_is_refused(service: StepFunctionsService, configuration: dict,
                                                          problem: str) -> None:
    with pytest.raises(errors.InvalidLoggingConfiguration, match=problem):
        await service.create_state_machine(name="refused", definition=json.dumps(PASS), roleArn=ROLE,
                                           loggingConfiguration=configuration)
    machine = await service.create_state_machine(name="kept", definition=json.dumps(PASS), roleArn=ROLE)
    with pytest.raises(errors.InvalidLoggingConfiguration, match=problem):
        await service.update_state_machine(stateMachineArn=machine["stateMachineArn"],
                                           loggingConfiguration=configuration)


def test_large_data_is_truncated_as_aws_truncates_it() -> None:
    text = json.dumps("x" * 300_000)
    event = {"id": 2, "previousEventId": 0, "type": "PassStateEntered", "timestamp": datetime(2024, 1, 1, tzinfo=timezone.utc),
             "stateEnteredEventDetails": {"name": "S", "input": text, "inputDetails": {"truncated": False}}}
    record = log_record(event, execution_arn="arn", redrive_count=0, include_execution_data=True)
    details = record["details"]
    assert details["inputDetails"] == {"truncated": True}
    assert len(json.dumps(details["input"], separators=(",", ":")).encode()) <= 248 * 1024
    assert text.startswith(details["input"]) and len(details["input"]) > 200_000
    assert record["event_timestamp"] == "1704067200000"


@pytest.mark.parametrize("group, name", [("/aws/vendedlogs/states/x", "%2Faws%2Fvendedlogs%2Fstates%2Fx.jsonl"),
                                         ("..", "...jsonl"), ("a b#c", "a%20b%23c.jsonl")])
def test_a_log_group_file_name_stays_in_its_directory(tmp_path: Path, group: str, name: str) -> None:
    assert log_file_name(group) == name
    assert (tmp_path / log_file_name(group)).resolve().parent == tmp_path.resolve()


async def test_records_survive_reopening_the_file(tmp_path: Path) -> None:
    """Appends: a second server on the same log directory adds its records after the first's."""
    for round in range(2):
        store = await open_store(str(tmp_path / "store.db"))
        service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0,
                                                log_dir=str(tmp_path / "logs")), store)
        await service.start()
        if round == 0:
            await service.create_state_machine(name="twice", definition=json.dumps(FAIL), roleArn=ROLE,
                                               loggingConfiguration=_logging("FATAL", False))
        await _run(service, f"arn:aws:states:{REGION}:123456789012:stateMachine:twice")
        await service.close()
    assert [r["type"] for r in _file_records(tmp_path / "logs")] == ["ExecutionFailed", "ExecutionFailed"]


def test_put_log_events_batches_keep_within_its_quotas() -> None:
    small = [{"id": str(i), "event_timestamp": str(1_000 + i % 7)} for i in range(10_001)]
    batches = list(_batches(small))
    assert [len(b) for b in batches] == [10_000, 1]
    timestamps = [e["timestamp"] for b in batches for e in b]
    assert timestamps == sorted(timestamps)  # oldest first, as PutLogEvents requires
    large = [{"id": str(i), "event_timestamp": "1", "data": "x" * 200_000} for i in range(12)]
    sizes = [sum(len(e["message"]) + 26 for e in b) for b in _batches(large)]
    assert len(sizes) == 3 and all(size <= 1_048_576 for size in sizes)
