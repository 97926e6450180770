"""The state machine page lists its schedules (a template's, served by a real `stepline serve`) and pauses and
resumes them, in Debian's chromium; the console routes refuse bad input in AWS's shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from serving import StepLine

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nightly-job"
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Job:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: nightly-job
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        Nightly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: cron(0 3 * * ? *), ScheduleExpressionTimezone: Europe/Paris, Name: nightly}
"""


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_state_machine_page_pauses_and_resumes_its_schedule(tmp_path: Path, page: Any, shoot: Any) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "template.yaml").write_text(TEMPLATE)
    server = StepLine.start(tmp_path / "s.db", options=["--template", str(tmp_path / "app" / "template.yaml")])
    try:
        listed = f"{server.url}/console/api/schedules?stateMachineArn={quote(MACHINE)}"
        page.goto(f"{server.url}/state-machines/{quote(MACHINE, safe='')}")
        item = page.wait_for_selector('#schedules li[data-schedule="nightly"]')
        assert "cron(0 3 * * ? *)" in item.inner_text() and "Europe/Paris" in item.inner_text()
        assert "next " in item.inner_text()
        shoot("schedules")
        page.locator("#schedules").screenshot(path=str(shoot("schedules").with_name("schedules-list.png")))
        page.click('#schedules li[data-schedule="nightly"] button:has-text("Pause")')
        page.wait_for_selector('#schedules li[data-schedule="nightly"] button:has-text("Resume")')
        assert get(listed)["schedules"][0]["state"] == "DISABLED"
        assert get(listed)["schedules"][0]["nextDue"] is None
        page.click('#schedules li[data-schedule="nightly"] button:has-text("Resume")')
        page.wait_for_selector('#schedules li[data-schedule="nightly"] button:has-text("Pause")')
        resumed = get(listed)["schedules"][0]
        assert resumed["state"] == "ENABLED" and resumed["nextDue"] is not None

        status, answer = post(f"{server.url}/console/api/schedule-state",
                              {"scheduleArn": resumed["scheduleArn"], "state": "PAUSED"})
        assert (status, answer["__type"]) == (400, "ValidationException")
        status, answer = post(f"{server.url}/console/api/schedule-state", {"scheduleArn": "nope", "state": "ENABLED"})
        assert (status, answer["__type"], answer["message"]) == (400, "ResourceNotFound", "Schedule nope does not exist")
    finally:
        server.stop()
