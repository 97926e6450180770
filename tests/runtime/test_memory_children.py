"""MemoryChildren (runtime/map_runs.py) keeps a bounded number of ended Map Runs: a server that runs Map Runs for
ever does not keep every one in memory."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from stepline.runtime.clock import VirtualClock
from stepline.runtime.map_runs import MemoryChildren
from stepline.runtime.store.records import MapRunRecord

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PARENT = "arn:aws:states:us-east-1:123456789012:execution:parent:run"


def _run(n: int, status: str) -> MapRunRecord:
    return MapRunRecord(arn=f"arn:aws:states:us-east-1:123456789012:mapRun:parent/Each:{n}",
                        execution_arn=PARENT, start_date=T0, status=status)


async def test_only_the_latest_ended_runs_are_kept_and_running_ones_always() -> None:
    children = MemoryChildren(lambda: None, VirtualClock(T0), role_arn="arn:aws:iam::123456789012:role/r",
                              runs_remembered=2)
    running = _run(0, "RUNNING")
    await children.save(running)
    ended = [_run(n, "SUCCEEDED") for n in range(1, 5)]
    for record in ended:
        await children.save(record)
    assert [await children.load(r.arn) for r in ended] == [None, None, *ended[2:]]
    assert await children.load(running.arn) == running
    await children.save(running.but(status="FAILED"))  # it ends: now the latest ended, the oldest forgotten
    assert await children.load(ended[2].arn) is None
    assert (await children.load(running.arn)).status == "FAILED"
    redriven = ended[3].but(status="RUNNING")  # running again: no longer among the ended
    await children.save(redriven)
    await children.save(_run(5, "FAILED"))
    assert await children.load(redriven.arn) == redriven
