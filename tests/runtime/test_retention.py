"""Retention on both stores: closed executions are deleted with their rows some days after they closed, in batches;
running ones (and recently closed ones) are never touched; the server's runtime purges in the background."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from stepline.jsonvalue import dumps
from stepline.runtime.clock import VirtualClock
from stepline.runtime.retention import Retention
from stepline.runtime.store.base import ExecutionChange, Purged, Store, Timer
from stepline.runtime.store.records import (MAP_RUN_EXPRESS_CHILDREN, MAP_RUN_PROGRESS, MAP_RUNS, ExecutionRecord,
                                            MapRunLimits, MapRunRecord)
from stepline.service.app import StepFunctionsService
from stepline.service.errors import ExecutionDoesNotExist
from stepline.service.settings import Settings

from .test_store_contract import T0, event, started, task

pytestmark = pytest.mark.anyio


async def closed(store: Store, name: str, *, at: object, status: str = "SUCCEEDED", events: int = 3) -> str:
    arn = await started(store, name, events=events - 1)
    await store.commit([ExecutionChange(arn, status, None, events=[event(events, "ExecutionSucceeded")],
                                        summary={"stopDate": at, "output": "{}"})])
    return arn


async def test_closed_executions_go_after_the_period_in_batches_and_running_ones_stay(store: Store) -> None:
    old = [await closed(store, f"old-{i}", at=T0 + timedelta(minutes=i), status=("SUCCEEDED", "FAILED")[i % 2])
           for i in range(7)]
    recent = await closed(store, "recent", at=T0 + timedelta(days=80))
    running = await started(store, "running", events=2)
    await store.commit([ExecutionChange(running, "RUNNING", '{"waiting": 1}',
                                        timers=[Timer(running, "", "timer", 1, T0 + timedelta(days=400))],
                                        tasks=[task(running, "a")])])
    await store.put_resource(MAP_RUNS, MapRunLimits(arn=f"{old[0]}-map", max_concurrency=3), parent=old[0])
    await store.put_resource(MAP_RUN_EXPRESS_CHILDREN, ExecutionRecord(  # an EXPRESS child of its Map Run
        arn=f"{old[0]}-child", state_machine_arn=old[0], name="child", status="SUCCEEDED", start_date=T0,
        input="{}", type="EXPRESS", map_run_arn=f"{old[0]}-map"), parent=old[0])
    await store.post_signal(running, "heartbeat", {"thread": "a"})

    clock = VirtualClock(T0 + timedelta(days=90, minutes=5))  # the first five are 90 days old, and more
    before = store.transactions  # type: ignore[attr-defined]
    assert await Retention(store, clock=clock, days=90, batch=2, pause_seconds=0).purge() == 5
    assert store.transactions - before >= 3  # type: ignore[attr-defined]  # batches of 2: 2, 2, 1
    for arn in old[:5]:
        assert await store.get_execution(arn) is None
        assert await store.get_events(arn) == []
    assert await store.get_resource(MAP_RUNS, f"{old[0]}-map") is None
    assert await store.get_resource(MAP_RUN_EXPRESS_CHILDREN, f"{old[0]}-child") is None
    for arn in [*old[5:], recent]:
        assert [e["id"] for e in await store.get_events(arn)] == [1, 2, 3]

    clock.advance(366 * 86_400)  # everything closed is old now; the running execution is not closed
    assert await Retention(store, clock=clock, days=90, pause_seconds=0).purge() == 3
    assert [r.arn for r in await store.list_executions()] == [running]
    assert await store.running_executions() == [running]
    assert [e["id"] for e in await store.get_events(running)] == [1, 2]
    assert await store.get_checkpoint(running) == '{"waiting": 1}'
    assert [t.thread for t in await store.pending_tasks(running)] == ["a"]
    assert [t.execution_arn for t in await store.due_timers(clock.now(), 10)] == [running]
    assert [s.kind for s in await store.signals([running])] == ["heartbeat"]


async def test_the_map_runs_of_express_executions_go_after_the_period(store: Store) -> None:
    """An Express execution has no row to be deleted with: its Map Runs go once they began before the cut-off."""
    express = "arn:aws:states:us-east-1:123456789012:express:quick:{}:0a1b2c3d"

    async def run_of(parent: str, start: datetime, status: str = "SUCCEEDED") -> str:
        arn = f"{parent.replace(':express:', ':mapRun:')}/Each:1"
        await store.put_resource(MAP_RUN_PROGRESS, MapRunRecord(arn=arn, execution_arn=parent, start_date=start,
                                                                status=status), parent=parent)
        await store.put_resource(MAP_RUNS, MapRunLimits(arn=arn, max_concurrency=2), parent=parent)
        return arn

    old = [await run_of(express.format(f"old-{i}"), T0 + timedelta(minutes=i)) for i in range(3)]
    cut_short = await run_of(express.format("cut-short"), T0, status="RUNNING")  # its process ended meanwhile
    recent = await run_of(express.format("recent"), T0 + timedelta(days=80))
    standard = await closed(store, "standard", at=T0 + timedelta(days=80))  # a stored parent's run goes with it
    of_standard = await run_of(standard, T0)
    clock = VirtualClock(T0 + timedelta(days=90, minutes=5))
    assert await Retention(store, clock=clock, days=90, batch=2, pause_seconds=0).purge() == 0
    for arn in [*old, cut_short]:
        assert await store.get_resource(MAP_RUN_PROGRESS, arn) is None
        assert await store.get_resource(MAP_RUNS, arn) is None
    for arn in (recent, of_standard):
        assert (await store.get_resource(MAP_RUN_PROGRESS, arn)).arn == arn
        assert (await store.get_resource(MAP_RUNS, arn)).max_concurrency == 2


async def test_a_long_history_is_deleted_a_few_pages_a_step_before_its_execution(store: Store) -> None:
    long = await started(store, "long", events=1)
    for i in range(2, 8):  # a page per commit
        await store.commit([ExecutionChange(long, "RUNNING", f'{{"at": {i}}}', events=[event(i)])])
    await store.commit([ExecutionChange(long, "SUCCEEDED", None, events=[event(8, "ExecutionSucceeded")],
                                        summary={"stopDate": T0, "output": "{}"})])  # eight pages
    short = await closed(store, "short", at=T0 + timedelta(minutes=1))  # two pages

    assert await store.purge_closed(T0 + timedelta(days=1), 10, 3) == Purged(0, more=True)
    assert (await store.get_execution(long)).status == "SUCCEEDED"  # its history goes first
    assert [e["id"] for e in await store.get_events(long)] == [4, 5, 6, 7, 8]
    clock = VirtualClock(T0 + timedelta(days=91))
    before = store.transactions  # type: ignore[attr-defined]
    assert await Retention(store, clock=clock, days=90, pages=3, pause_seconds=0).purge() == 2
    # pages 4-6; 7-8 and short's first; its last; then one looking for Express executions' Map Runs
    assert store.transactions - before == 4  # type: ignore[attr-defined]
    assert await store.list_executions() == []
    assert await store.get_events(long) == [] and await store.get_events(short) == []


async def test_a_redriven_execution_is_open_again_and_kept(store: Store) -> None:
    arn = await closed(store, "redriven", at=T0, status="FAILED")
    await store.update_execution(arn, {"redriveCount": 1}, status="RUNNING")
    clock = VirtualClock(T0 + timedelta(days=365))
    assert await Retention(store, clock=clock, days=90).purge() == 0
    assert (await store.get_execution(arn)).status == "RUNNING"
    await store.commit([ExecutionChange(arn, "SUCCEEDED", None, events=[event(4, "ExecutionSucceeded")],
                                        summary={"stopDate": clock.now(), "output": "{}"})])
    assert await Retention(store, clock=clock, days=90).purge() == 0  # it closed again just now
    clock.advance(91 * 86_400)
    assert await Retention(store, clock=clock, days=90).purge() == 1


async def test_the_server_purges_in_the_background_on_its_clock(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "stepline.db"), time_scale=0, retention_days=30)

    async def serving(now: datetime) -> StepFunctionsService:
        service = StepFunctionsService(settings)
        service.clock = VirtualClock(now)
        await service.start()
        return service

    service = await serving(T0)
    try:
        quick = await service.register("Quick", '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}')
        activity = (await service.create_activity(name="Approve"))["activityArn"]
        slow = await service.register("Slow", dumps({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": activity, "End": True}}}))
        done = (await service.start_execution(stateMachineArn=quick, input="{}"))["executionArn"]
        await service.runtime.wait(done)
        waiting = (await service.start_execution(stateMachineArn=slow, input="{}"))["executionArn"]
        while "ActivityScheduled" not in [e["type"] for e in await service.full_history(waiting)]:
            await asyncio.sleep(0.01)
    finally:
        await service.close()

    service = await serving(T0 + timedelta(days=31))  # a restart a month later: the purge runs at once
    try:
        for _ in range(500):
            if not (await service.list_executions(stateMachineArn=quick))["executions"]:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(ExecutionDoesNotExist):
            await service.describe_execution(executionArn=done)
        assert (await service.describe_execution(executionArn=waiting))["status"] == "RUNNING"
        assert [e["type"] for e in await service.full_history(waiting)][-1] == "ActivityScheduled"
    finally:
        await service.close()
