"""The console defends itself, against a real `stepline serve`: malformed input to any route is answered with a
4xx in AWS's error shape, and a page of another site cannot fire a timer, neither with a form nor a script, in
Debian's chromium (nor through a DNS-rebound name), while the console's own page still can."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from serving import ROLE, StepLine, history, types
from web_site import html_site

REGION_ACCOUNT = "us-east-1:123456789012"
MACHINE = f"arn:aws:states:{REGION_ACCOUNT}:stateMachine:napper"
UNKNOWN_EXECUTION = f"arn:aws:states:{REGION_ACCOUNT}:execution:napper:none"
NAP = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Up"},
                                    "Up": {"Type": "Pass", "End": True}}}
JSON = {"Content-Type": "application/json"}
AMZ = {"Content-Type": "application/x-amz-json-1.0"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    server = StepLine.start(tmp_path_factory.mktemp("defense") / "stepline.db")
    server.client().create_state_machine(name="napper", definition=json.dumps(NAP), roleArn=ROLE)
    yield server
    server.stop()


def napping(server: StepLine, name: str) -> str:
    """A new execution, once it waits on its one-hour Wait."""
    client = server.client()
    arn = client.start_execution(stateMachineArn=MACHINE, name=name)["executionArn"]
    deadline = time.monotonic() + 10
    while "WaitStateEntered" not in types(history(client, arn)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return arn


def request(server: StepLine, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


def crafted_token(issued: int) -> str:
    """A ListExecutions token as stepline writes one, issued at `issued` (epoch seconds)."""
    scope = hashlib.sha256(b"").hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps([1, scope, issued, "x"]).encode()).decode().rstrip("=")


def fire(arn: str) -> bytes:
    return json.dumps({"executionArn": arn}).encode()


EVENTS = f"/console/api/events?executionArn={quote(UNKNOWN_EXECUTION)}"
EXECUTIONS = f"/console/api/executions?stateMachineArn={quote(MACHINE)}"
LIST = {"X-Amz-Target": "AWSStepFunctions.ListExecutions", **AMZ}
MALFORMED = [
    # POST /console/api/fire-timer
    pytest.param("POST", "/console/api/fire-timer", b"[1]", JSON, 400, "SerializationException", id="fire-list"),
    pytest.param("POST", "/console/api/fire-timer", b'"arn"', JSON, 400, "SerializationException", id="fire-string"),
    pytest.param("POST", "/console/api/fire-timer", b"{", JSON, 400, "SerializationException", id="fire-not-json"),
    pytest.param("POST", "/console/api/fire-timer", b'{"executionArn": "\xff"}', JSON, 400, "SerializationException",
                 id="fire-not-utf8"),
    pytest.param("POST", "/console/api/fire-timer", b"{}", JSON, 400, "ValidationException", id="fire-no-arn"),
    pytest.param("POST", "/console/api/fire-timer", b'{"executionArn": 5}', JSON, 400, "ValidationException",
                 id="fire-arn-number"),
    pytest.param("POST", "/console/api/fire-timer", b'{"executionArn": {"a": 1}}', JSON, 400, "ValidationException",
                 id="fire-arn-object"),
    pytest.param("POST", "/console/api/fire-timer", b'{"executionArn": 123456789012345678901234567890}', JSON, 400,
                 "ValidationException", id="fire-arn-huge-number"),
    pytest.param("POST", "/console/api/fire-timer", b'{"executionArn": "not an arn"}', JSON, 400, "InvalidArn",
                 id="fire-invalid-arn"),
    pytest.param("POST", "/console/api/fire-timer", fire(UNKNOWN_EXECUTION), JSON, 400, "ExecutionDoesNotExist",
                 id="fire-unknown-execution"),
    pytest.param("POST", "/console/api/fire-timer", json.dumps({"executionArn": UNKNOWN_EXECUTION, "thread": 1}).encode(),
                 JSON, 400, "ValidationException", id="fire-thread-number"),
    pytest.param("POST", "/console/api/fire-timer", fire(UNKNOWN_EXECUTION), {"Content-Type": "text/plain"}, 400,
                 "ValidationException", id="fire-text-plain"),
    pytest.param("POST", "/console/api/fire-timer", fire(UNKNOWN_EXECUTION), {}, 400, "ValidationException",
                 id="fire-no-content-type"),
    pytest.param("POST", "/console/api/fire-timer", b" " * 1_100_000, JSON, 413, "RequestEntityTooLargeException",
                 id="fire-over-1-mib"),
    # POST /console/api/graph
    pytest.param("POST", "/console/api/graph", b"[1]", JSON, 400, "SerializationException", id="graph-list"),
    pytest.param("POST", "/console/api/graph", b'{"definition": 5}', JSON, 400, "ValidationException",
                 id="graph-definition-number"),
    pytest.param("POST", "/console/api/graph", b'{"definition": "{}"}', {"Content-Type": "text/plain"}, 400,
                 "ValidationException", id="graph-text-plain"),
    pytest.param("POST", "/console/api/graph", b'{"definition": "' + b"x" * 1_100_000 + b'"}', JSON, 413,
                 "RequestEntityTooLargeException", id="graph-over-1-mib"),
    # GET /console/api/events
    pytest.param("GET", EVENTS + "&after=" + "9" * 30, b"", {}, 400, "ValidationException", id="events-after-30-digits"),
    pytest.param("GET", EVENTS + "&after=-1", b"", {}, 400, "ValidationException", id="events-after-negative"),
    pytest.param("GET", EVENTS + "&after=abc", b"", {}, 400, "ValidationException", id="events-after-text"),
    pytest.param("GET", EVENTS + "&after=%C2%B2", b"", {}, 400, "ValidationException", id="events-after-superscript"),
    pytest.param("GET", EVENTS, b"", {"Last-Event-ID": "1.5"}, 400, "ValidationException", id="events-last-event-id"),
    pytest.param("GET", EVENTS, b"", {}, 400, "ExecutionDoesNotExist", id="events-unknown-execution"),
    pytest.param("GET", "/console/api/events", b"", {}, 400, "InvalidArn", id="events-no-arn"),
    pytest.param("GET", "/console/api/events?executionArn=%FF%FE", b"", {}, 400, "InvalidArn", id="events-not-utf8"),
    # GET /console/api/executions
    pytest.param("GET", "/console/api/executions", b"", {}, 400, "InvalidArn", id="executions-no-arn"),
    pytest.param("GET", EXECUTIONS + "&maxResults=abc", b"", {}, 400, "ValidationException", id="executions-max-text"),
    pytest.param("GET", EXECUTIONS + "&maxResults=-1", b"", {}, 400, "ValidationException", id="executions-max-negative"),
    pytest.param("GET", EXECUTIONS + "&maxResults=" + "9" * 30, b"", {}, 400, "ValidationException",
                 id="executions-max-30-digits"),
    pytest.param("GET", EXECUTIONS + "&maxResults=" + "9" * 5000, b"", {}, 400, "ValidationException",
                 id="executions-max-5000-digits"),
    pytest.param("GET", EXECUTIONS + "&maxResults=1001", b"", {}, 400, "ValidationException", id="executions-max-1001"),
    pytest.param("GET", EXECUTIONS + "&statusFilter=NOPE", b"", {}, 400, "ValidationException", id="executions-status"),
    pytest.param("GET", EXECUTIONS + "&nextToken=garbage", b"", {}, 400, "InvalidToken", id="executions-token"),
    pytest.param("GET", EXECUTIONS + "&nextToken=" + crafted_token(10**15), b"", {}, 400, "InvalidToken",
                 id="executions-token-from-year-30000000"),
    # methods and addresses
    pytest.param("GET", "/console/api/fire-timer", b"", {}, 405, "UnknownOperationException", id="get-fire-timer"),
    pytest.param("PUT", "/console/api/graph", b"{}", JSON, 405, "UnknownOperationException", id="put-graph"),
    pytest.param("DELETE", "/", b"", {}, 405, "UnknownOperationException", id="delete-api"),
    pytest.param("POST", "/design", b"{}", JSON, 405, "UnknownOperationException", id="post-page"),
    pytest.param("GET", "/console/api/nope", b"", {}, 404, "UnknownOperationException", id="unknown-route"),
    pytest.param("GET", "/console/static/nope.js", b"", {}, 404, "UnknownOperationException", id="unknown-file"),
    # POST / (the API)
    pytest.param("POST", "/", b'{"stateMachineArn": "\xff"}', LIST, 400, "SerializationException", id="api-not-utf8"),
    pytest.param("POST", "/", b"[1]", LIST, 400, "SerializationException", id="api-list"),
    pytest.param("POST", "/", b'{"stateMachineArn": 5}', LIST, 400, "SerializationException", id="api-wrong-type"),
    pytest.param("POST", "/", b'{"stateMachineArn": "' + MACHINE.encode() + b'", "maxResults": 1' + b"0" * 30 + b"}",
                 LIST, 400, "SerializationException", id="api-huge-number"),
    pytest.param("POST", "/", b"{}", LIST, 400, "ValidationException", id="api-missing-field"),
    pytest.param("POST", "/", b'{"stateMachineArn": "arn:nope"}', LIST, 400, "InvalidArn", id="api-invalid-arn"),
    pytest.param("POST", "/", json.dumps({"stateMachineArn": MACHINE, "nextToken": crafted_token(10**15)}).encode(),
                 LIST, 400, "InvalidToken", id="api-token-from-year-30000000"),
]


@pytest.mark.parametrize("method, path, body, headers, status, error", MALFORMED)
def test_malformed_input_is_answered_with_a_4xx_in_aws_shape(running: StepLine, method: str, path: str, body: bytes,
                                                             headers: dict[str, str], status: int, error: str) -> None:
    answered, content_type, answer = request(running, method, path, body, headers)
    assert (answered, json.loads(answer)["__type"]) == (status, error)
    assert content_type in ("application/x-amz-json-1.0", "application/json")


@pytest.mark.parametrize("headers", [
    pytest.param({"Origin": "http://evil.test"}, id="foreign-origin"),
    pytest.param({"Origin": "null"}, id="opaque-origin"),
    pytest.param({"Referer": "http://evil.test/attack.html"}, id="foreign-referer"),
])
def test_console_posts_from_another_origin_are_refused(running: StepLine, headers: dict[str, str]) -> None:
    arn = napping(running, uuid.uuid4().hex)
    for path in ("/console/api/fire-timer", "/console/api/graph"):
        status, _, answer = request(running, "POST", path, fire(arn), {**JSON, **headers})
        assert (status, json.loads(answer)["__type"]) == (403, "AccessDeniedException")
    assert "WaitStateExited" not in types(history(running.client(), arn))


def test_a_console_post_from_its_own_origin_fires_the_timer(running: StepLine) -> None:
    arn = napping(running, "same-origin")
    own = f"http://127.0.0.1:{running.port}"
    status, _, answer = request(running, "POST", "/console/api/fire-timer", fire(arn),
                                {**JSON, "Origin": own, "Referer": f"{own}/executions/{arn}"})
    assert status == 200 and [timer["state"] for timer in json.loads(answer)["fired"]] == ["Nap"]


# -- in the browser ------------------------------------------------------------------------------------------------

ATTACK = """<!doctype html>
<title>attacker</title>
<form id="form" method="POST" enctype="text/plain" action="{target}/console/api/fire-timer">
  <input type="hidden" name='{{"executionArn": "{arn}", "padding": "' value='"}}'>
</form>
<script>
  const body = JSON.stringify({{executionArn: "{arn}"}});
  window.attempts = Promise.allSettled([
    // a simple request: the browser sends it without asking, but cannot read the answer
    fetch("{target}/console/api/fire-timer", {{method: "POST", mode: "no-cors", body,
                                                headers: {{"content-type": "text/plain"}}}}),
    // JSON needs a CORS preflight, which the server never approves
    fetch("{target}/console/api/fire-timer", {{method: "POST", body, headers: {{"content-type": "application/json"}}}}),
  ]).then(results => results.map(result => result.status));
</script>
"""


@pytest.fixture
def attacker(running: StepLine) -> Iterator[dict[str, Any]]:
    """A second web server, the attacker's site, serving ATTACK for the execution it is told about."""
    site: dict[str, Any] = {"arn": ""}
    with html_site(lambda: ATTACK.format(target=running.url, arn=site["arn"])) as port:
        site["port"] = port
        yield site


def test_a_page_of_another_site_cannot_fire_a_timer(running: StepLine, attacker: dict[str, Any], page: Any) -> None:
    """attacker.test resolves to 127.0.0.1 in the test browser (conftest's CHROMIUM_ARGS)."""
    arn = attacker["arn"] = napping(running, "attacked")
    answers: list[tuple[str, int]] = []
    page.on("response", lambda response: answers.append((response.request.method, response.status))
            if "/console/api/fire-timer" in response.url else None)

    page.goto(f"http://attacker.test:{attacker['port']}/")
    assert page.evaluate("window.attempts") == ["fulfilled", "rejected"]  # the JSON one never left the browser
    with page.expect_navigation():
        page.evaluate("document.getElementById('form').submit()")
    assert json.loads(page.inner_text("body"))["__type"] == "AccessDeniedException"  # the form's answer
    assert answers == [("POST", 403), ("POST", 403)]  # the script's simple request, then the form

    rebound = page.goto(f"http://attacker.test:{running.port}/")  # the attacker's name, now pointing here
    assert rebound is not None and rebound.status == 403

    client = running.client()
    assert client.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert "WaitStateExited" not in types(history(client, arn))

    page.goto(f"{running.url}/executions/{arn}")  # the console itself still fires it
    page.click("#fire-timer")
    deadline = time.monotonic() + 10
    while client.describe_execution(executionArn=arn)["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
