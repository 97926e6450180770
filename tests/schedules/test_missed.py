"""Due times missed while stepline was down, as EventBridge Scheduler handles them: no backfill. Only the latest
missed due time is started (late), if within the schedule's MaximumEventAgeInSeconds; a rule without Input starts
its state machine with EventBridge's scheduled event. A virtual clock stands for the time stepline was down."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:job"
SCHEDULE = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Job:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: job
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        EveryMinute:
          Type: ScheduleV2
          Properties: {Name: minutely, ScheduleExpression: rate(1 minute), StartDate: "START", EndDate: "END",
                       Input: '{"every": "minute"}'}
        FiveMinutes:
          Type: ScheduleV2
          Properties: {Name: five, ScheduleExpression: rate(5 minutes), StartDate: "START", EndDate: "END",
                       Input: '{"every": "five"}', RetryPolicy: {MaximumEventAgeInSeconds: 60}}
        Once:
          Type: Schedule
          Properties: {Name: once, Schedule: "cron(MINUTE HOUR DAY MONTH ? YEAR)"}
"""


def test_missed_due_times_are_not_backfilled(tmp_path: Path) -> None:
    start = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(second=0, microsecond=0)
    once = start + timedelta(minutes=15)
    (tmp_path / "app").mkdir()
    template = tmp_path / "app" / "template.yaml"
    template.write_text(TEMPLATE.replace("START", start.isoformat()).replace("END", (start + timedelta(minutes=20))
                        .isoformat()).replace("MINUTE HOUR DAY MONTH", once.strftime("%M %H %d %m"))
                        .replace("YEAR", str(once.year)))
    settings = Settings(db=str(tmp_path / "s.db"), time_scale=0, templates=(str(template),))

    async def main() -> list:
        down = StepFunctionsService(settings)
        await down.start(worker=False)  # the template applied, then stepline stops before any due time
        await down.close()
        service = StepFunctionsService(settings)
        service.clock.advance_to(start + timedelta(minutes=12))  # back 12 minutes after the first due time
        await service.start()
        try:
            began = time.monotonic()
            while await service.store.schedule_due_times() or not service.runtime.idle:
                await asyncio.sleep(0.05)
                assert time.monotonic() - began < 30
            return await service.store.list_executions(state_machine_arn=ARN)
        finally:
            await service.close()

    records = asyncio.run(main())

    def name(schedule: str, due: datetime) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{schedule}@{int(due.timestamp())}"))

    minutes = {name(SCHEDULE + "minutely", start + timedelta(minutes=m)): m for m in range(20)}
    fives = {name(SCHEDULE + "five", start + timedelta(minutes=m)): m for m in range(0, 20, 5)}
    started = {r.name: r for r in records}
    # every minute: 0..11 missed; only 12 (the latest, on time as stepline came back) and what follows
    assert sorted(minutes[n] for n in started if n in minutes) == list(range(12, 20))
    # every five minutes, at most 60 s late: 10 was two minutes ago when stepline came back: skipped too
    assert sorted(fives[n] for n in started if n in fives) == [15]
    assert all(r.start_date == start + timedelta(minutes=minutes[r.name]) for r in records if r.name in minutes)
    (rule,) = [r for r in records if r.name not in minutes and r.name not in fives]
    event = json.loads(rule.input)
    assert event | {"id": ""} == {
        "version": "0", "id": "", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": once.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/once"], "detail": {}}
    assert len(records) == 8 + 1 + 1
