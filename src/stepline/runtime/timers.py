"""Timers: rows of the store (a Wait, a Retry interval, a task timeout or heartbeat, the execution timeout) that
become signals when due. Each due timer is claimed by one worker of the store, turned into a signal, and removed
by the commit that applies that signal; a worker that dies first leaves it to be claimed again.

A schedule's next due time is a timer too (kind "schedule", under the schedule's ARN): claimed the same way, it is
handed to `fire_schedule` (the service's, service/schedules.py), which starts the execution and moves the timer
to the schedule's following due time. So schedules follow the runtime's clock, virtual time included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Histogram

from stepline.runtime.signals import SIGNAL_OF_TIMER, TIMER_KIND, Signal
from stepline.runtime.store.base import Store, StoreError, StoreUnavailable, Timer

log = logging.getLogger("stepline.runtime.worker")

TimerKey = tuple[str, str, str]  # (execution, thread, kind)
SCHEDULE = "schedule"  # the kind of a schedule's timer
FireSchedule = Callable[[Timer], Awaitable[None]]


class Timers:
    """Fires this worker's share of the store's due timers as signals. With a virtual clock (one process), time
    moves to the next due timer only when the runtime has nothing else to do."""

    def __init__(self, store: Store, *, clock: Any, worker: str, claim_seconds: float, poll_seconds: float,
                 batch: int, submit: Callable[[Signal], None], quiet: Quiet, lag: Histogram,
                 fire_schedule: FireSchedule | None = None) -> None:
        self._store = store
        self._lag = lag  # how late each due timer was claimed
        self._clock = clock
        self._worker = worker
        self._claim_seconds = claim_seconds
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._submit = submit
        self._quiet = quiet
        self._fire_schedule = fire_schedule
        self._next_due: datetime | None = None
        self._wake = asyncio.Event()
        self.firing: set[TimerKey] = set()  # handed to the runtime as signals, not committed yet

    async def start(self) -> None:
        self._next_due = await self._store.next_timer_due()

    def arm(self, due: datetime) -> None:
        """A timer was committed: fire it when due, if it is the next one."""
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._wake.set()

    def settled(self, signals: list[Signal]) -> None:
        """These signals were committed or dropped: a timer they came from fires again if it is still due."""
        self.firing.difference_update(key_of(signal) for signal in signals if signal.kind in TIMER_KIND)

    async def run(self) -> None:
        virtual = getattr(self._clock, "virtual", False)
        while True:
            self._wake.clear()
            due = self._next_due
            if virtual:  # one process: virtual time moves only when nothing else can happen
                if due is None:
                    await self._wake.wait()
                    continue
                if not self._quiet.idle():
                    self._quiet.settled.clear()
                    await self._quiet.settled.wait()
                    continue
                self._clock.advance_to(due)
            else:
                delay = self._poll_seconds if due is None else \
                    (due - self._clock.now()).total_seconds() * (getattr(self._clock, "scale", 1) or 1)
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), min(delay, self._poll_seconds))
                    except asyncio.TimeoutError:  # look again: other workers set timers too
                        self._next_due = await self._next_timer_due()
                    continue
            claimed_at = self._clock.now()
            try:
                timers = await self._store.claim_due_timers(self._worker, claimed_at, self._batch, self._claim_seconds)
            except StoreError as error:
                log.log(logging.DEBUG if isinstance(error, StoreUnavailable) else logging.WARNING,
                        "cannot claim due timers: %s", error, extra={"worker": self._worker, "error": str(error)})
                timers = []
            for timer in timers:
                key = (timer.execution_arn, timer.thread, timer.kind)
                if key in self.firing:
                    continue
                if timer.kind == SCHEDULE:
                    await self._schedule(timer)
                    continue
                self.firing.add(key)
                self._lag.observe(max(0.0, (claimed_at - timer.due).total_seconds()))
                self._submit(Signal(SIGNAL_OF_TIMER[timer.kind], timer.execution_arn, timer.thread, timer.token))
            self._next_due = await self._next_timer_due()
            if self._next_due is not None and self._next_due <= self._clock.now():
                if self.firing:  # the fired timers are being committed: look again once a batch is
                    self._quiet.committed.clear()
                    await self._quiet.committed.wait()
                elif not timers and self._next_due <= claimed_at:
                    # due when this claim ran, and not given: another worker's (or its execution's holder's). A
                    # timer that came due since the claim is claimed at once, by the next turn
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                    except asyncio.TimeoutError:
                        pass

    async def _schedule(self, timer: Timer) -> None:
        """A schedule's due time: started here, at once (a failure leaves it claimed: it fires again when the
        claim expires)."""
        if self._fire_schedule is None:
            return
        try:
            await self._fire_schedule(timer)
        except Exception as error:  # a bug or a store outage: the claim expires and it fires again
            log.warning("cannot start the schedule %s: %s", timer.execution_arn, error,
                        extra={"schedule": timer.execution_arn, "error": str(error)})

    async def _next_timer_due(self) -> datetime | None:
        try:
            return await self._store.next_timer_due()
        except StoreError:
            return self._clock.now() + timedelta(seconds=self._poll_seconds)


def key_of(signal: Signal) -> TimerKey:
    """The timer a timer's signal comes from."""
    return signal.execution_arn, signal.thread, TIMER_KIND[signal.kind]


class Quiet:
    """When the runtime has nothing to do (virtual time may then move): `settled` is set whenever it is idle,
    `committed` after each batch of signals is committed."""

    def __init__(self, idle: Callable[[], bool]) -> None:
        self.idle = idle
        self.settled = asyncio.Event()
        self.committed = asyncio.Event()

    def busy(self) -> None:
        self.settled.clear()

    def check(self) -> None:
        if self.idle():
            self.settled.set()
