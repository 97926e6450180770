"""The HTTP Task (`arn:aws:states:::http:invoke`) against a real HTTP server on 127.0.0.1 that records every request
it receives (method, path, query, headers, body), with connections from a file and from moto's EventBridge and
Secrets Manager: through in-process executions, TestState, and a `stepline serve` driven by boto3."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from support import QuietHandler, local_server
from aws_services import aws_client
from serving import ROLE, StepLine, finished

from stepline.engine.resources import describe_resource
from stepline.errors import DefinitionError, StatesError
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.connections import (ConnectionsError, ConnectionsFile, EventBridgeConnections,
                                                       parse_connection)
from stepline.runtime.integrations.http import HttpTask, form_encode
from stepline.runtime.integrations.registry import Integrations, TaskCall
from stepline.service.settings import Settings
from stepline.service.test_state import test_state as run_test_state
from stepline.service.workflow import Workflow

HTTP = "arn:aws:states:::http:invoke"
ARN = "arn:aws:events:us-east-1:123456789012:connection/api/11111111-2222-3333-4444-555555555555"
API_KEY = {"AuthorizationType": "API_KEY",
           "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"}}}


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass
class Server:
    """A real HTTP server: it records each request and answers from `routes` (path -> status, headers, body)."""

    url: str
    received: list[Received] = field(default_factory=list)
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    tokens: int = 0

    def requests(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            state.received.append(Received(self.command, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                           list(self.headers.items()), body))
            if parts.path == "/token":
                state.tokens += 1
                status, headers, payload = 200, {"Content-Type": "application/json"}, json.dumps(
                    {"access_token": f"token-{state.tokens}", "token_type": "Bearer", "expires_in": 3600}).encode()
            else:
                status, headers, payload = state.routes.get(
                    parts.path, (200, {"Content-Type": "application/json"}, b'{"ok": true}'))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _answer

    with local_server(Handler) as state.url:
        yield state


def task(parameters: dict[str, Any], **fields: Any) -> dict:
    return {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": HTTP, "Parameters": parameters,
                                                   "End": True, **fields}}}


def call(server: Server, path: str = "/things", **parameters: Any) -> dict:
    return {"ApiEndpoint": server.url + path, "Method": "GET", "Authentication": {"ConnectionArn": ARN}, **parameters}


def connections(*pairs: tuple[str, dict]) -> ConnectionsFile:
    return ConnectionsFile({arn: parse_connection(arn, document) for arn, document in pairs})


def execute(definition: dict, connection: dict | None = API_KEY, input: Any = None) -> Any:
    http = HttpTask(connections((ARN, connection)) if connection else connections())

    async def go() -> Any:
        try:
            return await Workflow(definition).run_async(input, integrations=[http], time_scale=0)
        finally:
            await http.close()

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------- the request

def test_a_get_sends_what_step_functions_sends_and_gives_aws_result_shape(server: Server) -> None:
    server.routes["/things"] = (200, {"Content-Type": "application/json", "X-Page": "2"}, b'{"items": [1, 2]}')
    result = execute(task(call(server, Headers={"Request-Id": "r-1"}, QueryParameters={"q": "a b", "n": 2})))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["ResponseBody"] == {"items": [1, 2]}
    assert result.output["StatusCode"] == 200 and result.output["StatusText"] == "OK"
    assert result.output["Headers"]["x-page"] == ["2"]
    assert list(result.output) == ["Headers", "ResponseBody", "StatusCode", "StatusText"]
    [sent] = server.received
    assert (sent.method, sent.path, sent.query) == ("GET", "/things", [("q", "a b"), ("n", "2")])
    assert sent.header("x-api-key") == "s3cret" and sent.header("Request-Id") == "r-1"
    assert sent.header("User-Agent") == "Amazon|StepFunctions|HttpInvoke|us-east-1"
    assert sent.header("Range") == "bytes=0-262144"
    assert sent.header("Accept-Encoding") is None and sent.body == b""


def test_a_post_sends_its_body_as_json_and_a_text_response_is_text(server: Server) -> None:
    server.routes["/things"] = (201, {"Content-Type": "text/plain"}, b"made")
    result = execute(task({**call(server, Method="POST"), "RequestBody": {"name.$": "$.name", "n": [1, 2]}}),
                     input={"name": "x"})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["ResponseBody"] == "made" and result.output["StatusText"] == "Created"
    [sent] = server.received
    assert json.loads(sent.body) == {"name": "x", "n": [1, 2]}
    assert sent.header("Content-Type") == "application/json; charset=UTF-8"


def test_the_connections_headers_query_and_body_win_over_the_tasks(server: Server) -> None:
    connection = {"AuthorizationType": "API_KEY", "AuthParameters": {
        "ApiKeyAuthParameters": {"ApiKeyName": "ApiKey", "ApiKeyValue": "key_value"},
        "InvocationHttpParameters": {
            "BodyParameters": [{"Key": "BodyParam", "Value": "connection_body_param"}],
            "HeaderParameters": [{"Key": "Header-Param", "Value": "connection_header_param", "IsValueSecret": True}],
            "QueryStringParameters": [{"Key": "QueryParam", "Value": "connection_query_param"}]}}}
    parameters = call(server, "/path", Method="POST",
                      Headers={"Request-Id": "my_request_id", "header-param": "state_machine_header_param"},
                      RequestBody={"Job": "Software Engineer", "BodyParam": "state_machine_body_param"},
                      QueryParameters={"QueryParam": "state_machine_query_param", "Other": "o"})
    assert execute(task(parameters), connection).status == "SUCCEEDED"
    [sent] = server.received
    assert sent.query == [("Other", "o"), ("QueryParam", "connection_query_param")]
    assert sent.header("Header-Param") == "connection_header_param" and sent.header("ApiKey") == "key_value"
    assert [k for k, _ in sent.headers].count("header-param") + [k for k, _ in sent.headers].count("Header-Param") == 1
    assert sent.body == b'{"Job":"Software Engineer","BodyParam":"connection_body_param"}'


def test_a_string_body_cannot_take_the_connections_body_parameters(server: Server) -> None:
    connection = {**API_KEY, "AuthParameters": {**API_KEY["AuthParameters"], "InvocationHttpParameters": {
        "BodyParameters": [{"Key": "k", "Value": "v"}]}}}
    result = execute(task({**call(server, Method="POST"), "RequestBody": "raw text"}), connection)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "cannot merge" in result.cause and server.received == []


@pytest.mark.parametrize(("array_format", "expected"), [
    pytest.param("INDICES", "a%5B0%5D=x&a%5B1%5D=y%20z", id="indices"),
    pytest.param("REPEAT", "a=x&a=y%20z", id="repeat"),
    pytest.param("COMMAS", "a=x,y%20z", id="commas"),
    pytest.param("BRACKETS", "a%5B%5D=x&a%5B%5D=y%20z", id="brackets"),
])
def test_url_encoded_bodies_encode_arrays_as_asked(server: Server, array_format: str, expected: str) -> None:
    parameters = {**call(server, Method="POST", Headers={"Content-Type": "application/x-www-form-urlencoded"}),
                  "RequestBody": {"a": ["x", "y z"], "meta": {"k": "v"}, "n": 1, "t": True},
                  "Transform": {"RequestBodyEncoding": "URL_ENCODED",
                                "RequestEncodingOptions": {"ArrayFormat": array_format}}}
    assert execute(task(parameters)).status == "SUCCEEDED"
    [sent] = server.received
    assert sent.body.decode() == f"{expected}&meta%5Bk%5D=v&n=1&t=true"
    assert sent.header("Content-Type") == "application/x-www-form-urlencoded"


def test_url_encoding_defaults_to_indices() -> None:
    assert form_encode({"array": ["a", "b"]}, "INDICES") == "array%5B0%5D=a&array%5B1%5D=b"


# ---------------------------------------------------------------------------------------------- authorization

def test_basic_authorization(server: Server) -> None:
    basic = {"AuthorizationType": "BASIC", "AuthParameters": {"BasicAuthParameters": {"Username": "ann",
                                                                                      "Password": "pw:1"}}}
    assert execute(task(call(server)), basic).status == "SUCCEEDED"
    assert server.received[0].header("Authorization") == "Basic " + base64.b64encode(b"ann:pw:1").decode()


def test_oauth_client_credentials_fetch_a_token_once_and_use_it(server: Server) -> None:
    oauth = {"AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": {"OAuthParameters": {
        "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
        "AuthorizationEndpoint": server.url + "/token", "HttpMethod": "POST",
        "OAuthHttpParameters": {"BodyParameters": [{"Key": "grant_type", "Value": "client_credentials"}],
                                "QueryStringParameters": [{"Key": "audience", "Value": "api"}]}}}}
    definition = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": HTTP, "Parameters": call(server), "ResultPath": None, "Next": "Two"},
        "Two": {"Type": "Task", "Resource": HTTP, "Parameters": call(server), "End": True}}}
    assert execute(definition, oauth).status == "SUCCEEDED"
    [token] = server.requests("/token")
    assert token.method == "POST" and token.query == [("audience", "api")]
    assert token.header("Authorization") == "Basic " + base64.b64encode(b"id:secret").decode()
    assert token.body == b"grant_type=client_credentials"
    assert [r.header("Authorization") for r in server.requests("/things")] == ["Bearer token-1", "Bearer token-1"]


def test_a_failing_token_endpoint_is_an_invalid_connection(server: Server) -> None:
    oauth = {"AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": {"OAuthParameters": {
        "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
        "AuthorizationEndpoint": server.url + "/no-token", "HttpMethod": "GET"}}}
    server.routes["/no-token"] = (401, {}, b"")
    result = execute(task(call(server)), oauth)
    assert (result.status, result.error) == ("FAILED", "Events.ConnectionResource.InvalidConnectionState")
    assert server.requests("/things") == []


# ---------------------------------------------------------------------------------------------- errors

def test_a_404_is_states_http_status_code_404_and_can_be_caught(server: Server) -> None:
    server.routes["/missing"] = (404, {"Content-Type": "application/json"}, b'{"message": "no"}')
    result = execute(task(call(server, "/missing")))
    assert (result.status, result.error, result.cause) == ("FAILED", "States.Http.StatusCode.404", "Not Found")
    definition = task(call(server, "/missing"))
    definition["States"]["Call"]["Catch"] = [{"ErrorEquals": ["States.Http.StatusCode.404"], "Next": "Handled"}]
    definition["States"]["Handled"] = {"Type": "Pass", "End": True}
    assert execute(definition).status == "SUCCEEDED"


def test_a_refused_connection_is_states_http_socket() -> None:
    parameters = {"ApiEndpoint": f"http://127.0.0.1:{free_port()}/x", "Method": "GET",
                  "Authentication": {"ConnectionArn": ARN}}
    result = execute(task(parameters))
    assert (result.status, result.error) == ("FAILED", "States.Http.Socket")


def test_plain_http_is_refused_beyond_loopback() -> None:
    result = execute(task({"ApiEndpoint.$": "$.url", "Method": "GET", "Authentication": {"ConnectionArn": ARN}}),
                     input={"url": "http://example.com/x"})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "HTTPS" in result.cause


def test_a_forbidden_header_fails_with_states_runtime(server: Server) -> None:
    result = execute(task(call(server, Headers={"X-Amz-Date": "now"})))
    assert (result.status, result.error) == ("FAILED", "States.Runtime") and server.received == []


def test_a_binary_response_fails_with_states_runtime(server: Server) -> None:
    server.routes["/image"] = (200, {"Content-Type": "image/png"}, b"\x89PNG")
    result = execute(task(call(server, "/image")))
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_an_unknown_connection_is_resource_not_found(server: Server) -> None:
    result = execute(task(call(server)), connection=None)
    assert (result.status, result.error) == ("FAILED", "Events.ConnectionResource.ResourceNotFound")


# ---------------------------------------------------------------------------------------------- definitions

@pytest.mark.parametrize(("parameters", "message"), [
    pytest.param({"Method": "GET", "Authentication": {"ConnectionArn": ARN}},
                 "The field 'ApiEndpoint' is required but was missing", id="no-endpoint"),
    pytest.param({"ApiEndpoint": "https://a.example", "Authentication": {"ConnectionArn": ARN}},
                 "The field 'Method' is required but was missing", id="no-method"),
    pytest.param({"ApiEndpoint": "https://a.example", "Method": "GET"},
                 "One of these fields is required: [Authentication, InvocationConfig]", id="no-connection"),
    pytest.param({"ApiEndpoint": "https://a.example", "Method": "GET", "Authentication": {"ConnectionArn": ARN},
                  "Body": {}}, "The field \"Body\" is not supported by Step Functions", id="unknown-field"),
    pytest.param({"ApiEndpoint": "https://a.example", "Method": "FETCH", "Authentication": {"ConnectionArn": ARN}},
                 "The value for the 'Method' field is not valid", id="bad-method"),
    pytest.param({"ApiEndpoint": "http://a.example", "Method": "GET", "Authentication": {"ConnectionArn": ARN}},
                 "The value for the 'ApiEndpoint' field is not valid", id="plain-http"),
    pytest.param({"ApiEndpoint": "https://a.example", "Method": "GET", "Authentication": {"ConnectionArn": "x"}},
                 "The value for the 'Authentication' field is not valid", id="bad-connection-arn"),
    pytest.param({"ApiEndpoint": "https://a.example", "Method": "GET", "Authentication": {"ConnectionArn": ARN},
                  "Transform": {"RequestBodyEncoding": "URL_ENCODED",
                                "RequestEncodingOptions": {"ArrayFormat": "DOTS"}}},
                 "The value for the 'Transform' field is not valid", id="bad-array-format"),
])
def test_definitions_are_checked_as_aws_checks_them(parameters: dict, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        Workflow(task(parameters))
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "SCHEMA_VALIDATION_FAILED" and diagnostic.message.startswith(message)
    assert diagnostic.location == "/States/Call/Parameters"


def test_dynamic_fields_are_checked_on_each_call_only() -> None:
    Workflow(task({"ApiEndpoint.$": "$.url", "Method.$": "$.method", "InvocationConfig": {"ConnectionArn.$": "$.c"}}))
    Workflow({"QueryLanguage": "JSONata", **task({})} | {"States": {"Call": {
        "Type": "Task", "Resource": HTTP, "End": True,
        "Arguments": {"ApiEndpoint": "{% $states.input.url %}", "Method": "GET",
                      "Authentication": {"ConnectionArn": "{% $states.input.c %}"}}}}})


# ---------------------------------------------------------------------------------------------- connections

def test_a_connections_file_is_read_and_a_malformed_one_is_refused_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({ARN: API_KEY}))
    assert ConnectionsFile.load(str(good)).connections[ARN].api_key == ("x-api-key", "s3cret")
    for content, words in [("{", "is not JSON"), ("[]", "must be a JSON object"),
                           (json.dumps({"nope": API_KEY}), "is not an EventBridge connection ARN"),
                           (json.dumps({ARN: {"AuthorizationType": "API_KEY", "AuthParameters": {}}}),
                            "must hold ApiKeyAuthParameters"),
                           (json.dumps({ARN: {**API_KEY, "Extra": 1}}), "unknown field 'Extra'")]:
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(ConnectionsError, match=words) as raised:
            ConnectionsFile.load(str(bad))
        assert "\n" not in str(raised.value)


def test_connections_from_eventbridge_and_secrets_manager(server: Server, aws: pytest.MonkeyPatch) -> None:
    events = aws_client("events")
    arns = {}
    for kind, auth in [("API_KEY", API_KEY["AuthParameters"]),
                       ("BASIC", {"BasicAuthParameters": {"Username": "u", "Password": "p"},
                                  "InvocationHttpParameters": {"HeaderParameters": [{"Key": "H", "Value": "h"}]}}),
                       ("OAUTH_CLIENT_CREDENTIALS", {"OAuthParameters": {
                           "ClientParameters": {"ClientID": "id", "ClientSecret": "sec"},
                           "AuthorizationEndpoint": server.url + "/token", "HttpMethod": "POST",
                           "OAuthHttpParameters": {"BodyParameters": [{"Key": "scope", "Value": "s"}]}}})]:
        name = f"http-task-{kind.lower().replace('_', '-')}-{id(server)}"
        arns[kind] = events.create_connection(Name=name, AuthorizationType=kind, AuthParameters=auth)["ConnectionArn"]
    missing = arns["API_KEY"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"

    async def go() -> Any:
        clients = AwsClients()
        found = EventBridgeConnections(clients)
        http = HttpTask(found)
        try:
            probe = TaskCall(resource=describe_resource(HTTP), parameters={}, state_name="Call", invocation=0,
                             execution_arn="arn", idempotency_key="k")
            assert (await found.get(arns["API_KEY"], probe)).api_key == ("x-api-key", "s3cret")
            basic = await found.get(arns["BASIC"], probe)
            assert basic.basic == ("u", "p") and basic.headers == (("H", "h"),)
            oauth = (await found.get(arns["OAUTH_CLIENT_CREDENTIALS"], probe)).oauth
            assert oauth is not None and (oauth.client_secret, oauth.body) == ("sec", (("scope", "s"),))
            with pytest.raises(StatesError) as raised:
                await found.get(missing, probe)
            assert raised.value.error == "Events.ConnectionResource.ResourceNotFound"
            return await Workflow(task({**call(server), "Authentication": {"ConnectionArn": arns["BASIC"]}})).run_async(
                integrations=[http], time_scale=0)
        finally:
            await http.close()
            await clients.close()

    assert asyncio.run(go()).status == "SUCCEEDED"
    assert server.received[-1].header("Authorization") == "Basic " + base64.b64encode(b"u:p").decode()


# ---------------------------------------------------------------------------------------------- TestState

def run_teststate(server: Server, **request: Any) -> dict:
    http = HttpTask(connections((ARN, {**API_KEY, "AuthParameters": {
        **API_KEY["AuthParameters"], "InvocationHttpParameters": {
            "HeaderParameters": [{"Key": "CustomHeader1", "Value": "CustomHeaderValue1"}],
            "QueryStringParameters": [{"Key": "QueryParam1", "Value": "QueryParamValue1"}],
            "BodyParameters": [{"Key": "BodyKey1", "Value": "BodyValue1"}]}}})))
    definition = {"Type": "Task", "Resource": HTTP, "End": True, "Parameters": call(
        server, "/get", Headers={"definitionHeader": "h1"}, RequestBody={"message": "Hello"},
        QueryParameters={"queryParam": "q1"})}

    async def go() -> dict:
        try:
            return await run_test_state({"definition": json.dumps(definition), "roleArn": ROLE, **request},
                                        settings=Settings(), integrations=Integrations([http]),
                                        now=datetime(2026, 1, 1, tzinfo=timezone.utc))
        finally:
            await http.close()

    return asyncio.run(go())


def test_teststate_trace_shows_the_request_and_response_with_revealed_secrets(server: Server) -> None:
    server.routes["/get"] = (200, {"Content-Type": "application/json"}, b'{"a": 1}')
    response = run_teststate(server, inspectionLevel="TRACE", revealSecrets=True)
    assert response["status"] == "SUCCEEDED"
    data = response["inspectionData"]
    assert data["request"] == {
        "protocol": "http", "method": "GET",
        "url": server.url + "/get?queryParam=q1&QueryParam1=QueryParamValue1",
        "headers": "[definitionHeader: h1, x-api-key: s3cret, CustomHeader1: CustomHeaderValue1, "
                   "User-Agent: Amazon|StepFunctions|HttpInvoke|us-east-1, Range: bytes=0-262144]",
        "body": '{"message":"Hello","BodyKey1":"BodyValue1"}'}
    assert data["response"]["statusCode"] == "200" and data["response"]["statusMessage"] == "OK"
    assert data["response"]["body"] == '{"a": 1}' and "content-type: application/json" in data["response"]["headers"].lower()


def test_teststate_hides_what_the_connection_adds_unless_secrets_are_revealed(server: Server) -> None:
    data = run_teststate(server, inspectionLevel="TRACE")["inspectionData"]
    assert data["request"] == {
        "protocol": "http", "method": "GET", "url": server.url + "/get?queryParam=q1",
        "headers": "[definitionHeader: h1, User-Agent: Amazon|StepFunctions|HttpInvoke|us-east-1, Range: bytes=0-262144]",
        "body": '{"message":"Hello"}'}
    assert "s3cret" not in json.dumps(data)
    [sent] = server.received  # the request itself carried them
    assert sent.header("x-api-key") == "s3cret"


def test_teststate_shows_no_exchange_below_trace_and_the_exchange_of_a_failure(server: Server) -> None:
    assert "request" not in run_teststate(server, inspectionLevel="DEBUG")["inspectionData"]
    server.routes["/get"] = (503, {"Content-Type": "text/plain"}, b"busy")
    failed = run_teststate(server, inspectionLevel="TRACE", revealSecrets=True)
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "States.Http.StatusCode.503",
                                                                   "Service Unavailable")
    assert failed["inspectionData"]["response"]["body"] == "busy"


# ---------------------------------------------------------------------------------------------- the server

def test_through_the_server_with_a_connections_file(server: Server, tmp_path: Path) -> None:
    file = tmp_path / "connections.json"
    file.write_text(json.dumps({ARN: API_KEY}))
    server.routes["/missing"] = (404, {}, b"")
    stepline = StepLine.start(tmp_path / "stepline.db", options=["--connections", str(file)])
    try:
        sfn = stepline.client()
        machine = sfn.create_state_machine(name="http", roleArn=ROLE, definition=json.dumps(task({
            "ApiEndpoint.$": "$.url", "Method": "PUT", "Authentication": {"ConnectionArn": ARN},
            "RequestBody": {"n": 1}})))["stateMachineArn"]
        done = finished(sfn, sfn.start_execution(stateMachineArn=machine,
                                                 input=json.dumps({"url": server.url + "/things"}))["executionArn"])
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["ResponseBody"] == {"ok": True}
        assert server.received[-1].method == "PUT" and server.received[-1].header("x-api-key") == "s3cret"
        failed = finished(sfn, sfn.start_execution(stateMachineArn=machine,
                                                   input=json.dumps({"url": server.url + "/missing"}))["executionArn"])
        assert (failed["status"], failed["error"]) == ("FAILED", "States.Http.StatusCode.404")
    finally:
        stepline.stop()


def test_a_malformed_connections_file_stops_the_server_in_one_line(tmp_path: Path) -> None:
    file = tmp_path / "connections.json"
    file.write_text('{"arn": 1}')
    with pytest.raises(AssertionError) as raised:
        StepLine.start(tmp_path / "stepline.db", environment={"STEPLINE_CONNECTIONS": str(file)})
    log = (tmp_path / "stepline.log").read_text().strip()
    assert "exited with 2" in str(raised.value)
    assert log.count("\n") == 0 and "is not an EventBridge connection ARN" in log


def test_stepline_run_calls_an_http_task_with_a_connections_file(server: Server, tmp_path: Path) -> None:
    (tmp_path / "connections.json").write_text(json.dumps({ARN: API_KEY}))
    (tmp_path / "call.asl.json").write_text(json.dumps(task(call(server, "/from-cli"))))
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "run", "call.asl.json", "--json",
                           "--connections", "connections.json"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["output"]["ResponseBody"] == {"ok": True}
    [received] = server.requests("/from-cli")
    assert received.header("x-api-key") == "s3cret"
