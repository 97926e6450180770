"""`stepline serve --template` and `stepline deploy` end to end: real templates of each shape (SAM with Python
functions, CloudFormation with a Fn::Sub-built DefinitionString and Conditions, CDK's cdk.out), run through
boto3 against `stepline serve` subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from serving import REGION, StepLine, finished

APPS = Path(__file__).resolve().parent / "apps"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sam-app" / "template.yaml"
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:"


def run(sfn, arn: str, value: dict) -> dict:
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(value))
    return finished(sfn, started["executionArn"])


def test_the_sam_example_runs_its_python_functions_through_definition_substitutions(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "s.db", options=["--template", str(EXAMPLE),
                                                        "--parameter-overrides", "Stage=prod", "TaxRate=0.5"])
    try:
        sfn = server.client()
        accepted = run(sfn, MACHINE + "orders-prod", {"id": "o-1", "items": [{"price": 2, "quantity": 3}]})
        assert accepted["status"] == "SUCCEEDED", accepted
        assert json.loads(accepted["output"]) == {"id": "o-1", "total": 9.0, "stage": "prod",
                                                  "environment": "production"}
        rejected = run(sfn, MACHINE + "orders-prod", {"id": "o-2", "items": []})
        assert (rejected["status"], rejected["error"]) == ("FAILED", "OrderRejected")
        assert json.loads(rejected["cause"])["errorMessage"] == "order o-2 has no items"
        tags = sfn.list_tags_for_resource(resourceArn=MACHINE + "orders-prod")["tags"]
        assert tags == [{"key": "stateMachine:createdBy", "value": "SAM"}]
    finally:
        server.stop()


def test_functions_fail_time_out_and_crash_as_lambda_reports_it(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "s.db", options=["--template", str(APPS / "sam" / "template.yaml")])
    try:
        sfn = server.client()
        machine = next(m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith("Misbehave-"))
        alias = sfn.describe_state_machine_alias(stateMachineAliasArn=machine["stateMachineArn"] + ":live")
        assert alias["routingConfiguration"][0]["stateMachineVersionArn"] == machine["stateMachineArn"] + ":1"

        def call(what: str) -> dict:
            return sfn.start_sync_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps({"what": what}))

        described = call("describe")
        output = json.loads(described["output"])
        assert output | {"pid": 0} == {"name": "describe-fn", "remaining": True, "request": 36, "greeting": "hello",
                                       "memory": 256, "pid": 0, "cwd": "misbehave"}
        failed = call("fail")
        assert failed["error"] == "ValueError"
        cause = json.loads(failed["cause"])
        assert (cause["errorType"], cause["errorMessage"]) == ("ValueError", "cannot handle fail")
        slow = call("slow")
        assert slow["error"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in json.loads(slow["cause"])["errorMessage"]
        crashed = call("crash")
        assert crashed["error"] == "Runtime.ExitError"
        assert json.loads(crashed["cause"])["errorMessage"].endswith("Runtime exited with error: signal: killed")
        again = json.loads(call("describe")["output"])
        assert again["pid"] == output["pid"]  # the function's own process lives on, the crash was another's
    finally:
        server.stop()


def test_cloudformation_definition_string_conditions_versions_and_restarts(tmp_path: Path) -> None:
    template = tmp_path / "app" / "template.json"
    template.parent.mkdir()
    shutil.copy(APPS / "cloudformation" / "template.json", template)
    options = ["--template", str(template), "--parameter-overrides", "Stage=prod", "Shared=bus", "shared-bus=arn:bus"]
    server = StepLine.start(tmp_path / "s.db", options=options)
    try:
        sfn = server.client()
        names = sorted(m["name"] for m in sfn.list_state_machines()["stateMachines"])
        assert names[0].startswith("Machine-") and names[1] == "named-us-east-1"
        arn = MACHINE + names[0]
        done = run(sfn, arn + ":live", {})
        assert done["status"] == "SUCCEEDED", done
        output = json.loads(done["output"])
        queue = output.pop("queue")
        assert queue.startswith("https://sqs.us-east-1.amazonaws.com/123456789012/app-Queue-") and len(queue) == 71
        assert output.pop("queueArn") == "arn:aws:sqs:us-east-1:123456789012:" + queue.rsplit("/", 1)[1]
        assert output.pop("topic").startswith("arn:aws:sns:us-east-1:123456789012:app-Topic-")
        assert output == {"table": "orders-prod", "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders-prod",
                          "activity": f"arn:aws:states:{REGION}:123456789012:activity:approve-prod", "owner": "bo",
                          "shared": "arn:bus", "literal": "${NotResolved}", "stack": "app", "encoded": "aGk="}
        described = sfn.describe_state_machine(stateMachineArn=arn)
        assert described["roleArn"].startswith("arn:aws:iam::123456789012:role/service/app-Role-")
        assert described["tracingConfiguration"] == {"enabled": True}
        assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "stage", "value": "prod"}]
        assert sfn.describe_activity(activityArn=f"arn:aws:states:{REGION}:123456789012:activity:approve-prod")
        revision = described.get("revisionId")  # none until an update: a published version assigns none (AWS)
    finally:
        server.stop()
    server = server.restart()  # the same template: nothing changes
    try:
        assert server.client().describe_state_machine(stateMachineArn=arn).get("revisionId") == revision
    finally:
        server.stop()
    template.write_text(template.read_text().replace("${!NotResolved}", "changed"))
    server = server.restart()  # a changed template: a new revision, a new version behind the alias
    try:
        sfn = server.client()
        assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"] != revision
        assert json.loads(run(sfn, arn + ":live", {})["output"])["literal"] == "changed"
        assert len(sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]) == 2
    finally:
        server.stop()


def test_a_cdk_synthesized_template_runs_its_asset_function(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "s.db", options=[
        "--template", str(APPS / "cdk" / "cdk.out" / "OrdersStack.template.json")])
    try:
        sfn = server.client()
        machine, = sfn.list_state_machines()["stateMachines"]
        assert machine["name"].startswith("Flow5C2A7E3B-")
        done = run(sfn, machine["stateMachineArn"], {"value": 21})
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"doubled": 42}), done
    finally:
        server.stop()


def stepline(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stepline.cli.main", *arguments], capture_output=True, text=True,
                          timeout=timeout)


def test_deploy_creates_then_updates_through_the_api(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "s.db")
    template = str(APPS / "cloudformation" / "template.json")
    try:
        deployed = stepline("deploy", template, "--endpoint", server.url, "--parameter-overrides", "Stage=dev")
        assert deployed.returncode == 0, deployed.stderr
        assert "created state machine arn:aws:states:us-east-1:123456789012:stateMachine:named-us-east-1" in \
            deployed.stdout
        sfn = server.client()
        named = sfn.start_sync_execution(stateMachineArn=MACHINE + "named-us-east-1")  # EXPRESS in dev
        assert named["status"] == "SUCCEEDED"
        assert json.loads(named["output"])["alias"].endswith(":live")
        again = stepline("deploy", template, "--endpoint", server.url, "--parameter-overrides", "Stage=dev")
        assert again.returncode == 0 and "unchanged state machine" in again.stdout, again
        refused = stepline("deploy", template, "--endpoint", server.url, "--parameter-overrides", "Stage=prod")
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "Resources/Named" in refused.stderr and "type cannot change" in refused.stderr
    finally:
        server.stop()
