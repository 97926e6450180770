"""`stepline serve --compat sfn-local`: Step Functions Local's history shapes, asserted as AWS's own local-testing
sample asserts them (aws-samples/aws-stepfunctions-examples, sam/demo-local-testing-using-java: a mocked
`aws-sdk:comprehend:detectSentiment` Task that fails twice, then succeeds), against AWS's shapes by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import ACCOUNT, REGION, ROLE, StepLine, finished, history

DEFINITION = json.dumps({"StartAt": "DetectSentiment", "States": {"DetectSentiment": {
    "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:comprehend:detectSentiment",
    "Parameters": {"LanguageCode": "en", "Text.$": "$.comments"},
    "ResultSelector": {"sentimentAnalysis.$": "$"}, "ResultPath": "$.results",
    "Retry": [{"ErrorEquals": ["InternalServerException"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
    "End": True}}})
MOCKS = {"StateMachines": {"LocalTesting": {"TestCases": {"RetryOnServiceExceptionTest": {
    "DetectSentiment": "DetectSentimentRetryOnErrorWithSuccess"}}}},
    "MockedResponses": {"DetectSentimentRetryOnErrorWithSuccess": {
        "0-2": {"Throw": {"Error": "InternalServerException", "Cause": "Server Exception while calling DetectSentiment"}},
        "3": {"Return": {"Sentiment": "POSITIVE"}}}}}


def serve(tmp_path: Path, options: list[str], environment: dict[str, str] | None = None) -> StepLine:
    mocks = tmp_path / "MockConfigFile.json"
    mocks.write_text(json.dumps(MOCKS))
    return StepLine.start(tmp_path / "stepline.db", options=options,
                          environment={"SFN_MOCK_CONFIG": str(mocks), "WAIT_TIME_SCALE": "0", **(environment or {})})


def sentiment_history(server: StepLine) -> list[dict[str, Any]]:
    sfn = server.client()
    arn = sfn.create_state_machine(name="LocalTesting", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=f"{arn}#RetryOnServiceExceptionTest", name="retryExecution",
                                    input=json.dumps({"comments": "I am glad to sign-up."}))["executionArn"]
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    return history(sfn, execution)


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[StepLine]:
    server = serve(tmp_path, ["--compat", "sfn-local"])
    yield server
    assert server.stop() == 0


def test_sdk_task_events_name_the_resource_as_local_does(local_server: StepLine) -> None:
    events = sentiment_history(local_server)
    # the sample's query: the failed attempts and the success of the comprehend:detectSentiment call
    results = [e for e in events if (e["type"] == "TaskFailed"
                                     and e["taskFailedEventDetails"]["error"] == "InternalServerException")
               or (e["type"] == "TaskSucceeded"
                   and e["taskSucceededEventDetails"]["resource"] == "comprehend:detectSentiment")]
    assert [e["type"] for e in results] == ["TaskFailed"] * 3 + ["TaskSucceeded"]
    for event in events:
        for key in ("taskScheduledEventDetails", "taskStartedEventDetails", "taskSucceededEventDetails"):
            if key in event:
                assert (event[key]["resourceType"], event[key]["resource"]) == ("aws-sdk", "comprehend:detectSentiment")


def test_aws_shapes_by_default(tmp_path: Path) -> None:
    server = serve(tmp_path, [])
    try:
        scheduled = [e["taskScheduledEventDetails"] for e in sentiment_history(server) if e["type"] == "TaskScheduled"]
    finally:
        assert server.stop() == 0
    assert {(d["resourceType"], d["resource"]) for d in scheduled} == {("aws-sdk:comprehend", "detectSentiment")}


def test_the_environment_variable_turns_it_on(tmp_path: Path) -> None:
    server = serve(tmp_path, [], {"STEPLINE_COMPAT": "sfn-local"})
    try:
        succeeded = [e for e in sentiment_history(server) if e["type"] == "TaskSucceeded"]
    finally:
        assert server.stop() == 0
    assert succeeded[0]["taskSucceededEventDetails"]["resourceType"] == "aws-sdk"


@pytest.mark.parametrize(("arguments", "environment"), [
    pytest.param(["--compat", "moto"], {}, id="option"),
    pytest.param([], {"STEPLINE_COMPAT": "localstack"}, id="environment"),
])
def test_an_unknown_mode_is_refused(tmp_path: Path, arguments: list[str], environment: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--db", str(tmp_path / "s.db"),
                           "--port", "0", *arguments], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **environment})
    assert done.returncode == 2
    assert "sfn-local" in done.stderr
    assert f"arn:aws:states:{REGION}:{ACCOUNT}" not in done.stdout
