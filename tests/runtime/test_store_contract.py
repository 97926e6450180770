"""The Store contract: every verb, on every backend (SQLite and PostgreSQL: the `backend` fixture's parameter)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stepline.engine.effects import InvokeTask
from stepline.engine.resources import describe_resource
from stepline.runtime.store.base import (
    ExecutionChange,
    InboxSignal,
    Lease,
    LeaseLost,
    Notification,
    PendingTask,
    SchemaTooNew,
    Store,
    StoreError,
    Timer,
)

from stepline.jsonvalue import dumps
from stepline.runtime.store.codec import task_from_row
from stepline.runtime.store.postgres import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from stepline.runtime.store.records import (
    ACTIVITIES,
    STATE_MACHINES,
    VERSIONS,
    ActivityRecord,
    ExecutionRecord,
    StateMachineRecord,
)
from stepline.runtime.store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION

from .conftest import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders"
ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:Approve"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:f"


def execution_arn(name: str, machine: str = "Orders") -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:{machine}:{name}"


def execution(name: str, *, start: datetime = T0, machine: str = MACHINE, **extra: Any) -> ExecutionRecord:
    return ExecutionRecord(arn=execution_arn(name, machine.split(":")[-1]), state_machine_arn=machine, name=name,
                           status="RUNNING", start_date=start, **{"input": '{"order": 1}', **extra})


def machine(arn: str, **extra: Any) -> StateMachineRecord:
    return StateMachineRecord(arn=arn, name="Orders", definition="{}", definition_digest="d", role_arn="r",
                              type="STANDARD", creation_date=T0, logging_configuration={}, tracing_configuration={},
                              encryption_configuration={}, **extra)


def event(id: int, type: str = "PassStateEntered", at: datetime = T0) -> dict:
    return {"id": id, "previousEventId": id - 1, "type": type, "timestamp": at + timedelta(milliseconds=id),
            "stateEnteredEventDetails": {"name": f"S{id}", "input": "{}"}}


async def started(store: Store, name: str, *, events: int = 0, **extra: object) -> str:
    arn = execution_arn(name)
    assert await store.create_execution(execution(name, **extra)) is None
    if events:
        await store.commit([ExecutionChange(arn, "RUNNING", '{"at": 0}',
                                            events=[event(i) for i in range(1, events + 1)])])
    return arn


def task(arn: str, thread: str, token: int = 1, *, activity: str | None = None) -> PendingTask:
    task_token = f"{arn}#{thread}#{token}"
    effect = InvokeTask(thread=thread, token=token, state_name="S", resource=describe_resource(activity or LAMBDA),
                        parameters={"n": token}, invocation=0, timeout_seconds=None, heartbeat_seconds=None,
                        task_token=None)
    return PendingTask(arn, thread, token, effect, task_token, activity)


# ---------------------------------------------------------------------------------------------- resources, tags


async def test_resources_are_created_once_listed_in_creation_order_and_deleted(store: Store) -> None:
    first = machine(MACHINE, revision_id="r1")
    assert await store.create_resource(STATE_MACHINES, first) is True
    assert await store.create_resource(STATE_MACHINES, first.but(revision_id="r2")) is False
    assert await store.get_resource(STATE_MACHINES, MACHINE) == first
    await store.put_resource(STATE_MACHINES, first.but(revision_id="r3"))
    assert (await store.get_resource(STATE_MACHINES, MACHINE)) == first.but(revision_id="r3")
    for number in (1, 2, 3):
        await store.create_resource(VERSIONS, machine(f"{MACHINE}:{number}", version_number=number), parent=MACHINE)
    await store.create_resource(VERSIONS, machine("arn:other:1", version_number=0), parent="arn:other")
    assert [v.version_number for v in await store.list_resources(VERSIONS, parent=MACHINE)] == [1, 2, 3]
    assert [v.version_number for v in await store.list_resources(VERSIONS)] == [1, 2, 3, 0]
    assert await store.get_resource(VERSIONS, MACHINE) is None  # kinds are separate
    await store.set_tags(MACHINE, {"team": "a"})
    assert await store.delete_resource(STATE_MACHINES, MACHINE) is True
    assert await store.delete_resource(STATE_MACHINES, MACHINE) is False
    assert await store.get_resource(STATE_MACHINES, MACHINE) is None
    assert await store.get_tags(MACHINE) == {}  # deleting a resource deletes its tags


async def test_tags_are_set_overwritten_and_removed(store: Store) -> None:
    await store.set_tags(MACHINE, {"team": "a", "cost": "1"})
    await store.set_tags(MACHINE, {"team": "b"})
    assert await store.get_tags(MACHINE) == {"cost": "1", "team": "b"}
    await store.remove_tags(MACHINE, ["cost", "absent"])
    assert await store.get_tags(MACHINE) == {"team": "b"}
    assert await store.get_tags("arn:nothing") == {}


async def test_definitions_are_content_addressed(store: Store) -> None:
    await store.put_definition("sha-1", '{"StartAt": "A"}')
    await store.put_definition("sha-1", '{"StartAt": "A"}')
    assert await store.get_definition("sha-1") == '{"StartAt": "A"}'
    assert await store.get_definition("sha-2") is None


# ---------------------------------------------------------------------------------------------- executions


async def test_creating_an_execution_twice_returns_the_existing_record(store: Store) -> None:
    record = execution("first")
    assert await store.create_execution(record) is None
    again = await store.create_execution(record.but(input='{"other": true}', start_date=T0 + timedelta(hours=1)))
    assert again == record
    assert await store.get_execution(record.arn) == record
    assert await store.get_execution(execution_arn("missing")) is None


async def test_concurrent_creations_of_one_execution_create_it_once(store: Store, backend: Backend) -> None:
    peer = await backend.peer(store)
    outcomes = await asyncio.gather(*(s.create_execution(execution("same", input=str(i)))
                                      for i, s in enumerate([store, peer] * 5)))
    assert outcomes.count(None) == 1
    winner = outcomes.index(None)
    assert all(o.input == str(winner) for o in outcomes if o is not None)


async def test_dates_round_trip_as_aware_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 1, 13, 0, 0, 999999, tzinfo=paris)
    arn = await started(store, "dates", start=start)
    record = await store.get_execution(arn)
    assert record.start_date == start and record.start_date.utcoffset() == timedelta(0)
    due = datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=paris)
    stamp = T0.astimezone(paris)
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", events=[event(1, at=stamp)],
                                        timers=[Timer(arn, "", "timer", 1, due)])])
    [saved] = await store.get_events(arn)
    assert saved["timestamp"] == stamp + timedelta(milliseconds=1) and saved["timestamp"].utcoffset() == timedelta(0)
    [timer] = await store.due_timers(due, 10)
    assert timer.due == due and timer.due.tzinfo is not None and timer.due.utcoffset() == timedelta(0)
    assert (await store.next_timer_due()) == due


async def test_list_executions_filters_and_puts_the_newest_first(store: Store) -> None:
    other = "arn:aws:states:us-east-1:123456789012:stateMachine:Other"
    await store.create_execution(execution("a"))
    await store.create_execution(execution("b", map_run_arn="arn:map:1"))
    await store.create_execution(execution("c", machine=other))
    await store.update_execution(execution_arn("a"), {"stopDate": T0, "output": "{}"}, status="SUCCEEDED")
    assert [r.name for r in await store.list_executions()] == ["c", "b", "a"]
    assert [r.name for r in await store.list_executions(state_machine_arn=MACHINE)] == ["b", "a"]
    assert [r.name for r in await store.list_executions(status="RUNNING")] == ["c", "b"]
    assert [r.name for r in await store.list_executions(state_machine_arn=MACHINE, status="SUCCEEDED")] == ["a"]
    assert [r.name for r in await store.list_executions(map_run_arn="arn:map:1")] == ["b"]
    record = await store.get_execution(execution_arn("a"))
    assert (record.status, record.stop_date, record.output) == ("SUCCEEDED", T0, "{}")
    assert record.input == '{"order": 1}'  # the rest of the record is kept


async def test_running_executions_are_counted(store: Store, backend: Backend) -> None:
    other = "arn:aws:states:us-east-1:123456789012:stateMachine:Other"
    assert await store.count_running() == 0
    for name in ("a", "b", "c"):
        await store.create_execution(execution(name))
    await store.create_execution(execution("d", machine=other))
    await store.update_execution(execution_arn("a"), {"stopDate": T0}, status="ABORTED")
    assert await store.count_running() == 3
    peer = await backend.peer(store)  # another worker's count is the same
    assert await peer.count_running() == 3


async def test_list_executions_pages_by_the_last_execution_seen_and_finds_names(store: Store) -> None:
    for number in range(7):
        await started(store, f"run-{number}")
    first = await store.list_executions(state_machine_arn=MACHINE, limit=3)
    assert [r.name for r in first] == ["run-6", "run-5", "run-4"]
    rest = await store.list_executions(state_machine_arn=MACHINE, after=first[-1].arn, limit=10)
    assert [r.name for r in rest] == ["run-3", "run-2", "run-1", "run-0"]
    assert await store.list_executions(after=rest[-1].arn) == []
    assert [r.arn for r in await store.list_executions(name="run-2")] == [execution_arn("run-2")]


async def test_events_page_forwards_and_backwards(store: Store) -> None:
    arn = await started(store, "history", events=25)
    assert [e["id"] for e in await store.get_events(arn)] == list(range(1, 26))
    assert [e["id"] for e in await store.get_events(arn, after=10, limit=5)] == [11, 12, 13, 14, 15]
    assert [e["id"] for e in await store.get_events(arn, reverse=True, limit=3)] == [25, 24, 23]
    assert [e["id"] for e in await store.get_events(arn, after=23, reverse=True, limit=3)] == [22, 21, 20]
    assert await store.get_events(arn, after=25) == []
    assert await store.get_events(execution_arn("missing")) == []
    assert (await store.get_events(arn, limit=1))[0] == event(1)


async def test_long_histories_page_across_commits_of_any_size(store: Store) -> None:
    arn = await started(store, "long", events=1203)
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", events=[event(1204)])])
    assert [e["id"] for e in await store.get_events(arn, after=498, limit=4)] == [499, 500, 501, 502]
    assert [e["id"] for e in await store.get_events(arn, after=1001, limit=1000)] == list(range(1002, 1205))
    assert [e["id"] for e in await store.get_events(arn, reverse=True, limit=3)] == [1204, 1203, 1202]
    assert [e["id"] for e in await store.get_events(arn, after=502, reverse=True, limit=4)] == [501, 500, 499, 498]
    assert [e["id"] for e in await store.get_events(arn, after=3, reverse=True)] == [2, 1]
    assert len(await store.get_events(arn, limit=1000)) == 1000


async def test_a_commit_whose_events_leave_a_gap_writes_nothing(store: Store) -> None:
    arn = await started(store, "gap", events=2)
    with pytest.raises(StoreError):
        await store.commit([ExecutionChange(arn, "RUNNING", '{"at": 4}', events=[event(4)])])
    with pytest.raises(StoreError):
        await store.commit([ExecutionChange(arn, "RUNNING", '{"at": 3}', events=[event(3), event(5)])])
    await store.commit([ExecutionChange(arn, "RUNNING", '{"at": 3}', events=[event(3)])])
    assert [e["id"] for e in await store.get_events(arn)] == [1, 2, 3]
    assert await store.get_checkpoint(arn) == '{"at": 3}'


async def test_a_commit_is_atomic_a_duplicate_event_writes_nothing(store: Store) -> None:
    arn = await started(store, "atomic", events=2)
    with pytest.raises(StoreError):
        await store.commit([ExecutionChange(arn, "RUNNING", '{"at": 3}', events=[event(3)],
                                            timers=[Timer(arn, "", "timer", 1, T0)]),
                            ExecutionChange(arn, "RUNNING", '{"at": 2}', events=[event(2)])])
    assert [e["id"] for e in await store.get_events(arn)] == [1, 2]
    assert await store.get_checkpoint(arn) == '{"at": 0}'
    assert await store.due_timers(T0, 10) == []


# ---------------------------------------------------------------------------------------------- commits


async def test_a_commit_writes_checkpoint_timers_and_tasks_in_order(store: Store) -> None:
    arn = await started(store, "steps")
    later = T0 + timedelta(minutes=5)
    await store.commit([
        ExecutionChange(arn, "RUNNING", '{"step": 1}', events=[event(1)],
                        timers=[Timer(arn, "", "timer", 1, T0), Timer(arn, "b", "task_timeout", 1, later)],
                        tasks=[task(arn, "a"), task(arn, "b", activity=ACTIVITY)]),
        ExecutionChange(arn, None, None, cancelled_timers=[("", "timer")]),  # status None: row left as it is
        ExecutionChange(arn, "RUNNING", '{"step": 3}', events=[event(2)], finished_tasks=["a"],
                        timers=[Timer(arn, "b", "task_timeout", 2, later + timedelta(minutes=1))]),
    ])
    assert await store.get_checkpoint(arn) == '{"step": 3}'
    assert await store.due_timers(later + timedelta(hours=1), 10) == [
        Timer(arn, "b", "task_timeout", 2, later + timedelta(minutes=1))]
    assert [t.thread for t in await store.pending_tasks(arn)] == ["b"]
    await store.commit([ExecutionChange(arn, None, None, events=[event(3)])])
    assert await store.get_checkpoint(arn) == '{"step": 3}'
    assert (await store.get_execution(arn)).status == "RUNNING"


async def test_an_ended_execution_loses_its_timers_and_tasks_and_keeps_its_summary(store: Store) -> None:
    arn = await started(store, "ends")
    keep = await started(store, "keeps")
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[Timer(arn, "", "heartbeat", 1, T0)],
                                        tasks=[task(arn, "a")]),
                        ExecutionChange(keep, "RUNNING", "{}", timers=[Timer(keep, "", "timer", 1, T0)],
                                        tasks=[task(keep, "a")])])
    await store.commit([ExecutionChange(arn, "FAILED", '{"failed": true}', events=[event(1, "ExecutionFailed")],
                                        summary={"stopDate": T0, "error": "Oops", "cause": "it broke"})])
    record = await store.get_execution(arn)
    assert (record.status, record.error, record.cause, record.stop_date) == ("FAILED", "Oops", "it broke", T0)
    assert await store.get_checkpoint(arn) == '{"failed": true}'  # a failed execution keeps it for a redrive
    assert [t.execution_arn for t in await store.due_timers(T0, 10)] == [keep]
    assert [t.execution_arn for t in await store.pending_tasks()] == [keep]
    assert await store.running_executions() == [keep]
    await store.commit([ExecutionChange(keep, "SUCCEEDED", None, summary={"stopDate": T0, "output": "1"})])
    assert await store.get_checkpoint(keep) is None
    assert await store.running_executions() == []
    assert await store.next_timer_due() is None


async def test_map_iterations_are_written_by_the_commits_that_made_them_and_go_with_success_or_retention(
        store: Store) -> None:
    arn = await started(store, "mapped")
    failed = await started(store, "mapped-failed")
    other = await started(store, "other")
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", iterations=[("/Map@2.0", -1, '{"items": [1, 2, 3]}'),
                                                                          ("/Map@2.0", 0, '"a"')]),
                        ExecutionChange(arn, "RUNNING", "{}", iterations=[("/Map@2.0", 2, '"c"'),
                                                                          ("/Map@2.0", 0, '"a again"')]),
                        ExecutionChange(other, "RUNNING", "{}", iterations=[("/Map@2.0", 0, '"other"')])])
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", iterations=[("/Map@2.0", 1, "null"),
                                                                          ("/Inner@7.1", 0, "{}")])])
    assert sorted(await store.get_iterations(arn, ["/Map@2.0", "/Inner@7.1"])) == [
        ("/Inner@7.1", 0, "{}"), ("/Map@2.0", -1, '{"items": [1, 2, 3]}'), ("/Map@2.0", 0, '"a again"'),
        ("/Map@2.0", 1, "null"), ("/Map@2.0", 2, '"c"')]
    assert await store.get_iterations(arn, ["/Inner@7.1"]) == [("/Inner@7.1", 0, "{}")]  # only the Maps asked for
    assert await store.get_iterations(arn, []) == []
    # a Map that ended: its rows go, those written in the same group commit too
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", iterations=[("/Inner@7.1", 1, "2")]),
                        ExecutionChange(other, "RUNNING", "{}", ended_maps=["/Inner@7.1"]),
                        ExecutionChange(arn, "RUNNING", "{}", ended_maps=["/Inner@7.1"])])
    assert await store.get_iterations(arn, ["/Inner@7.1"]) == []
    assert len(await store.get_iterations(arn, ["/Map@2.0"])) == 4
    # an execution that succeeded needs them no more (in the same commit as its last rows); a failed one keeps them
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", iterations=[("/Map@9.0", 0, "1")]),
                        ExecutionChange(arn, "SUCCEEDED", None, summary={"stopDate": T0, "output": "[]"}),
                        ExecutionChange(failed, "FAILED", "{}", iterations=[("/Map@2.0", 0, "1")],
                                        summary={"stopDate": T0, "error": "E"})])
    maps = ["/Map@2.0", "/Map@9.0"]
    assert await store.get_iterations(arn, maps) == []
    assert await store.get_iterations(failed, maps) == [("/Map@2.0", 0, "1")]
    assert await store.get_iterations(other, maps) == [("/Map@2.0", 0, '"other"')]
    assert (await store.purge_closed(T0 + timedelta(days=1), 10, 10)).executions == 2
    assert await store.get_iterations(failed, maps) == []
    assert await store.get_iterations(other, maps) == [("/Map@2.0", 0, '"other"')]


async def test_many_concurrent_commits_share_few_transactions_and_all_are_durable(store: Store,
                                                                                  backend: Backend) -> None:
    arns = [execution_arn(f"group-{i}") for i in range(200)]
    for name in arns:
        await store.create_execution(execution(name.split(":")[-1]))
    before = store.transactions  # type: ignore[attr-defined]
    await asyncio.gather(*(store.commit([ExecutionChange(arn, "RUNNING", f'{{"n": {i}}}',
                                                         events=[event(1), event(2), event(3), event(4)],
                                                         timers=[Timer(arn, "", "timer", i, T0)])])
                           for i, arn in enumerate(arns)))
    assert store.transactions - before <= 2  # type: ignore[attr-defined]
    await backend.close_all()
    reopened = await backend.open()
    for i, arn in enumerate(arns):
        assert [e["id"] for e in await reopened.get_events(arn)] == [1, 2, 3, 4]
        assert await reopened.get_checkpoint(arn) == f'{{"n": {i}}}'
    assert len(await reopened.due_timers(T0, 1000)) == 200


# ---------------------------------------------------------------------------------------------- timers and tasks


async def test_due_timers_come_in_due_order_up_to_the_limit(store: Store) -> None:
    assert await store.next_timer_due() is None
    arn = await started(store, "timers")
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[
        Timer(arn, "c", "timer", 3, T0 + timedelta(seconds=3)), Timer(arn, "a", "timer", 1, T0 + timedelta(seconds=1)),
        Timer(arn, "b", "timer", 2, T0 + timedelta(seconds=2)), Timer(arn, "", "execution_timeout", 0,
                                                                      T0 + timedelta(days=365))])])
    assert await store.next_timer_due() == T0 + timedelta(seconds=1)
    assert [t.thread for t in await store.due_timers(T0 + timedelta(seconds=2), 10)] == ["a", "b"]
    assert [t.thread for t in await store.due_timers(T0 + timedelta(days=1), 2)] == ["a", "b"]
    assert await store.due_timers(T0, 10) == []
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", cancelled_timers=[("a", "timer")])])
    assert await store.next_timer_due() == T0 + timedelta(seconds=2)


async def test_pending_tasks_are_found_by_token_and_claimed_oldest_first(store: Store) -> None:
    one, two = await started(store, "one"), await started(store, "two")
    await store.commit([ExecutionChange(one, "RUNNING", "{}", tasks=[task(one, "x", activity=ACTIVITY),
                                                                     task(one, "y")]),
                        ExecutionChange(two, "RUNNING", "{}", tasks=[task(two, "x", activity=ACTIVITY)])])
    assert [(t.execution_arn, t.thread) for t in await store.pending_tasks()] == [(one, "x"), (one, "y"), (two, "x")]
    assert [t.thread for t in await store.pending_tasks(one)] == ["x", "y"]
    assert await store.find_task(f"{two}#x#1") == task(two, "x", activity=ACTIVITY)
    assert await store.find_task("no such token") is None
    claimed = await store.claim_activity_task(ACTIVITY, "worker-1")
    assert claimed == PendingTask(**{**_fields(task(one, "x", activity=ACTIVITY)), "worker": "worker-1"})
    assert (await store.claim_activity_task(ACTIVITY, "worker-2")).execution_arn == two
    assert await store.claim_activity_task(ACTIVITY, "worker-3") is None
    assert (await store.find_task(f"{one}#x#1")).worker == "worker-1"
    await store.commit([ExecutionChange(one, "RUNNING", "{}", tasks=[task(one, "x", 2, activity=ACTIVITY)])])
    again = await store.claim_activity_task(ACTIVITY, "worker-4")  # a task set again is unclaimed again
    assert (again.execution_arn, again.token, again.worker) == (one, 2, "worker-4")


def _fields(pending: PendingTask) -> dict:
    return {name: getattr(pending, name) for name in PendingTask.__slots__}


async def test_concurrent_activity_claimers_never_get_the_same_task(store: Store, backend: Backend) -> None:
    arns = [await started(store, f"act-{i}") for i in range(20)]
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", tasks=[task(arn, "t", activity=ACTIVITY)])
                        for arn in arns])
    peer = await backend.peer(store)
    claims = await asyncio.gather(*(s.claim_activity_task(ACTIVITY, f"worker-{i}")
                                    for i, s in enumerate([store, peer] * 20)))
    taken = [c.execution_arn for c in claims if c is not None]
    assert sorted(taken) == sorted(arns)  # each task once, and none left behind


# ---------------------------------------------------------------------------------------------- leases


async def test_runnable_executions_are_leased_to_one_worker_at_a_time(store: Store, backend: Backend) -> None:
    arns = [await started(store, f"run-{i}") for i in range(4)]
    await store.update_execution(arns[3], {"stopDate": T0}, status="SUCCEEDED")
    peer = await backend.peer(store)
    first, second = await asyncio.gather(store.claim_runnable("w1", 30, 2, now=T0),
                                         peer.claim_runnable("w2", 30, 10, now=T0))
    assert len(first) <= 2  # whichever claimer comes first, each execution goes to one of them
    assert sorted(lease.execution_arn for lease in first + second) == arns[:3]  # not the ended one
    assert all(lease.fence == 1 and lease.expires == T0 + timedelta(seconds=30) for lease in first + second)
    assert await store.claim_runnable("w3", 30, 10, now=T0 + timedelta(seconds=29)) == []
    taken = await store.claim_runnable("w3", 30, 10, now=T0 + timedelta(seconds=30))  # expired: taken over
    assert sorted(lease.execution_arn for lease in taken) == arns[:3]
    assert {lease.fence for lease in taken} == {2}


async def test_a_worker_that_lost_its_lease_cannot_commit(store: Store) -> None:
    arn = await started(store, "fenced", events=1)
    [old] = await store.claim_runnable("w1", 10, 1, now=T0, execution_arns=[arn])
    assert await store.renew_leases([old], 10, now=T0 + timedelta(seconds=5)) == [
        Lease(arn, "w1", old.fence, T0 + timedelta(seconds=15))]
    await store.commit([ExecutionChange(arn, "RUNNING", '{"by": "w1"}', events=[event(2)], fence=old.fence)])
    [new] = await store.claim_runnable("w2", 10, 1, now=T0 + timedelta(seconds=16))
    assert new.fence > old.fence
    with pytest.raises(LeaseLost) as lost:
        await store.commit([ExecutionChange(arn, "RUNNING", '{"by": "w1 again"}', events=[event(3)],
                                            timers=[Timer(arn, "", "timer", 1, T0)], fence=old.fence)])
    assert lost.value.execution_arns == [arn]
    assert await store.renew_leases([old], 10, now=T0 + timedelta(seconds=17)) == []
    assert [e["id"] for e in await store.get_events(arn)] == [1, 2]
    assert await store.get_checkpoint(arn) == '{"by": "w1"}'
    assert await store.due_timers(T0, 10) == []
    await store.commit([ExecutionChange(arn, "RUNNING", '{"by": "w2"}', events=[event(3)], fence=new.fence)])
    await store.commit([ExecutionChange(arn, "RUNNING", '{"by": "anyone"}', events=[event(4)])])  # no fence: no check
    assert [e["id"] for e in await store.get_events(arn)] == [1, 2, 3, 4]


async def test_a_stale_fence_fails_only_its_own_commit_in_a_group(store: Store) -> None:
    stale, fresh = await started(store, "stale"), await started(store, "fresh")
    [old] = await store.claim_runnable("w1", 10, 1, now=T0, execution_arns=[stale])
    await store.claim_runnable("w2", 10, 1, now=T0 + timedelta(seconds=11), execution_arns=[stale])
    [lease] = await store.claim_runnable("w1", 10, 1, now=T0, execution_arns=[fresh])
    outcomes = await asyncio.gather(
        store.commit([ExecutionChange(stale, "RUNNING", "{}", events=[event(1)], fence=old.fence)]),
        store.commit([ExecutionChange(fresh, "RUNNING", "{}", events=[event(1)], fence=lease.fence)]),
        return_exceptions=True)
    assert isinstance(outcomes[0], LeaseLost) and outcomes[1] is None
    assert await store.get_events(stale) == [] and len(await store.get_events(fresh)) == 1


async def test_released_leases_are_claimable_at_once(store: Store) -> None:
    arn = await started(store, "released")
    [lease] = await store.claim_runnable("w1", 60, 1, now=T0)
    await store.release_leases([lease])
    [again] = await store.claim_runnable("w2", 60, 1, now=T0)
    assert again.worker == "w2" and again.fence == lease.fence + 1
    await store.release_leases([lease])  # a lease lost already: nothing happens
    assert await store.claim_runnable("w3", 60, 1, now=T0) == []
    assert await store.claim_runnable("w3", 60, 1, now=T0 + timedelta(minutes=1), execution_arns=["arn:x"]) == []
    assert [lease.execution_arn for lease in await store.claim_runnable(
        "w3", 60, 1, now=T0 + timedelta(minutes=1), execution_arns=[arn])] == [arn]


async def test_each_due_timer_is_claimed_by_one_worker(store: Store, backend: Backend) -> None:
    arns = [await started(store, f"tick-{i}") for i in range(10)]
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[Timer(arn, "", "timer", 1, T0)])
                        for arn in arns])
    peer = await backend.peer(store)
    claims = await asyncio.gather(*(s.claim_due_timers(f"w{i}", T0, 3, 30) for i, s in enumerate([store, peer] * 3)))
    taken = [timer.execution_arn for claim in claims for timer in claim]
    assert sorted(taken) == sorted(arns)
    assert await store.claim_due_timers("w9", T0 + timedelta(seconds=29), 100, 30) == []
    assert len(await store.claim_due_timers("w9", T0 + timedelta(seconds=30), 100, 30)) == 10  # claims expired
    arn = arns[0]
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[Timer(arn, "", "timer", 2, T0)])])
    assert [t.token for t in await store.claim_due_timers("w8", T0 + timedelta(seconds=31), 100, 30)] == [2]


async def test_a_leased_executions_timers_go_to_its_worker(store: Store) -> None:
    arn = await started(store, "owned")
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[Timer(arn, "", "timer", 1, T0)])])
    await store.claim_runnable("owner", 60, 1, now=T0, execution_arns=[arn])
    assert await store.claim_due_timers("other", T0, 10, 30) == []
    assert [t.execution_arn for t in await store.claim_due_timers("owner", T0, 10, 30)] == [arn]


async def test_claims_without_names_take_only_the_executions_that_need_a_worker(store: Store) -> None:
    new = await started(store, "new")  # never started
    parked, called, lost, handed = [await started(store, name, events=1)
                                    for name in ("parked", "called", "lost", "handed")]
    leases = {lease.execution_arn: lease for lease in await store.claim_runnable(
        "w1", 10, 10, now=T0, execution_arns=[parked, called, lost, handed])}
    await store.release_leases([leases[parked], leases[called]], waiting=True)  # they only wait
    await store.release_leases([leases[handed]])  # a stopping worker hands it back
    await store.post_signal(called, "task_ok", {"thread": "", "token": 1, "payload": {}})
    claimed = await store.claim_runnable("w2", 10, 10, now=T0 + timedelta(seconds=5))
    assert sorted(lease.execution_arn for lease in claimed) == sorted([new, called, handed])
    # lost: w1's lease expires; the parked execution is claimed only by name (its timer or signal came)
    assert [lease.execution_arn for lease in await store.claim_runnable(
        "w2", 10, 10, now=T0 + timedelta(seconds=10))] == [lost]
    [again] = await store.claim_runnable("w2", 10, 10, now=T0 + timedelta(seconds=10), execution_arns=[parked])
    assert again.fence == leases[parked].fence + 1


async def test_an_execution_created_held_is_left_to_its_creator_until_the_lease_expires(store: Store) -> None:
    arn = execution_arn("held")
    lease = Lease(arn, "w1", 1, T0 + timedelta(seconds=10))
    assert await store.create_execution(execution("held"), lease=lease) is None
    assert await store.claim_runnable("w2", 10, 10, now=T0 + timedelta(seconds=5)) == []
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", events=[event(1)], fence=1)])  # w1 starts it
    assert [e["id"] for e in await store.get_events(arn)] == [1]
    await store.create_execution(execution("orphan"), lease=Lease(execution_arn("orphan"), "w1", 1, T0))
    [taken] = await store.claim_runnable("w2", 10, 10, now=T0 + timedelta(seconds=1))  # w1 died before starting it
    assert (taken.execution_arn, taken.fence) == (execution_arn("orphan"), 2)


async def test_after_a_crash_the_running_executions_of_the_dead_worker_are_claimable(store: Store,
                                                                                      backend: Backend) -> None:
    arn = await started(store, "held", events=1)
    await store.claim_runnable("w1", 10, 1, now=T0, execution_arns=[arn])
    await backend.close_all()  # the process dies with its lease
    reopened = await backend.open()
    assert [lease.execution_arn for lease in await reopened.claim_runnable(
        "w2", 10, 10, now=T0 + timedelta(seconds=10))] == [arn]


async def test_a_worker_restarted_under_its_name_takes_its_claims_back_at_once(store: Store,
                                                                             backend: Backend) -> None:
    arn = await started(store, "held", events=1)
    other = await started(store, "other", events=1)
    await store.commit([ExecutionChange(arn, "RUNNING", "{}", timers=[Timer(arn, "", "timer", 1, T0)])])
    assert len(await store.claim_runnable("w1", 60, 1, now=T0, execution_arns=[arn])) == 1
    assert len(await store.claim_runnable("w2", 60, 1, now=T0, execution_arns=[other])) == 1
    assert len(await store.claim_due_timers("w1", T0, 10, 60)) == 1
    await backend.close_all()  # w1 dies with its lease and its timer claim; w2 lives on
    reopened = await backend.open()
    await reopened.end_claims("w1")
    later = T0 + timedelta(seconds=1)
    claimed = {lease.execution_arn for lease in await reopened.claim_runnable("w1", 60, 10, now=later)}
    assert claimed == ({arn, other} if backend.name == "sqlite" else {arn})  # one process owns a SQLite file
    assert [timer.execution_arn for timer in await reopened.claim_due_timers("w1", later, 10, 60)] == [arn]


async def test_signals_are_posted_read_in_order_and_consumed_by_the_commit_that_applies_them(
        store: Store, backend: Backend) -> None:
    first, second = await started(store, "first", events=1), await started(store, "second", events=1)
    peer = await backend.peer(store)
    async with store.listen(["signals"]) as notifications:
        ids = [await peer.post_signal(first, "task_ok", {"thread": "1", "token": 2, "payload": {"ok": [1, "x"]}}),
               await peer.post_signal(second, "stop", {"thread": "", "token": 0, "payload": ["Err", None]}),
               await peer.post_signal(first, "heartbeat", {"thread": "1", "token": 2, "payload": 30})]
        heard = [await asyncio.wait_for(anext(notifications), 5) for _ in range(3)]
    assert [n.payload for n in heard] == [first, second, first]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert await store.signals() == [
        InboxSignal(ids[0], first, "task_ok", {"thread": "1", "token": 2, "payload": {"ok": [1, "x"]}}),
        InboxSignal(ids[1], second, "stop", {"thread": "", "token": 0, "payload": ["Err", None]}),
        InboxSignal(ids[2], first, "heartbeat", {"thread": "1", "token": 2, "payload": 30})]
    assert [s.id for s in await store.signals([first])] == [ids[0], ids[2]]
    assert [s.id for s in await store.signals([first], limit=1)] == [ids[0]]
    assert await store.signals([]) == []
    await store.commit([ExecutionChange(first, "RUNNING", "{}", events=[event(2)], consumed_signals=[ids[0]])])
    assert [s.id for s in await store.signals()] == [ids[1], ids[2]]
    await store.commit([ExecutionChange(first, "SUCCEEDED", None, summary={"stopDate": T0})])  # ended: inbox cleared
    assert [s.id for s in await store.signals()] == [ids[1]]


async def test_a_commit_whose_lease_is_lost_consumes_no_signal(store: Store) -> None:
    arn = await started(store, "fenced", events=1)
    [old] = await store.claim_runnable("w1", 10, 1, now=T0, execution_arns=[arn])
    posted = await store.post_signal(arn, "stop", {"thread": "", "token": 0, "payload": [None, None]})
    await store.claim_runnable("w2", 10, 1, now=T0 + timedelta(seconds=11))
    with pytest.raises(LeaseLost):
        await store.commit([ExecutionChange(arn, "ABORTED", None, consumed_signals=[posted], fence=old.fence)])
    assert [s.id for s in await store.signals([arn])] == [posted]


async def test_pending_tasks_are_read_for_several_executions_in_creation_order(store: Store) -> None:
    one, two, three = [await started(store, name) for name in ("one", "two", "three")]
    for arn, threads in ((two, "a"), (one, "bc"), (three, "d")):
        await store.commit([ExecutionChange(arn, "RUNNING", "{}", tasks=[task(arn, thread) for thread in threads])])
    assert [(t.execution_arn, t.thread) for t in await store.pending_tasks(among=[one, two])] == [
        (two, "a"), (one, "b"), (one, "c")]
    assert await store.pending_tasks(among=[]) == []


async def test_workers_report_are_listed_and_leave(store: Store, backend: Backend) -> None:
    peer = await backend.peer(store)
    await store.report_worker("host-a:1", {"host": "host-a", "pid": 1, "leases": 0}, now=T0)
    await peer.report_worker("host-b:2", {"host": "host-b", "pid": 2, "leases": 3}, now=T0)
    await store.report_worker("host-a:1", {"host": "host-a", "pid": 1, "leases": 5}, now=T0 + timedelta(seconds=10))
    assert await peer.list_workers() == [
        {"name": "host-a:1", "host": "host-a", "pid": 1, "leases": 5, "heartbeat": T0 + timedelta(seconds=10)},
        {"name": "host-b:2", "host": "host-b", "pid": 2, "leases": 3, "heartbeat": T0}]
    await peer.remove_worker("host-b:2")
    assert [w["name"] for w in await store.list_workers()] == ["host-a:1"]


# ---------------------------------------------------------------------------------------------- notifications


async def test_listeners_are_woken_by_notifications_on_their_channels(store: Store, backend: Backend) -> None:
    peer = await backend.peer(store)
    async with store.listen(["work", "timers"]) as notifications:
        with pytest.raises(TimeoutError):  # waiting is cancellation safe: the poll interval passes, nothing lost
            await asyncio.wait_for(anext(notifications), 0.05)
        await peer.notify("other")
        await peer.notify("work", "arn:1")
        await peer.notify("timers")
        received = [await asyncio.wait_for(anext(notifications), 5) for _ in range(2)]
    assert received == [Notification("work", "arn:1"), Notification("timers", "")]
    await peer.notify("work")  # nobody listens any more: nothing happens


# ---------------------------------------------------------------------------------------------- the schema


async def test_a_store_of_a_newer_schema_is_refused(store: Store, backend: Backend) -> None:
    await started(store, "kept")
    await backend.close_all()
    version = SQLITE_SCHEMA_VERSION if backend.name == "sqlite" else POSTGRES_SCHEMA_VERSION
    backend.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(SchemaTooNew, match="999.*newer than this stepline"):
        await backend.open()
    backend.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    assert (await backend.open()).__class__ is store.__class__


def test_db_upgrade_creates_the_schema_and_refuses_a_newer_one(backend: Backend, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "stepline.cli.main", "db", "upgrade", "--db", backend.location]
    created = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout
    backend.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert refused.returncode == 1 and "newer than this stepline" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_a_failing_write_fails_only_its_own_caller_in_a_group(store: Store) -> None:
    one, two = await started(store, "fails", events=1), await started(store, "passes", events=1)
    outcomes = await asyncio.gather(
        store.commit([ExecutionChange(one, "RUNNING", "{}", events=[event(1)])]),  # event 1 exists already
        store.commit([ExecutionChange(two, "RUNNING", "{}", events=[event(2)])]),
        store.create_resource(ACTIVITIES, ActivityRecord(arn=ACTIVITY, name="Approve", creation_date=T0)),
        return_exceptions=True)
    assert isinstance(outcomes[0], StoreError) and outcomes[1:] == [None, True]
    assert [e["id"] for e in await store.get_events(two)] == [1, 2]


@pytest.mark.parametrize(("url", "schema", "pool_size"), [
    pytest.param("postgresql://u@h/db?schema=runs&pool_size=4", "runs", 4, id="schema-and-pool-size"),
    pytest.param("postgresql://u@h/db?options=-csearch_path%3Druns", "runs", None, id="search-path-option"),
    pytest.param("postgres://u@h:5433/db", None, None, id="server-default-schema"),
])
def test_store_urls_name_the_schema_and_the_pool_size(url: str, schema: str | None, pool_size: int | None) -> None:
    from stepline.runtime.store.postgres import connection_settings

    conninfo, found, size = connection_settings(url)
    assert (found, size) == (schema, pool_size)
    assert "TimeZone=UTC" in conninfo and "pool_size" not in conninfo and "schema=" not in conninfo
    assert (f"search_path={schema}" in conninfo) == (schema is not None)


def test_a_bad_schema_name_is_refused() -> None:
    from stepline.runtime.store.postgres import connection_settings

    with pytest.raises(StoreError, match="not a plain identifier"):
        connection_settings("postgresql://u@h/db?schema=a;drop")


def test_a_pending_task_written_before_invocations_carried_their_resource_reads_back_described() -> None:
    arn = execution_arn("old")
    legacy = dumps({"thread": "a", "token": 1, "state_name": "S", "resource": LAMBDA, "parameters": {},
                    "invocation": 0, "timeout_seconds": None, "heartbeat_seconds": None, "task_token": None,
                    "credentials": None, "submitted": True})
    task = task_from_row((arn, "a", 1, legacy, None, None, None))
    assert task.effect.resource == describe_resource(LAMBDA) and task.submitted
