"""Schedules on a virtual clock: a year of due times every few hours (and weekday noons in Paris), each started
exactly once, at its time (within its flexible window), with its input."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

HOURS = int(os.environ.get("STEPLINE_TEST_SCHEDULE_HOURS", "6"))  # 1: every hour of a year (about a minute)
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:tick"
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Tick:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: tick
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(HOURS hours)
            StartDate: "START"
            EndDate: "END"
            Input: '{"kind": "hourly"}'
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 15}
        Noon:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 12 ? * MON-FRI *)
            ScheduleExpressionTimezone: Europe/Paris
            StartDate: "START"
            EndDate: "END"
"""


def test_a_year_of_schedules_on_a_virtual_clock(tmp_path: Path) -> None:
    async def main() -> None:
        start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(days=365)
        (tmp_path / "app").mkdir()
        template = tmp_path / "app" / "template.yaml"
        template.write_text(TEMPLATE.replace("START", start.isoformat()).replace("END", end.isoformat())
                            .replace("HOURS hours", "1 hour" if HOURS == 1 else f"{HOURS} hours"))
        service = StepFunctionsService(Settings(db=str(tmp_path / "s.db"), time_scale=0,
                                                templates=(str(template),)))
        await service.start()
        try:
            began = time.monotonic()
            while await service.store.schedule_due_times() or not service.runtime.idle:  # until both ended
                await asyncio.sleep(0.05)
                assert time.monotonic() - began < 120, service.clock.now()
            records = await service.store.list_executions(state_machine_arn=ARN, limit=100_000)
        finally:
            await service.close()
        assert {r.status for r in records} == {"SUCCEEDED"}
        hourly = sorted(r.start_date for r in records if json.loads(r.input) == {"kind": "hourly"})
        assert len(hourly) == 365 * 24 // HOURS
        for i, started in enumerate(hourly):
            assert timedelta(0) <= started - (start + timedelta(hours=i * HOURS)) < timedelta(minutes=15)
        noons = sorted(r.start_date for r in records if json.loads(r.input) == {})
        paris = ZoneInfo("Europe/Paris")
        expected = [moment for day in range(367)
                    if (moment := datetime.combine(start.astimezone(paris).date() + timedelta(days=day),
                                                   datetime.min.time().replace(hour=12), paris)
                        .astimezone(timezone.utc)) >= start and moment < end and moment.astimezone(paris).weekday() < 5]
        assert noons == expected
        assert len(records) == len(hourly) + len(noons)

    asyncio.run(main())
