"""The console of a server with credentials, in Debian's chromium: signing in (with a key, or the one-time link
`stepline serve` prints) and out, the session cookie's attributes, requests without the session's CSRF token or
from another site refused, and hostile state names, inputs, errors and causes shown as text, never run."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config

from secured import ALICE, BOB, write_credentials
from serving import REGION, ROLE, StepLine, finished
from web_site import html_site

HOSTILE_STATES = {
    "pass": "<img src=x onerror=window.__xss=2>",
    "choice": "<script>window.__xss=3</script>",
    "fail": "javascript:window.__xss=4",
    "succeed": '"><svg onload=window.__xss=5>',
}
HOSTILE_ERROR, HOSTILE_CAUSE = "<script>window.__xss=6</script>", "<img src=x onerror=window.__xss=7>"
HOSTILE = {
    "Comment": "<img src=x onerror=window.__xss=1>",
    "StartAt": HOSTILE_STATES["pass"],
    "States": {
        HOSTILE_STATES["pass"]: {"Type": "Pass", "Next": HOSTILE_STATES["choice"]},
        HOSTILE_STATES["choice"]: {"Type": "Choice", "Default": HOSTILE_STATES["succeed"], "Choices": [
            {"Variable": "$.go", "BooleanEquals": True, "Next": HOSTILE_STATES["fail"]}]},
        HOSTILE_STATES["fail"]: {"Type": "Fail", "Error": HOSTILE_ERROR, "Cause": HOSTILE_CAUSE},
        HOSTILE_STATES["succeed"]: {"Type": "Succeed"},
    },
}
HOSTILE_INPUT = {"go": True, "html": "<img src=x onerror=window.__xss=8>", "link": "javascript:window.__xss=9",
                 "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "javascript:window.__xss=10"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StepLine, str]]:
    """`stepline serve --credentials`, and the one-time sign-in link it printed."""
    folder = tmp_path_factory.mktemp("login")
    server = StepLine.start(folder / "stepline.db", options=["--credentials", str(write_credentials(folder / "users"))])
    assert server.process.stdout is not None
    line = server.process.stdout.readline()
    assert line.startswith(f"stepline: console sign-in link for alice (works once): {server.url}/console/login?token=")
    yield server, line.rsplit(" ", 1)[1].strip()
    server.stop()


@pytest.fixture
def csp_violations(page: Any) -> list[str]:
    """What the browser reports blocking by the Content-Security-Policy: the console's own code never is."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    return found


def sfn(server: StepLine) -> Any:
    return boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ALICE[0],
                        aws_secret_access_key=ALICE[1], config=Config(retries={"total_max_attempts": 1}))


def sign_in(page: Any, server: StepLine, secret: str = ALICE[1]) -> None:
    page.fill("#access-key-id", ALICE[0])
    page.fill("#secret-access-key", secret)
    page.click("button[type=submit]")


def post(server: StepLine, headers: dict[str, str]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/", body=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.ListActivities",
            "Origin": server.url, **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_sign_in_with_a_key_use_the_console_and_sign_out(secured: tuple[StepLine, str], page: Any,
                                                         csp_violations: list[str]) -> None:
    server, _ = secured
    page.goto(f"{server.url}/design")
    assert page.url == f"{server.url}/console/login?next=%2Fdesign"
    sign_in(page, server, secret="not-the-secret")
    assert page.locator("[role=alert]").inner_text() == "The access key ID or the secret access key is not right."
    sign_in(page, server)
    page.wait_for_url(f"{server.url}/design")
    page.wait_for_selector("#machine-name")  # the design page, drawn by the console's scripts
    page.goto(f"{server.url}/")
    page.wait_for_selector("text=State machines")

    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == \
        ("stepline-session", True, "Strict", False)  # Secure over HTTPS: tests/security/test_serve_options.py
    assert page.evaluate("document.cookie") == ""  # out of reach of scripts
    session = {"Cookie": f"stepline-session={cookie['value']}"}
    csrf = page.locator('meta[name="stepline-csrf"]').get_attribute("content")
    assert post(server, session) == (403, {"__type": "AccessDeniedException", "message": (
        "The console session's request lacks its X-Stepline-CSRF token: it was not sent by a page of this console. "
        "Reload the page.")})
    assert post(server, {**session, "X-Stepline-CSRF": "guessed"})[0] == 403
    assert post(server, {**session, "X-Stepline-CSRF": csrf}) == (200, {"activities": []})

    page.click("#sign-out")
    page.wait_for_url(f"{server.url}/console/login")
    assert post(server, {**session, "X-Stepline-CSRF": csrf})[1]["__type"] == "MissingAuthenticationTokenException"
    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/console/login?next=%2F"
    assert csp_violations == []


def test_a_key_accepted_only_with_its_session_token_cannot_sign_in(secured: tuple[StepLine, str]) -> None:
    server, _ = secured  # the form has no session token to give, as Basic authentication has none either
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/console/login", body=urlencode({"access_key_id": BOB[0],
                                                                     "secret_access_key": BOB[1]}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        page = response.read().decode()
    finally:
        connection.close()
    assert response.status == 403 and response.getheader("set-cookie") is None
    assert f"The access key {BOB[0]} is accepted only with its session token" in page


def test_the_sign_in_link_works_once(secured: tuple[StepLine, str], browser: Any) -> None:
    server, link = secured
    for attempt in ("first", "second"):
        context = browser.new_context()
        page = context.new_page()
        answer = page.goto(link)
        if attempt == "first":
            page.wait_for_url(f"{server.url}/")  # the page moves on by itself
            page.wait_for_selector("text=State machines")
            assert [cookie["name"] for cookie in context.cookies()] == ["stepline-session"]
        else:
            assert answer is not None and answer.status == 403
            assert "has been used already" in page.locator("[role=alert]").inner_text()
            assert context.cookies() == []
        context.close()


ATTACK = """<!doctype html>
<title>attacker</title>
<form id="form" method="POST" enctype="text/plain" action="{target}/">
  <input type="hidden" name='{{"name": "planted", "x": "' value='"}}'>
</form>
<script>
  window.attempt = fetch("{target}/", {{method: "POST", mode: "no-cors", credentials: "include",
    body: JSON.stringify({{name: "planted"}}), headers: {{"content-type": "text/plain"}}}}).then(() => "sent");
</script>
"""


@pytest.fixture
def attacker(secured: tuple[StepLine, str]) -> Iterator[int]:
    """The port of a second web server, another site (attacker.test resolves to 127.0.0.1 in the test browser)."""
    server, _ = secured
    with html_site(lambda: ATTACK.format(target=server.url)) as port:
        yield port


def test_a_page_of_another_site_cannot_use_a_signed_in_session(secured: tuple[StepLine, str], attacker: int,
                                                               page: Any) -> None:
    server, _ = secured
    page.goto(f"{server.url}/")
    sign_in(page, server)
    page.wait_for_selector("text=State machines")
    page.goto("about:blank")  # the console's own calls are over
    answers: list[int] = []
    page.on("response", lambda response: answers.append(response.status)
            if response.url.rstrip("/") == server.url else None)
    page.goto(f"http://attacker.test:{attacker}/")
    assert page.evaluate("window.attempt") == "sent"
    with page.expect_navigation():
        page.evaluate("document.getElementById('form').submit()")
    assert json.loads(page.inner_text("body"))["__type"] in ("MissingAuthenticationTokenException",
                                                             "AccessDeniedException")
    assert answers and all(status == 403 for status in answers)
    assert sfn(server).list_activities()["activities"] == []  # nothing was planted


def test_hostile_names_inputs_errors_and_causes_are_shown_as_text(secured: tuple[StepLine, str], page: Any,
                                                                  csp_violations: list[str]) -> None:
    server, _ = secured
    client = sfn(server)
    machine = client.create_state_machine(name="hostile", definition=json.dumps(HOSTILE),
                                          roleArn=ROLE)["stateMachineArn"]
    execution = client.start_execution(stateMachineArn=machine, name="hostile-run",
                                       input=json.dumps(HOSTILE_INPUT))["executionArn"]
    assert finished(client, execution)["status"] == "FAILED"
    page.goto(f"{server.url}/")
    sign_in(page, server)
    page.wait_for_selector("text=hostile")

    page.goto(f"{server.url}/state-machines/{machine}")
    page.wait_for_selector(".sl-node")
    page.goto(f"{server.url}/design/{machine}")
    page.wait_for_selector(".sl-node")
    page.goto(f"{server.url}/executions/{execution}")
    page.wait_for_selector("#execution-status .badge--failed")
    page.get_by_text(HOSTILE_CAUSE).first.wait_for()
    assert page.get_by_text(HOSTILE_ERROR).count() >= 1  # the execution's error, as text
    for name in HOSTILE_STATES.values():
        page.locator(".sl-node:not(.sl-marker)").filter(has_text=name).first.click()
        page.locator("#state-panel").get_by_text(name).first.wait_for()
    page.click("#tab-events")
    page.wait_for_selector("#events")

    assert page.evaluate("window.__xss") is None  # nothing ran
    assert page.locator("img[onerror], svg[onload], script:not([src])").count() == 0  # nothing became markup
    links = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    assert not [link for link in links if not link.startswith(server.url)], links  # no javascript: URL
    assert csp_violations == []
