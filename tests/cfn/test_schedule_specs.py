"""Schedules read from templates: SAM's Schedule and ScheduleV2 events, AWS::Scheduler::Schedule and
AWS::Events::Rule resources targeting a state machine; what stepline cannot honour refused in one line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from stepline.cfn import TemplateError, read_stack

SAM = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
MACHINE = ("  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      Name: m\n"
           "      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}\n")
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:m"


def read(tmp_path: Path, text: str):  # noqa: ANN201
    folder = tmp_path / "app"
    folder.mkdir(exist_ok=True)
    (folder / "template.yaml").write_text(text)
    return read_stack(folder / "template.yaml", region="us-east-1", account="123456789012").schedules


def test_sam_events(tmp_path: Path) -> None:
    schedules = read(tmp_path, SAM + MACHINE + """      Events:
        Nightly:
          Type: Schedule
          Properties: {Schedule: cron(0 3 * * ? *), Enabled: false}
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            ScheduleExpressionTimezone: Europe/Paris
            StartDate: "2030-01-01T00:00:00Z"
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 10}
            Input: '{"a": 1}'
            RetryPolicy: {MaximumEventAgeInSeconds: 600, MaximumRetryAttempts: 3}
""")
    nightly, hourly = schedules
    assert (nightly.name, nightly.arn, nightly.rule, nightly.enabled, nightly.input) == (
        f"app-MNightly-{nightly.name.rsplit('-', 1)[1]}", f"arn:aws:events:us-east-1:123456789012:rule/{nightly.name}",
        True, False, None)
    assert nightly.state_machine_arn == ARN
    assert (hourly.name, hourly.arn, hourly.timezone, hourly.flexible_window_minutes, hourly.input,
            hourly.maximum_event_age, hourly.start_date) == (
        "MHourly", "arn:aws:scheduler:us-east-1:123456789012:schedule/default/MHourly", "Europe/Paris", 10,
        '{"a": 1}', 600, datetime(2030, 1, 1, tzinfo=timezone.utc))


def test_scheduler_and_events_resources(tmp_path: Path) -> None:
    schedules = read(tmp_path, SAM + MACHINE + """  Every:
    Type: AWS::Scheduler::Schedule
    Properties:
      Name: every
      GroupName: jobs
      ScheduleExpression: at(2030-01-01T09:00:00)
      FlexibleTimeWindow: {Mode: "OFF"}
      State: DISABLED
      Target: {Arn: !Ref M, RoleArn: arn:aws:iam::123456789012:role/r, Input: '{"b": 2}'}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(5 minutes)
      Targets: [{Id: m, Arn: !GetAtt M.Arn}]
  ToLambda:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(5 minutes)
      Targets: [{Id: f, Arn: arn:aws:lambda:us-east-1:123456789012:function:f}]
""")
    every, rule = schedules
    assert (every.arn, every.enabled, every.input, every.rule) == (
        "arn:aws:scheduler:us-east-1:123456789012:schedule/jobs/every", False, '{"b": 2}', False)
    assert (rule.rule, rule.expression, rule.state_machine_arn) == (True, "rate(5 minutes)", ARN)


EVENT = SAM + MACHINE + "      Events:\n        E:\n"


@pytest.mark.parametrize("text, expected", [
    pytest.param(EVENT + "          Type: EventBridgeRule\n          Properties: {Pattern: {source: [a]}}\n",
                 "Resources/M/Properties/Events/E/Type: stepline starts executions on Schedule and ScheduleV2 events "
                 "only, not EventBridgeRule events", id="eventbridge-rule-event"),
    pytest.param(EVENT + "          Type: CloudWatchEvent\n          Properties: {Pattern: {source: [a]}}\n",
                 "not CloudWatchEvent events", id="cloudwatch-event"),
    pytest.param(EVENT + "          Type: Schedule\n          Properties: {Schedule: at(2030-01-01T00:00:00)}\n",
                 "Events/E/Properties/Schedule: at(2030-01-01T00:00:00): EventBridge rules take rate() and cron()",
                 id="at-on-a-rule"),
    pytest.param(EVENT + "          Type: Schedule\n          Properties: {Schedule: rate(1 day), DeadLetterConfig: {}}\n",
                 "Events/E/Properties/DeadLetterConfig: stepline does not support this property", id="dead-letter"),
    pytest.param(EVENT + "          Type: ScheduleV2\n          Properties: {ScheduleExpression: rate(1 day), "
                 "ScheduleExpressionTimezone: Mars/Base}\n",
                 "Events/E/Properties/ScheduleExpressionTimezone: 'Mars/Base' is not a time zone", id="time-zone"),
    pytest.param(EVENT + "          Type: ScheduleV2\n          Properties: {ScheduleExpression: rate(1 day), "
                 "FlexibleTimeWindow: {Mode: FLEXIBLE}}\n",
                 "FlexibleTimeWindow/MaximumWindowInMinutes: required with Mode FLEXIBLE", id="window-minutes"),
    pytest.param(EVENT + "          Type: ScheduleV2\n          Properties: {ScheduleExpression: rate(1 day), "
                 "State: PAUSED}\n", "Events/E/Properties/State: ENABLED or DISABLED", id="state"),
    pytest.param(EVENT + "          Type: ScheduleV2\n          Properties: {ScheduleExpression: rate(1 day), "
                 "Input: 'not json'}\n", "Events/E/Properties/Input: must be JSON text", id="input"),
    pytest.param(SAM + MACHINE + "  R:\n    Type: AWS::Events::Rule\n    Properties:\n"
                 "      EventPattern: {source: [a]}\n      Targets: [{Id: m, Arn: !Ref M}]\n",
                 "Resources/R/Properties/EventPattern: stepline starts state machines on schedules only",
                 id="rule-event-pattern"),
    pytest.param(SAM + MACHINE + "  S:\n    Type: AWS::Scheduler::Schedule\n    Properties:\n"
                 "      ScheduleExpression: rate(1 day)\n      Target: {Arn: !Ref M, RoleArn: r}\n",
                 "Resources/S/Properties/FlexibleTimeWindow: required", id="scheduler-window-required"),
])
def test_refused(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=None) as raised:
        read(tmp_path, text)
    assert expected in str(raised.value), str(raised.value)
