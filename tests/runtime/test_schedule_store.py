"""The store's schedule verbs on SQLite and PostgreSQL: a schedule's next due time is a timer row, claimed by one
worker, moved on only by the caller that saw its current due time, and claimable again once moved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stepline.runtime.store.base import Store

pytestmark = pytest.mark.anyio

ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def token(moment: datetime) -> int:
    return int(moment.timestamp())


async def test_a_schedule_due_time_is_claimed_once_and_moved_on_once(store: Store, backend) -> None:  # noqa: ANN001
    peer = await backend.peer(store)  # another worker's view of the same store (PostgreSQL: a second process's)
    await store.set_schedule_due(ARN, token(T0), T0 + timedelta(seconds=30))
    assert await store.schedule_due_times() == {ARN: (token(T0), T0 + timedelta(seconds=30))}
    assert await store.next_timer_due() == T0 + timedelta(seconds=30)
    assert await store.claim_due_timers("w1", T0, 10, 30) == []  # not due yet
    now = T0 + timedelta(minutes=1)
    claimed = await store.claim_due_timers("w1", now, 10, 30)
    assert [(t.execution_arn, t.kind, t.token) for t in claimed] == [(ARN, "schedule", token(T0))]
    assert await peer.claim_due_timers("w2", now, 10, 30) == []  # one worker has it
    following = (token(T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    assert await peer.advance_schedule(ARN, token(T0), following)
    assert not await store.advance_schedule(ARN, token(T0), following)  # moved already: not twice
    assert await store.schedule_due_times() == {ARN: following}
    later = T0 + timedelta(hours=1, seconds=1)
    assert [t.token for t in await peer.claim_due_timers("w2", later, 10, 30)] == [following[0]]  # claimable again
    assert await store.advance_schedule(ARN, following[0], None)  # no more due times: the row goes
    assert await store.schedule_due_times() == {}
    assert await store.next_timer_due() is None


async def test_setting_or_clearing_a_schedule_due_time(store: Store) -> None:
    await store.set_schedule_due(ARN, token(T0), T0)
    await store.set_schedule_due(ARN, token(T0) + 60, T0 + timedelta(minutes=1))  # replaces
    assert await store.schedule_due_times() == {ARN: (token(T0) + 60, T0 + timedelta(minutes=1))}
    assert [t.token for t in await store.claim_due_timers("w1", T0 + timedelta(minutes=2), 10, 30)] == [token(T0) + 60]
    await store.set_schedule_due(ARN, token(T0) + 120, T0 + timedelta(minutes=2))  # set again: claimable at once
    assert [t.token for t in await store.claim_due_timers("w2", T0 + timedelta(minutes=3), 10, 30)] == [
        token(T0) + 120]
    await store.clear_schedule_due(ARN)
    assert await store.schedule_due_times() == {}
