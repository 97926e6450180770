"""`stepline serve`'s logs: execution logs through --log-dir driven by boto3, and the server's own log (quiet by
default, one JSON object per line with --log-format json)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from serving import ACCOUNT, REGION, ROLE, StepLine, finished

from stepline.server import JsonLines

FAIL = {"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}}}


def test_a_server_writes_execution_logs_and_json_lines_of_its_own(tmp_path: Path) -> None:
    logs = tmp_path / "execution-logs"
    server = StepLine.start(tmp_path / "stepline.db",
                            options=["--log-dir", str(logs), "--log-format", "json", "--log-level", "info"])
    try:
        sfn = server.client()
        group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:team/orders:*"
        with_two = {"level": "ERROR", "includeExecutionData": False,
                    "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn}}] * 2}
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name="broken", definition=json.dumps(FAIL), roleArn=ROLE,
                                     loggingConfiguration=with_two)
        assert refused.value.response["Error"] == {
            "Code": "InvalidLoggingConfiguration",
            "Message": "Invalid Logging Configuration: Must specify exactly one Log Destination."}
        machine = sfn.create_state_machine(
            name="broken", definition=json.dumps(FAIL), roleArn=ROLE,
            loggingConfiguration={**with_two, "destinations": with_two["destinations"][:1]})
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"id": 1}')["executionArn"]
        assert finished(sfn, arn)["status"] == "FAILED"
    finally:
        assert server.stop() == 0
    records = [json.loads(line) for line in (logs / "team%2Forders.jsonl").read_text().splitlines()]
    assert [(r["type"], r["details"], r["execution_arn"]) for r in records] == [
        ("FailStateEntered", {"name": "Stop"}, arn),
        ("ExecutionFailed", {"error": "Broken", "cause": "on purpose"}, arn)]
    lines = server.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line of the server's log is a JSON object
    assert entries and all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["logger"].startswith("uvicorn") and entry["level"] == "INFO" for entry in entries)


def test_a_server_is_quiet_by_default(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "stepline.db")
    try:
        sfn = server.client()
        sfn.list_state_machines()
    finally:
        assert server.stop() == 0
    assert server.log.read_text() == ""


def test_a_json_line_carries_the_record_s_fields_and_its_exception() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("stepline.test").makeRecord(
            "stepline.test", logging.WARNING, __file__, 1, "applying %d signals failed", (3,), None,
            extra={"execution": "arn:x", "signals": 3})
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonLines().format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "stepline.test"
    assert entry["message"] == "applying 3 signals failed"
    assert entry["execution"] == "arn:x" and entry["signals"] == 3
    assert "ValueError: bad value" in entry["exception"]
    assert entry["time"].endswith("+00:00")
