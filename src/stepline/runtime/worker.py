"""The durable runtime: Standard executions advanced by signals, every step committed before its effects.

One loop takes the signals that are ready (a start, a task's answer, a due timer, a stop), applies each to
its execution (restored from its checkpoint when it is not in memory), and commits what they did in one
transaction (group commit). Only then are the effects performed: tasks are dispatched and timers armed.
A crash at any moment leaves the store at a commit; on start, running executions continue from their
checkpoints, timers are rows that fire after a restart too, and task invocations that were committed but
not answered are dispatched again (at-least-once delivery, as AWS gives it).

A waiting execution is a row: an execution that only waits on a timer or a callback is dropped from memory
(beyond a bounded cache) and restored when its signal comes.

The runtime is made of parts, each owning its state: `Leases` (the executions this worker holds), `Inbox`
(signals posted through the store), the `Coordinator` (claims, renewals, polls, notifications: runtime/fleet.py),
`Timers` (runtime/timers.py), `Tasks` (invocations in flight and activity long polls: runtime/dispatch.py),
`Memory` (executions in memory), the `Applier` (steps run in threads: runtime/applying.py) and `Retention`
(closed executions deleted after some days: runtime/retention.py). The runtime
itself applies batches of signals and commits them. Several runtimes (processes, hosts) may share one store and
behave as one: each applies signals only to executions it holds a lease on, and commits under the lease's
fence. On SQLite (one process) leases and notifications live in memory and cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from stepline.engine.checkpoint import Iterations, checkpoint, restore
from stepline.engine.effects import CancelTask, Effect, InvokeTask, StartTimer
from stepline.engine.interpreter import RUNNING, SUCCEEDED, Execution
from stepline.engine.program import Program
from stepline.expr import limits as evaluation
from stepline.expr.limits import DEFAULT_LIMITS, Limits
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.applying import BATCH_SECONDS, INLINE_SECONDS, TURN_SECONDS, Applier, Group
from stepline.runtime.dispatch import Tasks
from stepline.runtime.fleet import BATCH, Coordinator, Inbox, Leases, default_worker_name, wall
from stepline.runtime.integrations.registry import Integrations
from stepline.runtime.retention import Retention
from stepline.runtime.metrics import Metrics, state_machine_of
from stepline.runtime.signals import TIMER_KIND, Signal
from stepline.runtime.store.base import (
    ExecutionChange,
    InboxSignal,
    Lease,
    LeaseLost,
    PendingTask,
    Store,
    StoreError,
    StoreUnavailable,
    Timer,
)
from stepline.runtime.store.records import ExecutionRecord
from stepline.runtime.timers import FireSchedule, Quiet, Timers

log = logging.getLogger(__name__)

CACHE = 2048  # executions kept in memory besides those with tasks in flight
LEASE_SECONDS = 30.0  # a dead worker's executions are taken over after at most this long
POLL_SECONDS = 1.0  # how often a worker looks for work that a lost notification did not announce
NOTIFY_BYTES = 7_000  # a notification's payload at most (PostgreSQL's limit is 8,000 bytes; ARNs are ASCII)


class Runtime:
    """Runs the Standard executions of one store: one worker among those sharing it (runtime/fleet.py)."""

    def __init__(self, store: Store, *, clock: Any, programs: Callable[[str, str], Awaitable[Program]],
                 integrations: Callable[[ExecutionRecord | None], Integrations], worker: str | None = None,
                 lease_seconds: float = LEASE_SECONDS, poll_seconds: float = POLL_SECONDS,
                 limits: Limits = DEFAULT_LIMITS, retention_days: float | None = None,
                 committed: Callable[[Execution, list[dict]], None] = lambda execution, events: None,
                 metrics: Metrics | None = None, fire_schedule: FireSchedule | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.limits = limits  # of every evaluation of an expression
        self.worker = worker or default_worker_name()
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._programs = programs  # (definition digest, machine type) -> Program
        self._integrations = integrations  # execution record -> its integrations
        self._committed = committed  # told each execution's events once committed (execution logs); never blocks
        self.quiet = Quiet(lambda: self.idle)
        self.leases = Leases(store, self.worker, lease_seconds)
        self.inbox = Inbox()
        self.memory = Memory(CACHE)
        self.tasks = Tasks(store, calls=self._calls_of, submit=self.submit, post=self.post,
                           settle=self.quiet.check, poll_seconds=poll_seconds, task_seconds=self.metrics.task_seconds)
        self.timers = Timers(store, clock=clock, worker=self.worker, claim_seconds=lease_seconds,
                             poll_seconds=poll_seconds, batch=BATCH, submit=self.submit, quiet=self.quiet,
                             lag=self.metrics.timer_lag, fire_schedule=fire_schedule)
        self.coordinator = Coordinator(self)
        # None: executions are kept for ever
        self.retention = Retention(store, clock=clock, days=retention_days) if retention_days else None
        self._applier: Applier[_Applied] = Applier(self._apply_group, self._late)
        self._queue: asyncio.Queue[Signal] = asyncio.Queue()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}  # wait(): the callers waiting for an end
        self._loops: list[asyncio.Task[None]] = []
        self._busy = False  # applying a batch
        self._lock = asyncio.Lock()  # a batch and a renewal never interleave
        self._posting = 0  # post() calls on their way to the store
        self._waiting_for_late: dict[str, list[Signal]] = {}  # signals of executions still being applied
        self._late_commits: set[asyncio.Task[None]] = set()
        self._joined = False  # started, and not closed

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Join the store's workers: take the executions that need one (after a crash, those the dead worker
        held: every running one on SQLite), continuing each from its checkpoint; then run the loops."""
        self._joined = True
        await self.store.end_claims(self.worker)
        await self.store.report_worker(self.worker, self.coordinator.report(), now=wall())
        while len(await self.pick_up(await self.claim(None))) >= BATCH:
            pass
        await self.timers.start()
        self._loops = [asyncio.create_task(self._signal_loop(), name="stepline-signals"),
                       asyncio.create_task(self.timers.run(), name="stepline-timers"),
                       asyncio.create_task(self.coordinator.run(), name="stepline-coordinator"),
                       asyncio.create_task(self.coordinator.listen(), name="stepline-notifications")]
        if self.retention is not None:
            self._loops.append(asyncio.create_task(self.retention.run(), name="stepline-retention"))

    async def close(self) -> None:
        """Stop: cancel the loops and the tasks in flight, and hand the leases back, so that other workers take
        the executions at once (and dispatch the cancelled tasks again); then leave the workers' table."""
        if not self._joined:
            return
        self._joined = False
        busy = self.tasks.executions() | self._applier.late.keys()
        self._applier.close()
        for task in [*self._loops, *self._late_commits]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._late_commits, self.tasks.close(), return_exceptions=True)
        self._loops.clear()
        try:
            await self.leases.hand_back(busy)
            await self.store.remove_worker(self.worker)
        except StoreError as error:  # the leases expire by themselves
            log.warning("could not hand back the leases: %s", error, extra={"worker": self.worker, "error": str(error)})

    async def create(self, record: ExecutionRecord, *, anywhere: bool = False) -> ExecutionRecord | None:
        """Store a new execution and start it (None); or return the record of the execution that has its ARN.
        The new execution is created held by this worker (fence 1), so no other worker's poll takes it first
        (and it costs no claim). `anywhere`, on a store other processes share: created for any worker to claim
        (this one included), every worker woken by the store's notification (a Map Run's children spread)."""
        if anywhere and self.store.shared:
            existing = await self.store.create_execution(record)
            if existing is None:
                self.metrics.started.labels(state_machine_of(record.arn)).inc()
            return existing
        lease = self.leases.first(record.arn)
        existing = await self.store.create_execution(record, lease=lease)
        if existing is None:
            self.leases.hold(lease)
            await self._remember(record, None)  # what a load would restore: no read back of what was just written
            self.submit(Signal("start", lease.execution_arn))
            self.metrics.started.labels(state_machine_of(record.arn)).inc()
        return existing

    def submit(self, signal: Signal) -> None:
        """Queue a signal for this worker (the execution is claimed before it is applied)."""
        self.quiet.busy()
        self.leases.touch(signal.execution_arn)
        self._queue.put_nowait(signal)

    async def post(self, signal: Signal) -> None:
        """Deliver an API call's signal to its execution, whichever worker runs it: into the store's inbox
        (durable once this returns), then to the worker holding the execution (this one, or another that the
        store's notification wakes; a lost notification only delays it by a polling interval)."""
        self._posting += 1
        self.quiet.busy()
        try:
            await self.store.post_signal(signal.execution_arn, signal.kind,
                                         {"thread": signal.thread, "token": signal.token, "payload": signal.payload})
            self.coordinator.wake(signal.execution_arn)
        finally:
            self._posting -= 1

    async def next_activity_task(self, activity_arn: str, worker: str, timeout: float) -> PendingTask | None:
        """GetActivityTask: the oldest unclaimed task of the activity, waiting up to `timeout` seconds for one."""
        return await self.tasks.next_activity_task(activity_arn, worker, timeout)

    async def wait(self, arn: str, timeout: float | None = None) -> None:
        """Until the execution has ended (or the timeout passed, raising TimeoutError), on any worker."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        held = arn in self.leases  # running here: its end resolves the future (the first look needs no read)
        while True:
            if not held:
                record = await self.store.get_execution(arn)
                if record is None or record.status != RUNNING:
                    return
            held = False
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise asyncio.TimeoutError(f"{arn} still running")
            future: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters.setdefault(arn, [])
            waiters.append(future)
            try:  # ended here, or looked up again after a polling interval (another worker may run it)
                await asyncio.wait_for(future, self.poll_seconds if remaining is None
                                       else min(remaining, self.poll_seconds))
                return
            except asyncio.TimeoutError:
                if future in waiters:
                    waiters.remove(future)
                if not waiters and self._waiters.get(arn) is waiters:
                    del self._waiters[arn]

    def watch(self, arn: str) -> asyncio.Future[None]:
        """A future resolved when the execution ends on this worker (`unwatch` it when no longer wanted: it ends
        on another worker, or nobody waits any more)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(arn, []).append(future)
        return future

    def unwatch(self, arn: str, future: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(arn, [])
        if future in waiters:
            waiters.remove(future)
        if not waiters:
            self._waiters.pop(arn, None)

    @property
    def idle(self) -> bool:
        return (self._queue.empty() and not self._busy and not self.tasks.performing() and not self._posting
                and not self.coordinator and not self._applier.late and not self._late_commits)

    # ------------------------------------------------------------------ claims

    async def claim(self, arns: list[str] | None) -> list[Lease]:
        """Claim these executions (or, with None, any that need a worker); the leases granted. What memory holds
        of one that another worker held since is stale, and dropped."""
        leases = await self.leases.claim(arns)
        for lease in leases:
            self.memory.claimed(lease)
        return leases

    async def pick_up(self, leases: list[Lease], *, resume: bool = True) -> list[Lease]:
        """Take over executions just claimed: dispatch again the tasks that were committed and not answered
        (at-least-once, as AWS delivers), have each continue from its checkpoint (start it, or apply an accepted
        redrive), and read its inbox."""
        arns = [lease.execution_arn for lease in leases]
        if not arns:
            return leases
        try:
            pending = await self.store.pending_tasks(among=arns)
        except StoreError:  # held but not picked up: they must not be parked; their leases expire instead
            self.forget(arns, cancel=False)
            raise
        for task in pending:
            # not an activity's or a callback's (their answer comes through the API), nor one running here; a
            # submitted job is waited for again
            if task.activity_arn is None and task.worker is None and (not task.submitted or task.handle is not None) \
                    and not self.tasks.running(task.execution_arn, task.thread):
                self.tasks.dispatch(task.execution_arn, task.effect, task.handle)
        if resume:
            for arn in arns:
                self.submit(Signal("resume", arn))
        self.take(await self.store.signals(arns))  # if this fails, the poll reads them
        return leases

    def take(self, signals: Iterable[InboxSignal]) -> None:
        """Queue inbox signals not queued yet (nor applied already)."""
        for signal in self.inbox.new(signals):
            self.submit(signal)

    def forget(self, arns: Iterable[str], *, cancel: bool) -> None:
        """Let executions go without telling the store (a lease lost, or a commit whose outcome is unknown):
        what memory holds of them may be ahead of the store; with `cancel`, their tasks in flight are dropped
        too (the worker that took them over dispatches them again)."""
        arns = set(arns)
        self.leases.drop(arns)
        for arn in arns:
            self.memory.drop(arn)
        if cancel:
            self.tasks.drop(arns)
        if arns:
            log.log(logging.WARNING if cancel else logging.DEBUG, "%d executions let go%s", len(arns),
                    " (their leases were taken over)" if cancel else "",
                    extra={"worker": self.worker, "executions": len(arns), "lease_lost": cancel})

    async def renew(self) -> None:
        """Keep the leases of executions with work in flight; park the ones that only wait."""
        async with self._lock:
            lost = await self.leases.renew(self.tasks.executions() | self._applier.late.keys())
            self.forget(lost, cancel=True)

    # ------------------------------------------------------------------ applying signals

    async def _signal_loop(self) -> None:
        while True:
            signal = await self._queue.get()
            batch = [signal]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            try:
                async with self._lock:
                    await self._apply_batch(batch)
            except Exception as error:
                self._let_go(batch, error)
            finally:
                self._busy = False
                self.quiet.committed.set()
                self.quiet.check()

    def _let_go(self, signals: list[Signal], error: Exception) -> None:
        """The store failed (or a bug): nothing is known of these executions beyond their last commit (this one's
        outcome may be unknown), and their signals are gone. Let them go: their leases expire and a claim continues
        each from its checkpoint, dispatching its unanswered tasks again."""
        if isinstance(error, StoreUnavailable):  # the store says so itself, once
            log.debug("applying %d signals failed: %s", len(signals), error,
                      extra={"signals": len(signals), "error": str(error)})
        elif isinstance(error, StoreError):
            log.warning("applying %d signals failed: %s", len(signals), error,
                        extra={"signals": len(signals), "error": str(error)})
        else:
            log.exception("applying %d signals failed", len(signals), extra={"signals": len(signals)})
        self.forget({signal.execution_arn for signal in signals}, cancel=False)
        self._release(signals)

    async def _apply_batch(self, batch: list[Signal]) -> None:
        """Apply the batch's signals to their executions (each on the event loop within a budget, else in a thread:
        runtime/applying.py) and commit what they did."""
        batch = self._hold_back(await self._lease(batch))
        absent = list({signal.execution_arn for signal in batch if signal.execution_arn not in self.memory})
        loaded: dict[str, tuple[ExecutionRecord, str | None] | None] = dict.fromkeys(absent)
        if absent:  # restored from their checkpoints, read at once
            loaded.update(await self.store.load_executions(absent))
        groups: dict[str, Group] = {}
        for signal in batch:
            arn = signal.execution_arn
            if arn not in groups:
                groups[arn] = Group(arn, [], _Context(None, self.leases.get(arn), arn in absent))
            groups[arn].signals.append(signal)
        results: list[_Applied] = []
        began = turn = time.monotonic()
        inline = True  # until one execution runs over, or the batch has had its time on the loop
        for arn, group in groups.items():
            if time.monotonic() - turn > TURN_SECONDS:  # let the API and the other loops in between executions
                await asyncio.sleep(0)
                turn = time.monotonic()
            try:
                group.context.execution = await self._load(arn, loaded)
                inline = inline and time.monotonic() - began < BATCH_SECONDS
                applied = self._apply_inline(group, INLINE_SECONDS) if inline else None
                if applied is None:
                    if inline:  # it ran past its time on the loop: again, from its last commit, in a thread
                        inline = False
                        group.context = _Context(await self._reload(arn), group.context.lease, restored=True)
                    self._applier.start(group)
                    continue
            except Exception as error:  # its checkpoint or definition cannot be read back: it fails alone
                applied = _Applied(group.signals, failure=error)
            results.append(applied)
        await self._commit(results)

    async def _reload(self, arn: str) -> Execution | None:
        """The execution as its last commit left it (what memory held of it is dropped)."""
        self.memory.drop(arn)
        return await self._load(arn, {arn: (await self.store.load_executions([arn])).get(arn)})

    def _apply_inline(self, group: Group, seconds: float) -> _Applied | None:
        """Apply the group on the event loop within `seconds`; None when it ran past them (see applying.py)."""
        budget = evaluation.inline(seconds)
        try:
            return self._apply_group(group)
        except evaluation.Overtime:
            return None
        finally:
            evaluation.reset_inline(budget)

    def _hold_back(self, batch: list[Signal]) -> list[Signal]:
        """Signals of an execution still being applied wait for it (see runtime/applying.py); a stop abandons that
        step and applies to the execution's last commit at once (unless the step starts or redrives it: then the
        stop waits too, so as to end what was started)."""
        kept = []
        for signal in batch:
            arn = signal.execution_arn
            late = self._applier.late.get(arn)
            if late is None:
                kept.append(signal)
            elif signal.kind == "stop" and not any(s.kind in ("resume", "redrive") for s in late.signals):
                self._applier.abandon(arn)
                self.memory.drop(arn)
                self._release(late.signals)
                kept += [signal, *self._waiting_for_late.pop(arn, [])]
            else:
                self._waiting_for_late.setdefault(arn, []).append(signal)
        return kept

    def _release(self, signals: list[Signal]) -> None:
        """Forget signals that will not be applied (their timers fire again; inbox signals are read again)."""
        self.inbox.release(signals)
        self.timers.settled(signals)

    def _late(self, group: Group, applied: _Applied) -> None:
        """A late execution's step is done: commit it, then apply the signals that waited for it."""
        task = asyncio.get_running_loop().create_task(self._commit_late(group, applied))
        self._late_commits.add(task)
        task.add_done_callback(self._late_commits.discard)

    async def _commit_late(self, group: Group, applied: _Applied) -> None:
        try:
            async with self._lock:
                if self._applier.settle(group):  # else a stop abandoned it
                    await self._commit([applied])
        except Exception as error:
            self._let_go(group.signals, error)
        finally:
            for signal in self._waiting_for_late.pop(group.execution_arn, []):
                self.submit(signal)
            self.quiet.committed.set()
            self.quiet.check()

    async def _commit(self, results: list[_Applied]) -> None:
        """Commit what the signals did, then perform it (tasks dispatched, timers armed). An execution whose
        signals could not be applied or committed for a reason of its own fails alone (States.Runtime)."""
        results = [await self._fail_alone(applied) if applied.failure is not None else applied for applied in results]
        changes = [change for applied in results for change in applied.changes]
        began = time.perf_counter()
        try:
            await self.store.commit(changes)
        except LeaseLost as lost:  # another worker took these: drop them; the others go again from their checkpoints
            gone = set(lost.execution_arns)
            self.forget(gone, cancel=True)
            for change in changes:
                self.memory.drop(change.execution_arn)  # memory is ahead of the store
            self._release([s for applied in results for s in applied.signals if s.execution_arn in gone])
            rest = [s for applied in results for s in applied.signals if s.execution_arn not in gone]
            if rest:
                await self._apply_batch(rest)
            return
        except StoreUnavailable:  # the outcome is unknown (a lost connection, a full disk): the caller lets go
            raise
        except Exception as error:
            if len(results) > 1:  # each execution alone: the one at fault fails by itself
                for applied in results:
                    try:
                        await self._commit([applied])
                    except Exception as failure:
                        self._let_go(applied.signals, failure)
                return
            if results[0].poisoned:
                raise
            log.warning("the changes of %s cannot be committed: %s", results[0].signals[0].execution_arn, error,
                        extra={"error": str(error)})
            await self._commit([replace(results[0], failure=error)])
            return
        finally:
            for applied in results:
                self.timers.settled(applied.signals)
        self.metrics.commit_seconds.observe(time.perf_counter() - began)
        for change in changes:
            self.metrics.count_step(change.execution_arn, change.events, change.status)
        self.inbox.consumed(signal_id for change in changes for signal_id in change.consumed_signals)
        for applied in results:
            for execution, events in applied.recorded:
                self._committed(execution, events)
            for arn, thread in applied.cancels:
                self.tasks.cancel(arn, thread)
            for arn, effect in applied.dispatches:
                self.tasks.dispatch(arn, effect)
        ended_children: list[str] = []  # of Map Runs, whose drivers may be on other workers
        for change in changes:
            for timer in change.timers:
                self.timers.arm(timer.due)
            if change.status not in (RUNNING, None):
                record = self.memory.record(change.execution_arn)
                if record is not None and record.map_run_arn is not None and self.store.shared:
                    ended_children.append(change.execution_arn)
                self._finished(change.execution_arn)
        for activity in {activity for applied in results for activity in applied.activities}:
            try:  # GetActivityTask long polls, in every process
                await self.store.notify("activities", activity)
            except StoreError:  # their poll finds the task
                pass
        for payload in _lines(ended_children, NOTIFY_BYTES):
            try:  # the watchers on every worker (heard_end)
                await self.store.notify("ended", payload)
            except StoreError:  # their poll finds the ends
                pass

    async def _fail_alone(self, applied: _Applied) -> _Applied:
        """Fail an execution that cannot go on, from its last commit: States.Runtime, the cause, a full history."""
        arn = applied.signals[0].execution_arn
        error = applied.failure
        log.warning("%s cannot go on and fails with States.Runtime: %r", arn, error,
                    extra={"execution": arn, "error": repr(error)})
        result = _Applied(applied.signals, poisoned=True)
        try:
            execution = await self._reload(arn)
        except StoreUnavailable:
            raise
        except Exception:  # its checkpoint or definition cannot be read back: failed from its row alone
            execution = await self._bare(arn)
        lease = self.leases.get(arn)
        if execution is None or lease is None:  # ended meanwhile, or no longer held here
            self._release(applied.signals)
            return result
        effects = execution.fail_unexpectedly(error, self.clock.now())  # type: ignore[arg-type]
        change = ExecutionChange(arn, RUNNING, None, fence=lease.fence,
                                 consumed_signals=[s.signal_id for s in applied.signals if s.signal_id is not None])
        for effect in effects:
            self._plan(execution, effect, change, result)
        self._outcome(execution, change)
        try:
            self._position(execution, change)
        except Exception:  # its position cannot be written either: it ends without one
            change.checkpoint, change.iterations = None, []
        result.changes.append(change)
        result.recorded.append((execution, change.events))
        return result

    async def _bare(self, arn: str) -> Execution | None:
        """An execution made from its row and the count of its events only (enough to fail it)."""
        record = await self.store.get_execution(arn)
        if record is None:
            return None
        execution = Execution(None, **_identity(record))  # type: ignore[arg-type]
        last = await self.store.get_events(arn, reverse=True, limit=1)
        execution.event_count = last[0]["id"] if last else 0
        return execution

    def _apply_group(self, group: Group) -> _Applied:
        """Apply one execution's signals of a batch (in a worker thread: see runtime/applying.py)."""
        applied = _Applied(group.signals)
        try:
            for signal in group.signals:
                self._apply_signal(group.context, signal, applied)
            applied_to = [change for change in applied.changes if change.status is not None]
            if applied_to and group.context.execution is not None:  # where the last signal left it: one checkpoint
                self._position(group.context.execution, applied_to[-1])
        except Exception as error:
            applied.failure = error
        return applied

    def _apply_signal(self, context: _Context, signal: Signal, applied: _Applied) -> None:
        arn = signal.execution_arn
        execution, lease = context.execution, context.lease
        timer_kind = TIMER_KIND.get(signal.kind)
        kind = signal.kind
        if kind == "resume" and execution is not None and lease is not None and not context.applied:
            # claimed, and as its checkpoint left it: start it, or apply the redrive its row says was accepted
            # (only an execution restored from its checkpoint: one that ended here in memory is not redriven)
            redrive = execution.status != RUNNING and context.restored
            kind = "start" if not execution.event_count else "redrive" if redrive else ""
            signal = replace(signal, kind=kind)
        if execution is None or (execution.status != RUNNING and kind != "redrive") or not kind or kind == "resume" \
                or (kind == "start" and execution.event_count) \
                or (kind == "redrive" and (execution.status == RUNNING or lease is None or context.redriven)):
            consumed = [signal.signal_id] if signal.signal_id is not None else []
            if timer_kind is not None or consumed:  # a timer or a signal nothing waits for: just remove it
                applied.changes.append(ExecutionChange(
                    arn, None, None, consumed_signals=consumed,
                    cancelled_timers=[(signal.thread, timer_kind)] if timer_kind else [],
                    fence=lease.fence if lease is not None else None))
            return
        context.applied = True
        context.redriven = context.redriven or kind == "redrive"  # the accepted redrive: its inbox signal is spent
        change = self._apply(execution, signal, applied)
        change.fence = lease.fence  # type: ignore[union-attr]  # held: _lease kept only those (and ended ones)
        if signal.signal_id is not None:
            change.consumed_signals.append(signal.signal_id)
        applied.changes.append(change)

    async def _lease(self, batch: list[Signal]) -> list[Signal]:
        """The batch's signals whose executions this worker holds, claiming the others first. Signals of an
        execution another worker holds are dropped (that worker has them, or reads them from the inbox); those
        of an execution that ended are kept, to be removed."""
        missing = {signal.execution_arn for signal in batch if signal.execution_arn not in self.leases}
        if not missing:
            return batch
        granted = await self.claim(list(missing))
        # executions this worker took over (new ones are created held by their worker): what the previous
        # holder left is picked up
        await self.pick_up(granted, resume=False)
        ended = set()
        for arn in missing - {lease.execution_arn for lease in granted}:
            if arn in self.leases:
                continue  # claimed meanwhile by this worker's coordinator
            record = await self.store.get_execution(arn)
            if record is None or record.status != RUNNING:
                ended.add(arn)
        kept = [signal for signal in batch if signal.execution_arn in self.leases or signal.execution_arn in ended]
        self._release([signal for signal in batch if not (signal.execution_arn in self.leases
                                                           or signal.execution_arn in ended)])
        return kept

    def _apply(self, execution: Execution, signal: Signal, applied: _Applied) -> ExecutionChange:
        now = self.clock.now()
        arn = signal.execution_arn
        kind = signal.kind
        change = ExecutionChange(arn, RUNNING, None)
        effects: list[Effect] = []
        if kind == "start":
            effects = execution.start(now)
            timeout = execution.program.timeout_seconds
            if timeout:
                change.timers.append(Timer(arn, "", "execution_timeout", 0,
                                           execution.start_time + timedelta(seconds=timeout)))
        elif kind == "task_ok":
            effects = execution.task_succeeded(signal.thread, signal.token, signal.payload, now)
        elif kind == "task_failed":
            error, cause = signal.payload
            effects = execution.task_failed(signal.thread, signal.token, error, cause, now)
        elif kind in ("timeout", "heartbeat_timeout"):
            effects = execution.task_timed_out(signal.thread, signal.token, now, heartbeat=kind == "heartbeat_timeout")
        elif kind == "timer":
            effects = execution.timer_fired(signal.thread, signal.token, now)
        elif kind == "execution_timeout":
            effects = execution.time_out(now)
        elif kind == "redrive":
            effects = execution.redrive(now)
            change.summary = {"stopDate": None, "output": None, "error": None, "cause": None}
            timeout = execution.program.timeout_seconds
            if timeout:
                change.timers.append(Timer(arn, "", "execution_timeout", 0, now + timedelta(seconds=timeout)))
        elif kind == "stop":
            error, cause = signal.payload
            if not execution.event_count:  # its start was abandoned (runtime/applying.py): the history begins still
                execution.begin(now)
            effects = execution.stop(error, cause, now)
        elif kind == "submitted":
            output, effect, handle = signal.payload
            if execution.awaits_task(signal.thread, signal.token):  # remember it: not sent again
                change.tasks.append(PendingTask(arn, signal.thread, signal.token, effect, effect.task_token,
                                                submitted=True, handle=handle))
            execution.task_submitted(signal.thread, signal.token, output, now)
        elif kind == "activity_started":
            worker, heartbeat = signal.payload
            if heartbeat and execution.awaits_task(signal.thread, signal.token):
                # an activity's heartbeat clock starts when a worker takes it (a queued task has no worker to beat)
                change.timers.append(Timer(arn, signal.thread, "heartbeat", signal.token,
                                           now + timedelta(seconds=heartbeat)))
            execution.activity_started(signal.thread, signal.token, worker, now)
        elif kind == "heartbeat":
            if execution.awaits_task(signal.thread, signal.token):
                change.timers.append(Timer(arn, signal.thread, "heartbeat", signal.token,
                                           now + timedelta(seconds=signal.payload)))
        if kind in ("task_ok", "task_failed", "timeout", "heartbeat_timeout"):
            change.finished_tasks.append(signal.thread)
            change.cancelled_timers += [(signal.thread, "task_timeout"), (signal.thread, "heartbeat")]
            applied.cancels.append((arn, signal.thread))
        if kind in TIMER_KIND:
            change.cancelled_timers.append((signal.thread, TIMER_KIND[kind]))
        for effect in effects:
            self._plan(execution, effect, change, applied)
        self._outcome(execution, change)
        applied.recorded.append((execution, change.events))
        return change

    @staticmethod
    def _outcome(execution: Execution, change: ExecutionChange) -> None:
        """What the signal left of the execution, into its change: the events, the status, the summary once it
        ended."""
        change.events = execution.take_events()
        change.status = execution.status
        if execution.status != RUNNING:
            change.summary = _summary(execution)

    @staticmethod
    def _position(execution: Execution, change: ExecutionChange) -> None:
        """The checkpoint, with its Maps' rows not written yet, into the last change of a batch to the execution
        (unless it succeeded: a failed execution keeps its position for a redrive); it may fail (data nested too
        deeply to be written)."""
        if execution.status != SUCCEEDED:
            iterations: Iterations = []
            listed = execution.stored_maps
            change.checkpoint = dumps(checkpoint(execution, iterations))
            change.iterations = [(map, index, dumps(value)) for map, index, value in iterations]
            change.ended_maps = [map for map in listed if map not in execution.stored_maps]

    def _plan(self, execution: Execution, effect: Effect, change: ExecutionChange, applied: _Applied) -> None:
        arn = execution.execution_arn
        now = self.clock.now()
        if isinstance(effect, StartTimer):
            change.timers.append(Timer(arn, effect.thread, "timer", effect.token, effect.due))
        elif isinstance(effect, InvokeTask):
            activity = effect.resource.arn if effect.resource.kind == "activity" else None
            task_token = effect.task_token or (f"{arn}#{effect.thread}#{effect.token}" if activity else None)
            change.tasks.append(PendingTask(arn, effect.thread, effect.token, effect, task_token, activity))
            if effect.timeout_seconds:
                change.timers.append(Timer(arn, effect.thread, "task_timeout", effect.token,
                                           now + timedelta(seconds=effect.timeout_seconds)))
            if effect.heartbeat_seconds and task_token and not activity:  # activities: when a worker takes it
                change.timers.append(Timer(arn, effect.thread, "heartbeat", effect.token,
                                           now + timedelta(seconds=effect.heartbeat_seconds)))
            if activity is None:
                applied.dispatches.append((arn, effect))
            else:
                applied.activities.add(activity)
        elif isinstance(effect, CancelTask):
            change.finished_tasks.append(effect.thread)
            change.cancelled_timers += [(effect.thread, "task_timeout"), (effect.thread, "heartbeat")]
            applied.cancels.append((arn, effect.thread))

    # ------------------------------------------------------------------ executions in memory

    async def _load(self, arn: str, loaded: dict[str, tuple[ExecutionRecord, str | None] | None]) -> Execution | None:
        """The execution in memory, or restored from its checkpoint (`loaded` has the rows read for the batch)."""
        execution = self.memory.get(arn)
        if execution is not None:
            return execution
        if arn in loaded:
            row = loaded.pop(arn)  # read before this batch changed anything: restored once
            if row is None:
                return None
            record, document = row
        else:  # left memory during this batch (the cache is full): read again
            found = await self.store.get_execution(arn)
            if found is None:
                return None
            record, document = found, await self.store.get_checkpoint(arn)
        if document is None and record.status != RUNNING:
            return None
        return await self._remember(record, document)

    async def _remember(self, record: ExecutionRecord, document: str | None) -> Execution:
        """The execution of a record and its checkpoint (None: not started yet), kept in memory."""
        program = await self._programs(record.definition_digest, record.type)
        identity = {**_identity(record), "limits": self.limits}
        if document is None:
            execution = Execution(program, **identity)
        else:
            position = loads(document)
            iterations: dict[str, dict[int, JSON]] = {map: {} for map in position.get("maps", ())}
            if iterations:  # its running Maps' items and results
                for map, index, body in await self.store.get_iterations(record.arn, list(iterations)):
                    iterations[map][index] = loads(body)
            execution = restore(program, position, iterations, **identity)
        lease = self.leases.get(record.arn)
        self.memory.keep(record.arn, execution, record, lease.fence if lease is not None else None)
        return execution

    async def _calls_of(self, arn: str) -> tuple[Integrations, str | None]:
        """The integrations an execution's tasks may use, and its role."""
        record = self.memory.record(arn) or await self.store.get_execution(arn)
        return self._integrations(record), record.role_arn if record is not None else None

    def _finished(self, arn: str) -> None:
        self.memory.drop(arn)
        self.leases.drop([arn])
        self.heard_end(arn)

    def heard_end(self, arn: str) -> None:
        """The execution ended (here, or on another worker that announced it): its watchers and waiters are told."""
        for future in self._waiters.pop(arn, []):
            if not future.done():
                future.set_result(None)


def _lines(texts: list[str], limit: int) -> Iterator[str]:
    """The texts joined by newlines, in payloads of at most `limit` bytes (a text longer than that alone)."""
    payload = ""
    for text in texts:
        if payload and len(payload) + 1 + len(text) > limit:
            yield payload
            payload = ""
        payload = f"{payload}\n{text}" if payload else text
    if payload:
        yield payload


class Memory:
    """The executions kept in memory, with their records and the fence of the lease they were loaded under (a
    claim whose fence does not follow it finds them stale: another worker held them since). Beyond `size`, the
    least recently used are dropped: a waiting execution is a row."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Execution, ExecutionRecord, int | None]] = OrderedDict()

    def __contains__(self, arn: str) -> bool:
        return arn in self._entries

    def get(self, arn: str) -> Execution | None:
        entry = self._entries.get(arn)
        if entry is None:
            return None
        self._entries.move_to_end(arn)
        return entry[0]

    def record(self, arn: str) -> ExecutionRecord | None:
        entry = self._entries.get(arn)
        return entry[1] if entry is not None else None

    def keep(self, arn: str, execution: Execution, record: ExecutionRecord, fence: int | None) -> None:
        self._entries[arn] = (execution, record, fence)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def claimed(self, lease: Lease) -> None:
        entry = self._entries.get(lease.execution_arn)
        if entry is not None:
            fence = entry[2]
            if fence is None or fence + 1 != lease.fence:
                del self._entries[lease.execution_arn]
            else:
                self._entries[lease.execution_arn] = (entry[0], entry[1], lease.fence)

    def drop(self, arn: str) -> None:
        self._entries.pop(arn, None)


@dataclass(slots=True)
class _Context:
    """What applying one execution's signals needs besides them (runtime/applying.py's Group.context)."""

    execution: Execution | None
    lease: Lease | None
    restored: bool  # read from its checkpoint for this batch (not in memory before)
    applied: bool = False  # a signal of the batch was applied to it already
    redriven: bool = False  # a redrive was applied to it in this batch (a resume or its inbox signal)


@dataclass(slots=True)
class _Applied:
    """What applying one execution's signals of a batch did: ready to commit, then to perform."""

    signals: list[Signal]
    changes: list[ExecutionChange] = field(default_factory=list)
    dispatches: list[tuple[str, InvokeTask]] = field(default_factory=list)  # tasks to send once committed
    cancels: list[tuple[str, str]] = field(default_factory=list)  # (execution, thread) of tasks abandoned
    activities: set[str] = field(default_factory=set)  # activities given a task
    recorded: list[tuple[Execution, list[dict]]] = field(default_factory=list)  # the events of each execution
    failure: Exception | None = None  # the execution could not go on: it fails alone (Runtime._fail_alone)
    poisoned: bool = False  # this is that failure


def _identity(record: ExecutionRecord) -> dict:
    """The Execution constructor's arguments for an execution record."""
    return {
        "input": loads(record.input),
        "execution_arn": record.arn,
        "name": record.name,
        "state_machine_arn": record.version_arn or record.state_machine_arn,
        "state_machine_name": record.state_machine_name,
        "role_arn": record.role_arn,
        "start_time": record.start_date,
        "seed": record.arn,
        "region": record.arn.split(":")[3],
        "redrive_count": record.redrive_count,
    }


def _summary(execution: Execution) -> dict:
    summary: dict[str, Any] = {"stopDate": execution.stop_time}
    if execution.output_text is not None:
        summary["output"] = execution.output_text
    if execution.error is not None:
        summary["error"] = execution.error
    if execution.cause is not None:
        summary["cause"] = execution.cause
    return summary
