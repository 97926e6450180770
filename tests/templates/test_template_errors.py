"""A template CloudFormation or SAM would refuse, an intrinsic that cannot be resolved, a missing definition
file or function code: `stepline serve --template` does not start and says why in one line naming the
resource and the property; never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SAM = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
MACHINE = "  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
INLINE = "      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}\n"
FUNCTION = "  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"

CASES = [
    pytest.param(SAM + MACHINE + "      DefinitionUri: missing.asl.json\n",
                 "Resources/M/Properties/DefinitionUri: definition file", id="missing-definition-file"),
    pytest.param(SAM + MACHINE + INLINE + "      DefinitionSubstitutions: {X: !Ref Nope}\n",
                 "Resources/M/Properties/DefinitionSubstitutions/X/Ref: Ref to Nope, which is neither",
                 id="unresolvable-ref"),
    pytest.param(SAM + MACHINE + INLINE + "      DefinitionSubstitutions: {X: !GetAtt M.Bogus}\n",
                 "Resources/M/Properties/DefinitionSubstitutions/X/Fn::GetAtt: stepline does not know the attribute "
                 "Bogus", id="unknown-attribute"),
    pytest.param(SAM + MACHINE + INLINE + "      DefinitionSubstitutions: {X: !Select [3, [a, b]]}\n",
                 "Resources/M/Properties/DefinitionSubstitutions/X/Fn::Select: Fn::Select's index 3",
                 id="select-out-of-range"),
    pytest.param(SAM + FUNCTION + "      CodeUri: nowhere/\n      Handler: app.handler\n",
                 "Resources/F/Properties/CodeUri: the function's code folder", id="missing-code"),
    pytest.param(SAM + FUNCTION + "      CodeUri: .\n      Handler: absent.handler\n",
                 "Resources/F/Properties/Handler: no module 'absent'", id="missing-handler-module"),
    pytest.param("Parameters:\n  Stage: {Type: String, AllowedValues: [dev, prod]}\n" + SAM + MACHINE + INLINE,
                 "Parameters/Stage: no value: give one with --parameter-overrides Stage=VALUE", id="no-parameter-value"),
    pytest.param("Parameters:\n  Stage: {Type: String, Default: test, AllowedValues: [dev, prod]}\n" + SAM + MACHINE
                 + INLINE, "Parameters/Stage: Stage must be one of AllowedValues", id="parameter-not-allowed"),
    pytest.param(SAM + MACHINE + INLINE + "      Events:\n        Orders:\n          Type: Api\n"
                 "          Properties: {Path: /orders, Method: post}\n",
                 "Resources/M/Properties/Events/Orders/Type: stepline starts executions on Schedule and ScheduleV2 "
                 "events only, not Api events", id="api-event"),
    pytest.param(SAM + MACHINE + INLINE + "      Events:\n        Nightly:\n          Type: Schedule\n"
                 "          Properties: {Schedule: cron(0 3 * * *)}\n",
                 "Resources/M/Properties/Events/Nightly/Properties/Schedule: cron(0 3 * * *): a cron expression has "
                 "six fields", id="schedule-event-bad-cron"),
    pytest.param(SAM + MACHINE + INLINE + "      Bogus: 1\n",
                 "Resources/M/Properties/Bogus: stepline does not support this property", id="unknown-property"),
    pytest.param("Resources:\n" + MACHINE + INLINE,
                 "Resources/M/Type: AWS::Serverless::StateMachine needs Transform", id="sam-without-transform"),
    pytest.param(SAM + MACHINE + INLINE + "      Name: !If [Missing, a, b]\n",
                 "Resources/M/Properties/Name/Fn::If: the condition 'Missing' is not defined", id="unknown-condition"),
    pytest.param(SAM + MACHINE + "      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}\n",
                 "template.yaml:", id="yaml-syntax"),
    pytest.param("Resources:\n  M:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n"
                 "      DefinitionString: '{}'\n", "Resources/M/Properties/RoleArn: required", id="missing-role-arn"),
    pytest.param(SAM + MACHINE + "      Definition: {StartAt: Nowhere, States: {P: {Type: Pass, End: true}}}\n",
                 "template.yaml: Resources/M/Properties/Definition: InvalidDefinition: ", id="invalid-definition"),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_a_refused_template_stops_the_server_with_one_line(tmp_path: Path, template: str, expected: str) -> None:
    (tmp_path / "template.yaml").write_text(template)
    result = subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--port", "0", "--db",
                             str(tmp_path / "s.db"), "--template", str(tmp_path / "template.yaml")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert not result.stdout


def test_an_override_no_template_uses_is_refused(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(SAM + MACHINE + INLINE)
    result = subprocess.run([sys.executable, "-m", "stepline.cli.main", "deploy", str(tmp_path / "template.yaml"),
                             "--endpoint", "http://127.0.0.1:9", "--parameter-overrides", "Stgae=dev"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("--parameter-overrides: no template has a parameter or imports a value "
                                          "named Stgae"), result.stderr
