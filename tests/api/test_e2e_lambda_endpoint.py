"""`stepline serve --lambda-endpoint URL`: Lambda functions invoked through a Lambda-compatible Invoke API.

The endpoint here is a tiny HTTP server in the test process that answers
`POST /2015-03-31/functions/{name}/invocations` as `sam local start-lambda` does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from serving import ACCOUNT, REGION, ROLE, StepLine, finished

PATH_PREFIX = "/2015-03-31/functions/"


class FakeLambda(BaseHTTPRequestHandler):
    """echo: returns its event; boom: a function error; slow_echo: echo after 0.3 s; others: not found."""

    invocations: list[tuple[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("content-length", 0))
        event = json.loads(self.rfile.read(length) or b"null")
        if not (self.path.startswith(PATH_PREFIX) and self.path.endswith("/invocations")):
            return self._send(404, {"message": "no route"})
        name = self.path[len(PATH_PREFIX):-len("/invocations")]
        FakeLambda.invocations.append((name, event))
        if name in ("echo", "slow_echo"):
            if name == "slow_echo":
                time.sleep(0.3)
            return self._send(200, event)
        if name == "record_token":
            Path(event["path"]).write_text(event["token"])
            return self._send(200, {"recorded": True})
        if name == "boom":
            return self._send(200, {"errorMessage": "bad input", "errorType": "ValueError",
                                    "stackTrace": ["  File \"app.py\", line 3"]},
                              {"X-Amz-Function-Error": "Unhandled"})
        return self._send(404, {"Type": "User", "message": f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:"
                                                           f"function:{name}"},
                          {"x-amzn-ErrorType": "ResourceNotFoundException"})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def lambda_endpoint() -> Iterator[str]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}"
    http.shutdown()
    http.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lambda_endpoint: str) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path_factory.mktemp("lambda") / "stepline.db",
                             options=["--lambda-endpoint", lambda_endpoint])
    yield running
    running.stop()


def run(sfn: Any, name: str, task: dict, input: Any) -> dict:
    definition = {"StartAt": "Call", "States": {"Call": {"Type": "Task", "End": True, **task}}}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input))["executionArn"]
    return finished(sfn, execution)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def test_a_function_arn_returns_the_function_payload(server: StepLine) -> None:
    sfn = server.client()
    described = run(sfn, "remote-echo", {"Resource": function_arn("echo")}, {"n": 1})
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"n": 1})
    assert ("echo", {"n": 1}) in FakeLambda.invocations
    kinds = [e["type"] for e in sfn.get_execution_history(executionArn=described["executionArn"])["events"]]
    assert kinds[2:5] == ["LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]


def test_lambda_invoke_returns_the_invoke_response(server: StepLine) -> None:
    sfn = server.client()
    described = run(sfn, "remote-invoke", {"Resource": "arn:aws:states:::lambda:invoke", "Parameters": {
        "FunctionName": function_arn("slow_echo"), "Payload": {"m.$": "$.m"}}}, {"m": "hi"})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert (output["Payload"], output["StatusCode"], output["ExecutedVersion"]) == ({"m": "hi"}, 200, "$LATEST")
    assert set(output) == {"ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"}


def test_a_function_error_is_named_after_its_error_type(server: StepLine) -> None:
    sfn = server.client()
    for name, task in (("remote-boom", {"Resource": function_arn("boom")}),
                       ("remote-boom-invoke", {"Resource": "arn:aws:states:::lambda:invoke",
                                               "Parameters": {"FunctionName": "boom", "Payload.$": "$"}})):
        described = run(sfn, name, task, {})
        assert (described["status"], described["error"]) == ("FAILED", "ValueError"), name
        assert json.loads(described["cause"]) == {"errorMessage": "bad input", "errorType": "ValueError",
                                                  "stackTrace": ["  File \"app.py\", line 3"]}


def test_a_missing_function(server: StepLine) -> None:
    described = run(server.client(), "remote-missing", {"Resource": function_arn("nothing")}, {})
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")
    assert "Function not found" in described["cause"]


def test_a_callback_through_the_endpoint(server: StepLine, tmp_path: Path) -> None:
    sfn = server.client()
    token_file = tmp_path / "token"
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True,
        "Parameters": {"FunctionName": "record_token", "Payload": {"token.$": "$$.Task.Token",
                                                                   "path": str(token_file)}}}}}
    arn = sfn.create_state_machine(name="remote-callback", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    deadline = time.monotonic() + 10
    while not token_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    sfn.send_task_success(taskToken=token_file.read_text(), output='{"called": "back"}')
    described = finished(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"called": "back"})


def test_an_unreachable_endpoint_is_a_service_exception(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    server = StepLine.start(tmp_path / "stepline.db", environment={"LAMBDA_ENDPOINT": f"http://127.0.0.1:{closed}"})
    try:
        described = run(server.client(), "unreachable", {"Resource": function_arn("echo")}, {})
        assert (described["status"], described["error"]) == ("FAILED", "Lambda.ServiceException")
        assert f"127.0.0.1:{closed}" in described["cause"]
    finally:
        server.stop()
