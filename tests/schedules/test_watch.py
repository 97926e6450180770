"""`stepline serve --template FILE --watch`, a real server process: a change to the template or to a definition
file it reads is applied live (a new revision); an invalid template is one line in the log, and the server goes
on serving the previous one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from serving import StepLine

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:watched"
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Watched:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: watched
      DefinitionUri: machine.asl.json
      DefinitionSubstitutions: {Greeting: GREETING}
"""


def definition(result: str) -> str:
    return json.dumps({"StartAt": "Say", "States": {"Say": {"Type": "Pass", "End": True,
                                                            "Result": {"said": result, "greeting": "${Greeting}"}}}})


def output(sfn: Any) -> dict:
    arn = sfn.start_execution(stateMachineArn=MACHINE)["executionArn"]
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return json.loads(described["output"])


def eventually(check: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not applied in time"
        time.sleep(0.1)


def test_watch_applies_changes_live_and_keeps_the_old_template_when_the_new_one_is_invalid(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    template, machine_file = folder / "template.yaml", folder / "machine.asl.json"
    template.write_text(TEMPLATE.replace("GREETING", "hello"))
    machine_file.write_text(definition("one"))
    server = StepLine.start(tmp_path / "s.db", options=["--template", str(template), "--watch"],
                            log=tmp_path / "server.log")
    try:
        sfn = server.client()
        assert output(sfn) == {"said": "one", "greeting": "hello"}
        assert "revisionId" not in sfn.describe_state_machine(stateMachineArn=MACHINE)

        machine_file.write_text(definition("two"))  # the definition file the template reads
        eventually(lambda: '"two"' in sfn.describe_state_machine(stateMachineArn=MACHINE)["definition"])
        assert sfn.describe_state_machine(stateMachineArn=MACHINE)["revisionId"]  # UpdateStateMachine's revision
        assert output(sfn) == {"said": "two", "greeting": "hello"}

        template.write_text(TEMPLATE.replace("GREETING", "hi"))  # the template itself
        eventually(lambda: '"hi"' in sfn.describe_state_machine(stateMachineArn=MACHINE)["definition"])
        assert output(sfn) == {"said": "two", "greeting": "hi"}

        template.write_text(TEMPLATE.replace("DefinitionUri: machine.asl.json", "DefinitionUri: gone.asl.json"))
        eventually(lambda: "template not applied" in (tmp_path / "server.log").read_text())
        errors = [line for line in (tmp_path / "server.log").read_text().splitlines() if "not applied" in line]
        assert len(errors) == 1 and "Resources/Watched/Properties/DefinitionUri: definition file" in errors[0]
        assert "Traceback" not in (tmp_path / "server.log").read_text()
        assert output(sfn) == {"said": "two", "greeting": "hi"}  # still the previous one

        machine_file.write_text(definition("three"))
        template.write_text(TEMPLATE.replace("GREETING", "hey"))  # fixed: applied again
        eventually(lambda: '"three"' in sfn.describe_state_machine(stateMachineArn=MACHINE)["definition"])
        assert output(sfn) == {"said": "three", "greeting": "hey"}
        assert server.process.poll() is None
    finally:
        server.stop()
