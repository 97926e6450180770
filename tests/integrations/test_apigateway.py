"""API Gateway's optimized integration (`apigateway:invoke`) against a real HTTP server on 127.0.0.1 that records
each request (method, path, query, headers, body): the URL from ApiEndpoint, Stage, Path and QueryParameters, the
headers and body, SigV4 for IAM_ROLE (checked by recomputing the signature), the result's shape, the errors."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from support import QuietHandler, local_server

from stepline.engine.resources import describe_resource
from stepline.runtime.integrations.aws.apigateway import ApiGatewayInvoke
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.registry import AwaitCallback, Integrations, TaskCall
from stepline.service.workflow import Result

INVOKE = "arn:aws:states:::apigateway:invoke"


@dataclass
class Server:
    """Records each request; answers `status` with `body` (JSON) and an extra header."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"myBills": []}'


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.received.append({"method": self.command, "path": self.path, "headers": list(self.headers.items()),
                                   "body": self.rfile.read(length) if length else b""})
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-RequestId", "request-1")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815

    with local_server(Handler) as state.url:
        yield state


def header(request: dict, name: str) -> str | None:
    return next((value for key, value in request["headers"] if key.lower() == name.lower()), None)


def test_the_request_is_built_from_its_parameters_and_the_response_is_the_result(
        task: Callable[..., Result], server: Server) -> None:
    result = task(INVOKE, {"ApiEndpoint": server.url, "Method": "POST", "Stage": "prod", "Path": "bills/add",
                           "Headers": {"X-Custom": ["a", "b"]}, "QueryParameters": {"billId": ["12 3", "4"]},
                           "RequestBody": {"billId": "my-new-bill", "note": None}})
    assert result.error is None, result.cause
    [request] = server.received
    assert (request["method"], request["path"]) == ("POST", "/prod/bills/add?billId=12%203&billId=4")
    assert [value for key, value in request["headers"] if key == "X-Custom"] == ["a", "b"]
    assert header(request, "Content-Type") == "application/json"
    assert header(request, "Authorization") is None  # NO_AUTH, the default
    assert json.loads(request["body"]) == {"billId": "my-new-bill"}  # nulls are not sent without AllowNullValues
    assert {key: value for key, value in result.output.items() if key != "Headers"} == {
        "ResponseBody": {"myBills": []}, "StatusCode": 200, "StatusText": "OK"}
    headers = result.output["Headers"]
    assert headers["Content-Type"] == ["application/json"] and headers["Content-Length"] == ["15"]
    assert result.output["Headers"]["x-amzn-RequestId"] == ["request-1"]  # names as the API sent them


def test_null_values_are_sent_when_allowed_and_a_string_body_as_it_is(task: Callable[..., Result],
                                                                      server: Server) -> None:
    task(INVOKE, {"ApiEndpoint": server.url, "Method": "PUT", "RequestBody": {"a": None}, "AllowNullValues": True})
    task(INVOKE, {"ApiEndpoint": server.url, "Method": "PATCH", "RequestBody": "plain text"})
    task(INVOKE, {"ApiEndpoint": server.url, "Method": "GET"})
    assert [(r["method"], r["path"], r["body"]) for r in server.received] == [
        ("PUT", "/", b'{"a":null}'), ("PATCH", "/", b"plain text"), ("GET", "/", b"")]


def test_iam_role_signs_the_request_with_sigv4(task: Callable[..., Result], server: Server,
                                               aws: pytest.MonkeyPatch) -> None:
    aws.setenv("AWS_SESSION_TOKEN", "session")
    result = task(INVOKE, {"ApiEndpoint": server.url, "Method": "POST", "Path": "signed", "RequestBody": {"x": 1},
                           "AuthType": "IAM_ROLE", "QueryParameters": {"q": ["1"]}})
    assert result.error is None, result.cause
    [request] = server.received
    authorization = header(request, "Authorization")
    assert authorization is not None and authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=testing/") and "/us-east-1/execute-api/aws4_request" in authorization
    assert header(request, "X-Amz-Security-Token") == "session"
    assert authorization.endswith("Signature=" + sigv4_signature(request, "testing", "us-east-1"))


def sigv4_signature(request: dict, secret: str, region: str) -> str:
    """Signature Version 4 of a received request, computed from what the server received (the headers its
    Authorization names as signed)."""
    authorization = header(request, "Authorization") or ""
    signed = authorization.split("SignedHeaders=")[1].split(",")[0]
    path, _, query = request["path"].partition("?")
    canonical_query = "&".join(sorted(query.split("&"))) if query else ""
    canonical_headers = "".join(f"{name}:{(header(request, name) or '').strip()}\n" for name in signed.split(";"))
    canonical = "\n".join([request["method"], path, canonical_query, canonical_headers, signed,
                           hashlib.sha256(request["body"]).hexdigest()])
    date = header(request, "X-Amz-Date") or ""
    scope = f"{date[:8]}/{region}/execute-api/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date[:8], region, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_a_status_other_than_2xx_is_named_by_it_with_the_body_as_cause(task: Callable[..., Result],
                                                                        server: Server) -> None:
    server.status, server.body = 403, b'{"message":"Missing Authentication Token"}'
    result = task(INVOKE, {"ApiEndpoint": server.url, "Method": "GET"})
    assert (result.error, result.cause) == ("ApiGateway.403", '{"message":"Missing Authentication Token"}')


@pytest.mark.parametrize(("parameters", "problem"), [
    ({"Headers": {"h": "single"}}, "The value of the field 'Headers' has an invalid format"),
    ({"QueryParameters": {"q": 1}}, "The value of the field 'QueryParameters' has an invalid format"),
    ({"Headers": {"X-Amz-Date": ["x"]}}, "The header 'X-Amz-Date' is not allowed in the field 'Headers'"),
    ({"AuthType": "IAM_AUTH"}, "The value of the field 'AuthType' has an invalid format"),
    ({"Nope": 1}, 'The field "Nope" is not supported by Step Functions'),
])
def test_parameters_step_functions_refuses(task: Callable[..., Result], server: Server, parameters: dict,
                                           problem: str) -> None:
    result = task(INVOKE, {"ApiEndpoint": server.url, "Method": "GET", **parameters})
    assert result.error == "States.Runtime" and result.cause.endswith(f"[{problem}]"), result.cause
    assert not server.received


def test_only_api_gateway_endpoints_and_loopback_addresses_are_called(task: Callable[..., Result]) -> None:
    result = task(INVOKE, {"ApiEndpoint": "http://example.com", "Method": "GET"})
    assert result.error == "States.Runtime" and "is not an API Gateway endpoint" in result.cause
    closed = task(INVOKE, {"ApiEndpoint": "http://127.0.0.1:1", "Method": "GET"})
    assert closed.error == "ApiGateway.SdkClientException"
    assert urlsplit("https://abc123.execute-api.eu-west-1.amazonaws.com").hostname  # the documented host form


def test_wait_for_task_token_sends_the_request_then_awaits_the_callback(server: Server) -> None:
    call = TaskCall(resource=describe_resource(INVOKE + ".waitForTaskToken"), state_name="Call", invocation=0,
                    parameters={"ApiEndpoint": server.url, "Method": "POST", "Headers": {"TaskToken": ["token-1"]}},
                    execution_arn="arn:execution", idempotency_key="k", task_token="token-1")

    async def invoke() -> object:
        clients = AwsClients()
        try:
            return await Integrations([ApiGatewayInvoke(clients)]).invoke(call)
        finally:
            await clients.close()
    outcome = asyncio.run(invoke())
    assert isinstance(outcome, AwaitCallback) and outcome.response["StatusCode"] == 200
    [request] = server.received
    assert header(request, "TaskToken") == "token-1"
