"""Routes (--routes FILE): one workflow's Tasks sent to a mock, a local function, an endpoint or AWS itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stepline.runtime.integrations.routes import RoutesError, parse_routes
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
QUEUE = "arn:aws:states:::sqs:sendMessage"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:{}"


@pytest.fixture
async def routed(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StepFunctionsService]:
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"Routes": request.param}).replace("{moto}", moto() if "{moto}" in
                                                                    json.dumps(request.param) else ""))
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0, routes=str(routes)))
    service.functions.register("price", lambda event, context: {"priced": event})
    service.functions.register("real_name", lambda event, context: {"real": True})
    await service.start()
    yield service
    await service.close()


async def run(service: StepFunctionsService, states: dict, name: str = "checkout") -> dict:
    definition = {"StartAt": next(iter(states)), "States": states}
    machine = await service.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    started = await service.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')
    await service.wait_for_execution(started["executionArn"])
    return await service.describe_execution(executionArn=started["executionArn"])


def task(resource: str, **fields: Any) -> dict:
    return {"Type": "Task", "Resource": resource, "End": True, **fields}


@pytest.mark.parametrize("routed", [[{"StateMachine": "checkout", "State": "Charge", "Mock": {"Return": {"ok": 1}}},
                                     {"State": "Charge", "Mock": {"Throw": {"Error": "Other.Route"}}}]],
                         indirect=True)
async def test_a_mock_route_answers_the_state_it_names_first_route_first(routed: StepFunctionsService) -> None:
    described = await run(routed, {"Charge": task(QUEUE, Parameters={"QueueUrl": "q", "MessageBody": "m"})})
    assert json.loads(described["output"]) == {"ok": 1}
    described = await run(routed, {"Charge": task(QUEUE)}, name="refund")  # the second route: another machine
    assert described["error"] == "Other.Route"


@pytest.mark.parametrize("routed", [[{"Resource": "arn:aws:states:::sqs:*", "Function": "price"},
                                     {"Resource": FUNCTION.format("fake*"), "Function": "real_name"}]],
                         indirect=True)
async def test_a_function_route_answers_any_resource_and_keeps_lambda_shapes(routed: StepFunctionsService) -> None:
    described = await run(routed, {"Send": task(QUEUE, Parameters={"MessageBody.$": "$.n"})})
    assert json.loads(described["output"]) == {"priced": {"MessageBody": 1}}
    described = await run(routed, {"Call": task(FUNCTION.format("fake_function"))}, name="lambda")
    assert json.loads(described["output"]) == {"real": True}


@pytest.mark.parametrize("routed", [[{"Resource": "arn:aws:states:::sqs:*", "Mock": {"Return": "routed"}}]],
                         indirect=True)
async def test_a_mock_config_test_case_wins_over_routes(routed: StepFunctionsService, tmp_path: Path) -> None:
    config = {"StateMachines": {"checkout": {"TestCases": {"Mocked": {"Send": "Answer"}}}},
              "MockedResponses": {"Answer": {"0": {"Return": "mock config"}}}}
    (tmp_path / "mock.json").write_text(json.dumps(config))
    from stepline.runtime.integrations.mock_config import MockConfig

    routed.mock_config = MockConfig.load(tmp_path / "mock.json")
    definition = {"StartAt": "Send", "States": {"Send": task(QUEUE)}}
    machine = await routed.create_state_machine(name="checkout", definition=json.dumps(definition), roleArn=ROLE)
    for target, expected in ((f"{machine['stateMachineArn']}#Mocked", "mock config"),
                             (machine["stateMachineArn"], "routed")):
        started = await routed.start_execution(stateMachineArn=target)
        await routed.wait_for_execution(started["executionArn"])
        described = await routed.describe_execution(executionArn=started["executionArn"])
        assert json.loads(described["output"]) == expected


@pytest.mark.parametrize(("document", "message"), [
    ([], "one field, Routes"),
    ({"Routes": [{"State": "A"}]}, "exactly one of Mock, Function, Endpoint"),
    ({"Routes": [{"Mock": {"Return": 1}}]}, "at least one of StateMachine, State, Resource"),
    ({"Routes": [{"State": "A", "Mock": {"Return": 1}, "Priority": 2}]}, "unknown fields Priority"),
    ({"Routes": [{"State": "A", "Mock": {"Answer": 1}}]}, "Return or Throw"),
    ({"Routes": [{"State": "A", "Endpoint": "localhost:4566"}]}, "an http(s) URL"),
])
def test_a_malformed_routes_file_is_refused_with_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(RoutesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_routes(document)


def test_serve_refuses_a_malformed_routes_file_in_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text('{"Routes": [{"State": "A"}]}')
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--port", "0", "--db",
                           str(tmp_path / "store.db"), "--routes", str(routes)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "exactly one of Mock, Function, Endpoint" in done.stderr


@pytest.fixture
def moto_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    from aws_services import aws_client

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return aws_client("sqs").create_queue(QueueName="routed")["QueueUrl"]


def moto() -> str:
    from aws_services import moto_endpoint

    return moto_endpoint()


@pytest.mark.parametrize("routed", [[{"State": "ToMoto", "Endpoint": "{moto}"},
                                     {"State": "ToAws", "Endpoint": "aws"}]], indirect=True)
async def test_endpoint_routes_send_a_state_to_an_endpoint_or_to_aws_itself(routed: StepFunctionsService,
                                                                           moto_queue: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_services import aws_client

    send = task("arn:aws:states:::sqs:sendMessage", Parameters={"QueueUrl": moto_queue, "MessageBody": "routed"})
    described = await run(routed, {"ToMoto": send})
    assert described["status"] == "SUCCEEDED" and "MessageId" in json.loads(described["output"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto())  # configured, yet the route sends the call to AWS itself
    described = await run(routed, {"ToAws": {**send, "TimeoutSeconds": 20}}, name="aws")
    assert described["status"] == "FAILED", described
    messages = aws_client("sqs").receive_message(QueueUrl=moto_queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in messages] == ["routed"]  # the first only
    assert described["error"] == "SQS.SdkClientException", described["cause"]
