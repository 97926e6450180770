"""What a schedule starts: an alias of a state machine (the execution started through it), an Express state machine
(its due time moved on first), on a virtual clock."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

MACHINES = "arn:aws:states:us-east-1:123456789012:stateMachine:"
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Standard:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: standard
      AutoPublishAlias: live
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
  Fast:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: fast
      Type: EXPRESS
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        Hourly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour), StartDate: "START", EndDate: "END"}
  ThroughAlias:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(1 hour)
      StartDate: "START"
      EndDate: "END"
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !Sub "${Standard}:live", RoleArn: r}
"""


def test_schedules_start_an_alias_and_an_express_state_machine(tmp_path: Path) -> None:
    start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.replace("START", start.isoformat())
                        .replace("END", (start + timedelta(hours=24)).isoformat()))

    async def main() -> tuple[list, list[str]]:
        service = StepFunctionsService(Settings(db=str(tmp_path / "s.db"), time_scale=0, templates=(str(template),)))
        await service.start()
        try:
            began = time.monotonic()
            while await service.store.schedule_due_times() or not service.runtime.idle:
                await asyncio.sleep(0.05)
                assert time.monotonic() - began < 30
            await asyncio.sleep(0.2)  # the last Express run ends
            express = [arn for arn in service.express._executions if ":express:fast:" in arn]
            return await service.store.list_executions(state_machine_arn=MACHINES + "standard"), express
        finally:
            await service.close()

    standard, express = asyncio.run(main())
    assert sorted(r.start_date for r in standard) == [start + timedelta(hours=h) for h in range(24)]
    assert {(r.alias_arn, r.version_arn) for r in standard} == {(MACHINES + "standard:live", MACHINES + "standard:1")}
    assert len(express) == 24
