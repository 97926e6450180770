"""The template watch goes on after a change whose application fails with an unexpected error (a bug): the
error is logged with its traceback and the next change is applied, instead of the watch ending silently."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from stepline.service import watch
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from stepline.service.watch import TemplateWatch

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:watched"
TEMPLATE = """Resources:
  Watched:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: watched
      RoleArn: arn:aws:iam::123456789012:role/r
      DefinitionString: '{"StartAt": "Say", "States": {"Say": {"Type": "Pass", "End": true, "Result": "SAID"}}}'
"""


async def _defined(service: StepFunctionsService) -> Any:
    described = await service.describe_state_machine(stateMachineArn=MACHINE)
    return json.loads(described["definition"])["States"]["Say"]["Result"]


async def _eventually_defined(service: StepFunctionsService, said: str) -> None:
    for _ in range(200):
        if await _defined(service) == said:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{said} not applied in time")


def test_a_bug_while_applying_is_logged_and_the_watch_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.replace("SAID", "one"))
    read_stacks = watch.read_stacks
    calls = 0

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return read_stacks(*args, **kwargs)

    async def main() -> None:
        service = StepFunctionsService(Settings(db=str(tmp_path / "s.db"), templates=(str(template),)))
        await service.start(worker=False)
        running = asyncio.create_task(TemplateWatch(service, poll_seconds=0.02).run())
        try:
            assert await _defined(service) == "one"
            monkeypatch.setattr(watch, "read_stacks", failing_once)
            template.write_text(TEMPLATE.replace("SAID", "two"))
            for _ in range(200):
                if calls:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            assert await _defined(service) == "one"  # the failed change changed nothing
            template.write_text(TEMPLATE.replace("SAID", "three"))
            await _eventually_defined(service, "three")
            assert not running.done()
        finally:
            running.cancel()
            await service.close()

    with caplog.at_level(logging.ERROR, logger="stepline.service.watch"):
        asyncio.run(main())
    failures = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert len(failures) == 1 and "template not applied" in failures[0].getMessage()
