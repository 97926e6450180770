"""Timers on real time fire when due, not a polling interval later."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stepline.runtime.store.sqlite import SqliteStore
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

SLOW_CLAIM = 0.3  # seconds a claim of due timers takes: a slow database round trip


class SlowTimerClaims(SqliteStore):
    async def claim_due_timers(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        claimed = await super().claim_due_timers(*args, **kwargs)
        await asyncio.sleep(SLOW_CLAIM)
        return claimed


async def test_a_timer_that_comes_due_during_an_empty_claim_fires_at_the_next_one(tmp_path: Path) -> None:
    """First's timer fires, and once it is committed the loop claims again (nothing is due then); second's
    timer comes due during that claim. It must be claimed by the next round, not after a polling interval
    (the loop took it for a timer another worker holds, and slept a whole interval)."""
    store = await SlowTimerClaims.open(tmp_path / "store.db")
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), poll_seconds=1.0), store=store)
    await service.start()
    try:
        soon = datetime.now(timezone.utc) + timedelta(seconds=1)
        dues = {"first": soon, "second": soon + timedelta(seconds=SLOW_CLAIM * 1.5)}
        arns = {}
        for name, due in dues.items():
            definition = {"StartAt": "Until", "States": {"Until": {
                "Type": "Wait", "Timestamp": due.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "End": True}}}
            machine = await service.create_state_machine(name=name, definition=json.dumps(definition),
                                                         roleArn="arn:aws:iam::123456789012:role/test")
            arns[name] = (await service.start_execution(stateMachineArn=machine["stateMachineArn"]))["executionArn"]
        for name, arn in arns.items():
            await service.runtime.wait(arn, timeout=10)
            ended = (await service.describe_execution(executionArn=arn))["stopDate"]
            # due, then at most two slow claims; a missed timer would wait the whole 1 s polling interval
            assert (ended - dues[name]).total_seconds() < 2 * SLOW_CLAIM + 0.3, name
    finally:
        await service.close()
