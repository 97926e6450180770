"""The console's routes over HTTP against `stepline serve`: the page shell at stable addresses, the static
files, the graph route, the live event stream, firing a timer, and finding executions by name."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from serving import StepLine, stream

ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
WAIT = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Up"},
                                     "Up": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    server = StepLine.start(tmp_path_factory.mktemp("routes") / "stepline.db")
    yield server
    server.stop()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


def post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("path", [
    pytest.param("/", id="home"),
    pytest.param("/state-machines/arn:aws:states:us-east-1:123456789012:stateMachine:x", id="machine-raw-arn"),
    pytest.param("/state-machines/" + quote("arn:aws:states:us-east-1:123456789012:stateMachine:x", safe=""),
                 id="machine-encoded-arn"),
    pytest.param("/executions/arn:aws:states:us-east-1:123456789012:execution:x:y", id="execution"),
    pytest.param("/design", id="design-new"),
])
def test_every_page_address_serves_the_shell(running: StepLine, path: str) -> None:
    status, kind, body = get(running.url + path)
    assert status == 200 and kind.startswith("text/html")
    assert '<script type="module" src="/console/static/app.js">' in body


@pytest.mark.parametrize("name, kind", [pytest.param("app.js", "javascript", id="js"),
                                        pytest.param("console.css", "text/css", id="css")])
def test_static_files_are_served_from_the_package(running: StepLine, name: str, kind: str) -> None:
    status, content_type, body = get(f"{running.url}/console/static/{name}")
    assert status == 200 and kind in content_type and body
    assert "http://" not in body and "https://" not in body  # nothing from the internet


def test_every_static_file_ships_in_the_package() -> None:
    static = Path(__file__).resolve().parents[2] / "src" / "stepline" / "console" / "static"
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"console/static/*"' in pyproject
    imported = {line.split('"./')[1].split('"')[0] for path in static.glob("*.js")
                for line in path.read_text().splitlines() if line.startswith("import ") and '"./' in line}
    assert imported <= {path.name for path in static.iterdir()}


def test_graph_route_lays_out_a_definition(running: StepLine) -> None:
    status, answer = post(f"{running.url}/console/api/graph", {"definition": json.dumps(WAIT)})
    assert status == 200
    assert answer["svg"].startswith("<svg") and 'data-name="Nap"' in answer["svg"]
    assert {node["id"] for node in answer["layout"]["nodes"]} == {"start", "/States/Nap", "/States/Up"}


def test_unserved_route_warns_of_tasks_no_integration_serves(running: StepLine) -> None:
    definition = {"StartAt": "Odd", "States": {
        "Odd": {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing", "Next": "Queue"},
        "Queue": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}}
    status, answer = post(f"{running.url}/console/api/unserved", {"definition": json.dumps(definition)})
    assert status == 200
    assert [(d["severity"], d["code"], d["location"]) for d in answer["diagnostics"]] == [
        ("WARNING", "NO_INTEGRATION", "/States/Odd/Resource")]  # SQS is served (AWS's, or its endpoint)


def test_event_stream_follows_an_execution_and_a_timer_fires_now(running: StepLine) -> None:
    client = running.client()
    machine = client.create_state_machine(name="napper", definition=json.dumps(WAIT), roleArn=ROLE)
    arn = client.start_execution(stateMachineArn=machine["stateMachineArn"], name="nap-1")["executionArn"]
    deadline = time.monotonic() + 10
    while True:  # the Wait has started
        messages = stream(f"{running.url}/console/api/events?executionArn={quote(arn)}", "status")
        timers = messages[-1][1]["timers"]
        if timers or time.monotonic() > deadline:
            break
    events = [event for kind, data in messages if kind == "events" for event in data]
    assert [event["type"] for event in events][:2] == ["ExecutionStarted", "WaitStateEntered"]
    assert isinstance(events[0]["timestamp"], float)  # epoch seconds, as the API writes them
    assert timers == [{"thread": "", "state": "Nap", "kind": "wait", "token": timers[0]["token"]}]
    status, fired = post(f"{running.url}/console/api/fire-timer", {"executionArn": arn})
    assert status == 200 and [timer["state"] for timer in fired["fired"]] == ["Nap"]
    rest = stream(f"{running.url}/console/api/events?executionArn={quote(arn)}&after={events[-1]['id']}", "end")
    later = [event["type"] for kind, data in rest if kind == "events" for event in data]
    assert later[:2] == ["WaitStateExited", "PassStateEntered"] and later[-1] == "ExecutionSucceeded"
    assert rest[-1] == ("end", {"status": "SUCCEEDED"})
    status, problem = post(f"{running.url}/console/api/fire-timer", {"executionArn": arn})
    assert status == 400 and problem["__type"] == "ValidationException"


def test_unknown_execution_is_an_aws_error(running: StepLine) -> None:
    for route in ("events", "execution"):
        status, _, body = get(f"{running.url}/console/api/{route}?executionArn="
                              + quote("arn:aws:states:us-east-1:123456789012:execution:none:none"))
        assert status == 400 and json.loads(body)["__type"] == "ExecutionDoesNotExist"
    status, _, body = get(f"{running.url}/console/api/execution?executionArn=not-an-arn")
    assert status == 400 and json.loads(body)["__type"] == "InvalidArn"


def test_find_executions_by_name_pages_like_list_executions(running: StepLine) -> None:
    client = running.client()
    machine = client.create_state_machine(
        name="named", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE)
    for name in ("alpha-1", "beta-1", "alpha-2", "ALPHA-3", "gamma"):
        client.start_execution(stateMachineArn=machine["stateMachineArn"], name=name)
    found: list[str] = []
    token = None
    while True:
        query = f"stateMachineArn={quote(machine['stateMachineArn'])}&name=alpha&maxResults=2"
        status, _, body = get(f"{running.url}/console/api/executions?{query}" + (f"&nextToken={quote(token)}" if token else ""))
        assert status == 200
        page = json.loads(body)
        found += [execution["name"] for execution in page["executions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(found) == ["ALPHA-3", "alpha-1", "alpha-2"]
