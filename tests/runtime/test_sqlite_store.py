"""The SQLite store does its database work off the event loop, in its own thread."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stepline.runtime.store.base import ExecutionChange, Timer
from stepline.runtime.store.records import ExecutionRecord
from stepline.runtime.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
ARN = "arn:aws:states:us-east-1:123456789012:execution:Orders:one"


async def test_no_statement_runs_on_the_event_loop(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "stepline.db")
    threads: set[str] = set()
    store._connector._db.set_trace_callback(lambda statement: threads.add(threading.current_thread().name))
    try:
        await store.create_execution(ExecutionRecord(arn=ARN, state_machine_arn="machine", name="one",
                                                     status="RUNNING", start_date=T0, input="{}"))
        [lease] = await store.claim_runnable("w1", 10, 10, now=T0)
        await store.commit([ExecutionChange(ARN, "RUNNING", "{}", timers=[Timer(ARN, "", "timer", 1, T0)],
                                            fence=lease.fence)])
        assert (await store.get_execution(ARN)).name == "one"
        assert [timer.execution_arn for timer in await store.claim_due_timers("w1", T0, 10, 30)] == [ARN]
        assert await store.list_executions(status="RUNNING")
    finally:
        await store.close()
    assert threads == {"stepline-sqlite"}
