"""Schedules applied from templates: each template owns its schedules (two templates of one folder keep both), a
schedule a template no longer declares is deleted, and an unchanged template keeps a pause."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Job:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: NAME
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        Daily:
          Type: ScheduleV2
          Properties: {Name: NAME-daily, ScheduleExpression: rate(1 day)}
"""


def listed(settings: Settings, act: str | None = None) -> dict[str, str]:
    async def main() -> dict[str, str]:
        service = StepFunctionsService(settings)
        await service.start(worker=False)
        try:
            if act:
                await service.schedules.pause(act)
            return {s["name"]: s["state"] for s in await service.schedules.list()}
        finally:
            await service.close()
    return asyncio.run(main())


def test_each_template_owns_its_schedules(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(TEMPLATE.replace("NAME", "one"))
    two.write_text(TEMPLATE.replace("NAME", "two"))
    both = Settings(db=str(tmp_path / "s.db"), time_scale=0, templates=(str(one), str(two)))
    assert listed(both, act="one-daily") == {"one-daily": "DISABLED", "two-daily": "ENABLED"}
    assert listed(both) == {"one-daily": "DISABLED", "two-daily": "ENABLED"}  # unchanged: the pause holds
    two.write_text(TEMPLATE.replace("NAME", "two").split("      Events:")[0])
    assert listed(both) == {"one-daily": "DISABLED"}  # no longer declared: deleted
    one.write_text(TEMPLATE.replace("NAME", "one").replace("rate(1 day)", "rate(2 days)"))
    assert listed(both) == {"one-daily": "ENABLED"}  # the template changed it: as the template says
