"""The durable runtime: Standard executions advanced by signals, every step committed before its effects.

One loop takes the signals that are ready (a start, a task's answer, a due timer, a stop), applies each to
its execution (restored from its checkpoint when it is not in memory), and commits what they did in one
transaction (group commit). Only then are the effects performed: tasks are dispatched and timers armed.
A crash at any moment leaves the store at a commit; on start, running executions continue from their
checkpoints, timers are rows that fire after a restart too, and task invocations that were committed but
not answered are dispatched again (at-least-once delivery, as AWS gives it).

A waiting execution is a row: an execution that only waits on a timer or a callback is dropped from memory
(beyond a bounded cache) and restored when its signal comes.

Several runtimes (processes, hosts) may share one store and behave as one. A runtime is a named worker: it
claims an execution (a lease) before applying anything to it and commits under the lease's fence, so a worker
that lost a lease cannot write (LeaseLost: the execution is dropped from memory). It renews the leases of
executions with tasks in flight and parks the others (a waiting execution costs a row, not a lease). The API
side posts its signals (stop, a callback's answer, a heartbeat, a redrive) to the store's inbox, which wakes
the worker holding the execution (or any worker, which claims it); due timers are claimed one worker each.
Recovery is the same path: a dead worker's leases expire, and another worker's claim dispatches its committed
and unanswered tasks again. On SQLite (one process) leases and notifications live in memory and cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from stepline.engine.checkpoint import checkpoint, restore
from stepline.engine.effects import CancelTask, Effect, InvokeTask, StartTimer
from stepline.engine.interpreter import RUNNING, SUCCEEDED, Execution
from stepline.engine.program import Program
from stepline.engine.resources import describe_resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.registry import Integration, TaskCall, resolve
from stepline.runtime.store.base import (
    ExecutionChange,
    InboxSignal,
    Lease,
    LeaseLost,
    PendingTask,
    Store,
    StoreError,
    Timer,
)

log = logging.getLogger(__name__)

BATCH = 512  # signals applied per group commit at most
CACHE = 2048  # executions kept in memory besides those with tasks in flight
LEASE_SECONDS = 30.0  # a dead worker's executions are taken over after at most this long
POLL_SECONDS = 1.0  # how often a worker looks for work that a lost notification did not announce
CONSUMED = 10_000  # inbox signal ids remembered after they were applied (a late read of one is ignored)


@dataclass(frozen=True, slots=True)
class Signal:
    """Something that happened to an execution."""

    kind: str  # start, task_ok, task_failed, timeout, heartbeat_timeout, timer, execution_timeout, stop, heartbeat,
    #             activity_started, submitted, redrive, resume (continue from the checkpoint after a claim)
    execution_arn: str
    thread: str = ""
    token: int = 0
    payload: Any = None
    signal_id: int | None = None  # the inbox signal this is (Store.post_signal), consumed when applied


def default_worker_name() -> str:
    """host:pid-xxxx, unique among the workers of one store."""
    return f"{socket.gethostname()}:{os.getpid()}-{os.urandom(2).hex()}"


def _wall() -> datetime:
    """Leases and reports run on real time, whatever the executions' clock (virtual time jumps years)."""
    return datetime.now(timezone.utc)


class Runtime:
    """Runs the Standard executions of one store."""

    def __init__(self, store: Store, *, clock: Any, programs: Callable[[str, str], Any],
                 integrations: Callable[[dict], Sequence[Integration]], worker: str | None = None,
                 lease_seconds: float = LEASE_SECONDS, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.worker = worker or default_worker_name()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._programs = programs  # (definition digest, machine type) -> awaitable Program
        self._integrations = integrations  # execution record -> its integrations
        self._queue: asyncio.Queue[Signal] = asyncio.Queue()
        self._live: OrderedDict[str, Execution] = OrderedDict()
        self._records: dict[str, dict] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task] = {}  # (execution, thread) -> dispatched invocation
        self._firing: set[tuple[str, str, str]] = set()  # timers handed to the loop and not committed yet
        self._next_due: datetime | None = None
        self._timer_wake = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._loops: list[asyncio.Task] = []
        self._busy = False
        self._settled = asyncio.Event()  # set whenever the runtime is idle (virtual time may then move)
        self._committed = asyncio.Event()  # set after each batch of signals is committed
        self._activity_waiters: dict[str, list[asyncio.Future]] = {}
        # several workers
        self._leases: dict[str, Lease] = {}  # the executions this worker holds
        self._fences: dict[str, int] = {}  # the fence of the last claim, per execution held or cached in memory
        self._touched: set[str] = set()  # executions with signals since the last renewal: keep their leases
        self._inbox: set[int] = set()  # inbox signals queued or being applied
        self._consumed: OrderedDict[int, None] = OrderedDict()  # inbox signals applied lately
        self._wanted: set[str] = set()  # executions announced by a notification, for the coordinator
        self._work = asyncio.Event()  # wakes the coordinator
        self._lock = asyncio.Lock()  # a batch and a renewal never interleave
        self._posting = 0  # post() calls on their way to the store
        self._coordinating = False
        self._scheduled_activities: set[str] = set()  # activities given a task by the batch being committed
        self._strays: set[int] = set()  # inbox signals no worker could take at the last poll
        self._joined = False  # started, and not closed

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Join the store's workers: take the executions that need one (after a crash, those the dead worker
        held: every running one on SQLite), continuing each from its checkpoint; then run the loops."""
        self._joined = True
        await self.store.end_claims(self.worker)
        await self.store.report_worker(self.worker, self._report_record(), now=_wall())
        while len(await self._pick_up(await self._claim(None))) >= BATCH:
            pass
        self._next_due = await self.store.next_timer_due()
        self._loops = [asyncio.create_task(self._signal_loop(), name="stepline-signals"),
                       asyncio.create_task(self._timer_loop(), name="stepline-timers"),
                       asyncio.create_task(self._coordinate(), name="stepline-coordinator"),
                       asyncio.create_task(self._listen(), name="stepline-notifications")]

    async def close(self) -> None:
        """Stop: cancel the loops and the tasks in flight, and hand the leases back, so that other workers take
        the executions at once (and dispatch the cancelled tasks again); then leave the workers' table."""
        if not self._joined:
            return
        self._joined = False
        busy = {arn for arn, _ in self._tasks}
        for task in [*self._loops, *self._tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks.values(), return_exceptions=True)
        self._loops.clear()
        self._tasks.clear()
        handed = [lease for arn, lease in self._leases.items() if arn in busy or arn in self._touched]
        parked = [lease for arn, lease in self._leases.items() if not (arn in busy or arn in self._touched)]
        self._leases.clear()
        try:
            await self.store.release_leases(handed)
            await self.store.release_leases(parked, waiting=True)
            await self.store.remove_worker(self.worker)
        except StoreError as error:  # the leases expire by themselves
            log.warning("could not hand back the leases", extra={"worker": self.worker, "error": str(error)})

    def submit(self, signal: Signal) -> None:
        """Queue a signal for this worker (the execution is claimed before it is applied)."""
        self._settled.clear()
        self._touched.add(signal.execution_arn)
        self._queue.put_nowait(signal)

    async def post(self, signal: Signal) -> None:
        """Deliver an API call's signal to its execution, whichever worker runs it: into the store's inbox
        (durable once this returns), then to the worker holding the execution (this one, or another that the
        store's notification wakes; a lost notification only delays it by a polling interval)."""
        self._posting += 1
        self._settled.clear()
        try:
            await self.store.post_signal(signal.execution_arn, signal.kind,
                                         {"thread": signal.thread, "token": signal.token, "payload": signal.payload})
            self._wake(signal.execution_arn)
        finally:
            self._posting -= 1

    async def wait(self, arn: str, timeout: float | None = None) -> None:
        """Until the execution has ended (or the timeout passed, raising TimeoutError), on any worker."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        held = arn in self._leases  # running here: its end resolves the future (the first look needs no read)
        while True:
            if not held:
                record = await self.store.get_execution(arn)
                if record is None or record["status"] != RUNNING:
                    return
            held = False
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise asyncio.TimeoutError(f"{arn} still running")
            future = loop.create_future()
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

    @property
    def idle(self) -> bool:
        return (self._queue.empty() and not self._busy and not self._tasks and not self._posting
                and not self._wanted and not self._coordinating)

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
                # the store failed (or a bug): nothing is known of these executions beyond their last commit (this
                # one's outcome may be unknown), and their signals are gone. Let them go: their leases expire and a
                # claim continues each from its checkpoint, dispatching its unanswered tasks again
                if isinstance(error, StoreError):
                    log.warning("applying signals failed", extra={"signals": len(batch), "error": str(error)})
                else:
                    log.exception("applying signals failed", extra={"signals": len(batch)})
                self._forget({signal.execution_arn for signal in batch}, cancel=False)
                self._inbox.difference_update(signal.signal_id for signal in batch)
                self._firing.difference_update((s.execution_arn, s.thread, _TIMER_KIND[s.kind]) for s in batch
                                               if s.kind in _TIMER_KIND)
            finally:
                self._busy = False
                self._committed.set()
                if self.idle:
                    self._settled.set()

    async def _apply_batch(self, batch: list[Signal]) -> None:
        batch = await self._lease(batch)
        changes: list[ExecutionChange] = []
        dispatches: list[tuple[str, JSON]] = []
        cancels: list[tuple[str, str]] = []
        fired: list[tuple[str, str, str]] = []
        leases = self._leases
        absent = list({signal.execution_arn for signal in batch if signal.execution_arn not in self._live})
        loaded: dict[str, tuple[dict, str | None] | None] = dict.fromkeys(absent)
        if absent:  # restored from their checkpoints, read at once
            loaded.update(await self.store.load_executions(absent))
        applied: set[str] = set()
        for signal in batch:
            arn = signal.execution_arn
            timer_kind = _TIMER_KIND.get(signal.kind)
            if timer_kind is not None:
                fired.append((arn, signal.thread, timer_kind))
            execution = await self._load(arn, loaded)
            lease = leases.get(arn)
            kind = signal.kind
            if kind == "resume" and execution is not None and lease is not None and arn not in applied:
                # claimed, and as its checkpoint left it: start it, or apply the redrive its row says was accepted
                # (only an execution restored from its checkpoint: one that ended here in memory is not redriven)
                redrive = execution.status != RUNNING and arn in absent
                kind = "start" if not execution.event_count else "redrive" if redrive else ""
                signal = replace(signal, kind=kind)
            ended = execution is None or (execution.status != RUNNING and kind != "redrive")
            if ended or not kind or kind == "resume" or (kind == "start" and execution.event_count) or (
                    kind == "redrive" and (execution.status == RUNNING or lease is None)):
                consumed = [signal.signal_id] if signal.signal_id is not None else []
                if timer_kind is not None or consumed:  # a timer or a signal nothing waits for: just remove it
                    changes.append(ExecutionChange(arn, None, None, consumed_signals=consumed,
                                                   cancelled_timers=[(signal.thread, timer_kind)] if timer_kind else [],
                                                   fence=lease.fence if lease is not None else None))
                continue
            applied.add(arn)
            change = self._apply(execution, signal, dispatches, cancels)
            change.fence = lease.fence  # type: ignore[union-attr]  # held: _lease kept only those (and ended ones)
            if signal.signal_id is not None:
                change.consumed_signals.append(signal.signal_id)
            changes.append(change)
        try:
            await self.store.commit(changes)
        except LeaseLost as lost:  # another worker took these: drop them; the others go again from their checkpoints
            self._scheduled_activities.clear()
            gone = set(lost.execution_arns)
            self._forget(gone, cancel=True)
            for change in changes:
                self._live.pop(change.execution_arn, None)  # memory is ahead of the store
            self._inbox.difference_update(s.signal_id for s in batch if s.execution_arn in gone)
            self._firing.difference_update(fired)
            rest = [s for s in batch if s.execution_arn not in gone]
            if rest:
                await self._apply_batch(rest)
            return
        except Exception:  # the outcome is unknown (a lost connection): _signal_loop lets the executions go
            self._scheduled_activities.clear()
            raise
        finally:
            self._firing.difference_update(fired)
        for change in changes:
            for signal_id in change.consumed_signals:
                self._inbox.discard(signal_id)
                self._consumed[signal_id] = None
        while len(self._consumed) > CONSUMED:
            self._consumed.popitem(last=False)
        for arn, thread in cancels:
            task = self._tasks.pop((arn, thread), None)
            if task is not None:
                task.cancel()
        for arn, effect in dispatches:
            self._dispatch(arn, effect)
        for change in changes:
            for timer in change.timers:
                self._arm(timer.due)
            if change.status not in (RUNNING, None):
                self._finished(change.execution_arn)
        if self._scheduled_activities:  # GetActivityTask long polls, in every process
            activities, self._scheduled_activities = self._scheduled_activities, set()
            for activity in activities:
                try:
                    await self.store.notify("activities", activity)
                except StoreError:  # their poll finds the task
                    pass

    async def _lease(self, batch: list[Signal]) -> list[Signal]:
        """The batch's signals whose executions this worker holds, claiming the others first. Signals of an
        execution another worker holds are dropped (that worker has them, or reads them from the inbox); those
        of an execution that ended are kept, to be removed."""
        missing = {signal.execution_arn for signal in batch} - self._leases.keys()
        if not missing:
            return batch
        granted = await self._claim(list(missing))
        # executions this worker took over (not new ones, claimed for the first time to be started): what the
        # previous holder left is picked up
        starts = {s.execution_arn for s in batch if s.kind == "start"}
        await self._pick_up([lease for lease in granted if lease.fence > 1 or lease.execution_arn not in starts],
                            resume=False)
        ended = set()
        for arn in missing - {lease.execution_arn for lease in granted}:
            if arn in self._leases:
                continue  # claimed meanwhile by this worker's coordinator
            record = await self.store.get_execution(arn)
            if record is None or record["status"] != RUNNING:
                ended.add(arn)
        kept = []
        for signal in batch:
            arn = signal.execution_arn
            if arn in self._leases or arn in ended:
                kept.append(signal)
                continue
            if signal.signal_id is not None:
                self._inbox.discard(signal.signal_id)
            timer_kind = _TIMER_KIND.get(signal.kind)
            if timer_kind is not None:
                self._firing.discard((arn, signal.thread, timer_kind))
        return kept

    def _apply(self, execution: Execution, signal: Signal, dispatches: list, cancels: list) -> ExecutionChange:
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
            effects = execution.stop(error, cause, now)
        elif kind == "submitted":
            output, effect = signal.payload
            t = execution.threads.get(signal.thread)
            if t is not None and t.token == signal.token and t.waiting == "task":  # remember it: not sent again
                change.tasks.append(PendingTask(arn, signal.thread, signal.token, {**effect, "submitted": True},
                                                effect["task_token"], None))
            execution.task_submitted(signal.thread, signal.token, output, now)
        elif kind == "activity_started":
            worker, heartbeat = signal.payload
            t = execution.threads.get(signal.thread)
            if heartbeat and t is not None and t.token == signal.token and t.waiting == "task":
                # an activity's heartbeat clock starts when a worker takes it (a queued task has no worker to beat)
                change.timers.append(Timer(arn, signal.thread, "heartbeat", signal.token,
                                           now + timedelta(seconds=heartbeat)))
            execution.activity_started(signal.thread, signal.token, worker, now)
        elif kind == "heartbeat":
            t = execution.threads.get(signal.thread)
            if t is not None and t.token == signal.token and t.waiting == "task":
                change.timers.append(Timer(arn, signal.thread, "heartbeat", signal.token,
                                           now + timedelta(seconds=signal.payload)))
        if kind in ("task_ok", "task_failed", "timeout", "heartbeat_timeout"):
            change.finished_tasks.append(signal.thread)
            change.cancelled_timers += [(signal.thread, "task_timeout"), (signal.thread, "heartbeat")]
            cancels.append((arn, signal.thread))
        if kind in _TIMER_KIND:
            change.cancelled_timers.append((signal.thread, _TIMER_KIND[kind]))
        for effect in effects:
            self._plan(execution, effect, change, dispatches, cancels, now)
        change.events = execution.take_events()
        change.status = execution.status
        if execution.status != SUCCEEDED:  # a failed execution keeps its position for a redrive
            change.checkpoint = dumps(checkpoint(execution))
        if execution.status != RUNNING:
            change.summary = _summary(execution)
        return change

    def _plan(self, execution: Execution, effect: Effect, change: ExecutionChange, dispatches: list, cancels: list,
              now: datetime) -> None:
        arn = execution.execution_arn
        if isinstance(effect, StartTimer):
            change.timers.append(Timer(arn, effect.thread, "timer", effect.token, effect.due))
        elif isinstance(effect, InvokeTask):
            document = asdict(effect)
            resource = describe_resource(effect.resource, execution.region)
            activity = effect.resource if resource.kind == "activity" else None
            task_token = effect.task_token or (f"{arn}#{effect.thread}#{effect.token}" if activity else None)
            document["task_token"] = task_token
            change.tasks.append(PendingTask(arn, effect.thread, effect.token, document, task_token, activity))
            if effect.timeout_seconds:
                change.timers.append(Timer(arn, effect.thread, "task_timeout", effect.token,
                                           now + timedelta(seconds=effect.timeout_seconds)))
            if effect.heartbeat_seconds and task_token and not activity:  # activities: when a worker takes it
                change.timers.append(Timer(arn, effect.thread, "heartbeat", effect.token,
                                           now + timedelta(seconds=effect.heartbeat_seconds)))
            if activity is None:
                dispatches.append((arn, document))
            else:
                self._scheduled_activities.add(activity)
        elif isinstance(effect, CancelTask):
            change.finished_tasks.append(effect.thread)
            change.cancelled_timers += [(effect.thread, "task_timeout"), (effect.thread, "heartbeat")]
            cancels.append((arn, effect.thread))

    # ------------------------------------------------------------------ executions in memory

    async def _load(self, arn: str, loaded: dict[str, tuple[dict, str | None] | None]) -> Execution | None:
        """The execution in memory, or restored from its checkpoint (`loaded` has the rows read for the batch)."""
        execution = self._live.get(arn)
        if execution is not None:
            self._live.move_to_end(arn)
            return execution
        if arn in loaded:
            row = loaded.pop(arn)  # read before this batch changed anything: restored once
            if row is None:
                return None
            record, document = row
        else:  # left memory during this batch (the cache is full): read again
            record = await self.store.get_execution(arn)
            if record is None:
                return None
            document = await self.store.get_checkpoint(arn)
        program: Program = await self._programs(record["definitionDigest"], record.get("type", "STANDARD"))
        identity = _identity(record)
        if document is None:
            if record["status"] != RUNNING:
                return None
            execution = Execution(program, **identity)
        else:
            execution = restore(program, loads(document), **identity)
        self._records[arn] = record
        self._live[arn] = execution
        while len(self._live) > CACHE:
            old, _ = self._live.popitem(last=False)
            self._records.pop(old, None)
            if old not in self._leases:
                self._fences.pop(old, None)
        return execution

    def _finished(self, arn: str) -> None:
        self._live.pop(arn, None)
        self._records.pop(arn, None)
        self._leases.pop(arn, None)
        self._fences.pop(arn, None)
        for future in self._waiters.pop(arn, []):
            if not future.done():
                future.set_result(None)

    # ------------------------------------------------------------------ tasks

    def _dispatch(self, arn: str, effect: JSON) -> None:
        key = (arn, effect["thread"])
        previous = self._tasks.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._tasks[key] = asyncio.create_task(self._invoke(arn, effect))

    async def _invoke(self, arn: str, effect: JSON) -> None:
        thread, token = effect["thread"], effect["token"]
        try:
            record = self._records.get(arn) or await self.store.get_execution(arn)
            region = arn.split(":")[3]
            call = TaskCall(resource=describe_resource(effect["resource"], region), parameters=effect["parameters"],
                            state_name=effect["state_name"], invocation=effect["invocation"], execution_arn=arn,
                            task_token=effect["task_token"], timeout_seconds=effect["timeout_seconds"])
            integration = resolve(self._integrations(record), call)
            result = await integration.invoke(call)
        except StatesError as error:
            submitted = getattr(error, "submitted", None)
            if submitted is not None:
                self.submit(Signal("submitted", arn, thread, token, (submitted, effect)))
            self.submit(Signal("task_failed", arn, thread, token, (error.error, error.cause)))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an integration's bug must not lose the execution: the task fails
            log.exception("task integration failed", extra={"execution": arn, "thread": thread})
            self.submit(Signal("task_failed", arn, thread, token, ("States.TaskFailed", str(error))))
        else:
            if result.submitted is not None:
                self.submit(Signal("submitted", arn, thread, token, (result.submitted, effect)))
            if not result.awaiting_callback:
                self.submit(Signal("task_ok", arn, thread, token, result.output))
        finally:
            current = self._tasks.get((arn, thread))
            if current is asyncio.current_task():
                del self._tasks[(arn, thread)]
            if self.idle:
                self._settled.set()

    # ------------------------------------------------------------------ activities and callbacks

    def _wake_activity_workers(self, activity_arn: str) -> None:
        for future in self._activity_waiters.pop(activity_arn, []):
            if not future.done():
                future.set_result(None)

    async def next_activity_task(self, activity_arn: str, worker: str, timeout: float) -> PendingTask | None:
        """GetActivityTask: the oldest unclaimed task of the activity, waiting up to `timeout` seconds for one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            task = await self.store.claim_activity_task(activity_arn, worker)
            if task is not None:
                await self.post(Signal("activity_started", task.execution_arn, task.thread, task.token,
                                       (worker, task.effect.get("heartbeat_seconds"))))
                return task
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            future = asyncio.get_running_loop().create_future()
            self._activity_waiters.setdefault(activity_arn, []).append(future)
            try:
                await asyncio.wait_for(future, min(remaining, self.poll_seconds))  # a notification may be lost
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ timers

    def _arm(self, due: datetime) -> None:
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        virtual = getattr(self.clock, "virtual", False)
        while True:
            self._timer_wake.clear()
            due = self._next_due
            if virtual:  # one process: virtual time moves only when nothing else can happen
                if due is None:
                    await self._timer_wake.wait()
                    continue
                if not self.idle:
                    self._settled.clear()
                    await self._settled.wait()
                    continue
                self.clock.advance_to(due)
            else:
                delay = self.poll_seconds if due is None else \
                    (due - self.clock.now()).total_seconds() * (getattr(self.clock, "scale", 1) or 1)
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._timer_wake.wait(), min(delay, self.poll_seconds))
                    except asyncio.TimeoutError:  # look again: other workers set timers too
                        self._next_due = await self._next_timer_due()
                    continue
            try:
                timers = await self.store.claim_due_timers(self.worker, self.clock.now(), BATCH, self.lease_seconds)
            except StoreError as error:
                log.warning("cannot claim due timers", extra={"worker": self.worker, "error": str(error)})
                timers = []
            for timer in timers:
                key = (timer.execution_arn, timer.thread, timer.kind)
                if key in self._firing:
                    continue
                self._firing.add(key)
                self.submit(Signal(_SIGNAL_OF_TIMER[timer.kind], timer.execution_arn, timer.thread, timer.token))
            self._next_due = await self._next_timer_due()
            if self._next_due is not None and self._next_due <= self.clock.now():
                if self._firing:  # the fired timers are being committed: look again once a batch is
                    self._committed.clear()
                    await self._committed.wait()
                elif not timers:  # due, but claimed by another worker (or of an execution it holds)
                    try:
                        await asyncio.wait_for(self._timer_wake.wait(), self.poll_seconds)
                    except asyncio.TimeoutError:
                        pass

    async def _next_timer_due(self) -> datetime | None:
        try:
            return await self.store.next_timer_due()
        except StoreError:
            return self.clock.now() + timedelta(seconds=self.poll_seconds)

    # ------------------------------------------------------------------ several workers

    def _wake(self, arn: str) -> None:
        """A signal was posted for the execution: have the coordinator deliver it (or claim the execution)."""
        self._wanted.add(arn)
        self._settled.clear()
        self._work.set()

    async def _claim(self, arns: list[str] | None) -> list[Lease]:
        """Claim these executions (or, with None, any that need a worker); the leases granted."""
        leases = await self.store.claim_runnable(self.worker, self.lease_seconds, len(arns) if arns else BATCH,
                                                 now=_wall(), execution_arns=arns)
        for lease in leases:
            arn = lease.execution_arn
            if self._fences.get(arn, -1) + 1 != lease.fence:  # another worker held it since: memory is stale
                self._live.pop(arn, None)
                self._records.pop(arn, None)
            self._fences[arn] = lease.fence
            self._leases[arn] = lease
        return leases

    async def _pick_up(self, leases: list[Lease], *, resume: bool = True) -> list[Lease]:
        """Take over executions just claimed: dispatch again the tasks that were committed and not answered
        (at-least-once, as AWS delivers), have each continue from its checkpoint (start it, or apply an accepted
        redrive), and read its inbox."""
        arns = [lease.execution_arn for lease in leases]
        if not arns:
            return leases
        try:
            pending = await self.store.pending_tasks(among=arns)
        except StoreError:  # held but not picked up: they must not be parked; their leases expire instead
            self._forget(arns, cancel=False)
            raise
        for task in pending:
            # not an activity's or a callback's (their answer comes through the API), nor one running here
            if task.activity_arn is None and task.worker is None and not task.effect.get("submitted") \
                    and (task.execution_arn, task.thread) not in self._tasks:
                self._dispatch(task.execution_arn, task.effect)
        if resume:
            for arn in arns:
                self.submit(Signal("resume", arn))
        self._take(await self.store.signals(arns))  # if this fails, the poll reads them
        return leases

    def _take(self, signals: Iterable[InboxSignal]) -> None:
        """Queue inbox signals not queued yet (nor applied already)."""
        for signal in signals:
            if signal.id in self._inbox or signal.id in self._consumed:
                continue
            self._inbox.add(signal.id)
            body = signal.payload if isinstance(signal.payload, dict) else {}
            self.submit(Signal(signal.kind, signal.execution_arn, body.get("thread", ""), body.get("token", 0),
                               body.get("payload"), signal.id))

    def _forget(self, arns: Iterable[str], *, cancel: bool) -> None:
        """Let executions go without telling the store (a lease lost, or a commit whose outcome is unknown):
        what memory holds of them may be ahead of the store; with `cancel`, their tasks in flight are dropped
        too (the worker that took them over dispatches them again)."""
        arns = set(arns)
        for arn in arns:
            self._leases.pop(arn, None)
            self._live.pop(arn, None)
            self._records.pop(arn, None)
            self._fences.pop(arn, None)
        if cancel:
            for key in [key for key in self._tasks if key[0] in arns]:
                self._tasks.pop(key).cancel()
        if arns:
            log.warning("executions let go", extra={"worker": self.worker, "executions": len(arns),
                                                    "lease_lost": cancel})

    async def _coordinate(self) -> None:
        """Claims, inbox reads, lease renewals, reports and polls: what makes this runtime one worker among
        several. Waits for a notification or the next poll, whichever comes first."""
        loop = asyncio.get_running_loop()
        next_poll = next_renewal = next_report = loop.time()
        while True:
            if not self._wanted:
                try:
                    await asyncio.wait_for(self._work.wait(),
                                           max(0.0, min(next_poll, next_renewal, next_report) - loop.time()))
                except asyncio.TimeoutError:
                    pass
            self._work.clear()
            self._coordinating = True
            wanted, self._wanted = self._wanted, set()
            try:
                if wanted:
                    await self._pick_up_among(wanted)
                if loop.time() >= next_renewal:
                    await self._renew()
                    next_renewal = loop.time() + self.lease_seconds / 3
                if loop.time() >= next_report:
                    await self.store.report_worker(self.worker, self._report_record(), now=_wall())
                    next_report = loop.time() + self._report_seconds
                if loop.time() >= next_poll:
                    await self._poll()
                    next_poll = loop.time() + self.poll_seconds
            except Exception as error:  # the store is away (a restart): try again after a polling interval
                self._wanted |= wanted
                if isinstance(error, StoreError):
                    log.warning("the store failed", extra={"worker": self.worker, "error": str(error)})
                else:
                    log.exception("coordinating failed", extra={"worker": self.worker})
                next_poll = loop.time() + self.poll_seconds
                await asyncio.sleep(self.poll_seconds)
            finally:
                self._coordinating = False
                if self.idle:
                    self._settled.set()

    async def _pick_up_among(self, arns: set[str]) -> None:
        """Signals were posted for these executions: read them if this worker holds the execution, else claim it."""
        held = [arn for arn in arns if arn in self._leases]
        if held:
            self._take(await self.store.signals(held))
        others = [arn for arn in arns if arn not in self._leases]
        if others:
            await self._pick_up(await self._claim(others))

    async def _poll(self) -> None:
        """What notifications may have missed: executions that need a worker (claimed until none is left), and
        inbox signals of executions held here. Signals no worker took twice in a row are removed if their
        execution has ended."""
        while len(await self._pick_up(await self._claim(None))) >= BATCH:
            pass
        signals = await self.store.signals(None, limit=BATCH)
        self._take(signal for signal in signals if signal.execution_arn in self._leases)
        strays = [signal for signal in signals if signal.execution_arn not in self._leases]
        again = [signal for signal in strays if signal.id in self._strays]
        self._strays = {signal.id for signal in strays}
        for arn in {signal.execution_arn for signal in again}:
            record = await self.store.get_execution(arn)
            if record is None or record["status"] != RUNNING:
                await self.store.commit([ExecutionChange(arn, None, None, consumed_signals=[
                    signal.id for signal in again if signal.execution_arn == arn])])

    async def _renew(self) -> None:
        """Keep the leases of executions with work in flight; park the ones that only wait."""
        async with self._lock:
            busy = {arn for arn, _ in self._tasks} | self._touched
            self._touched = set()
            keep = [lease for arn, lease in self._leases.items() if arn in busy]
            park = [lease for arn, lease in self._leases.items() if arn not in busy]
            if keep:
                renewed = await self.store.renew_leases(keep, self.lease_seconds, now=_wall())
                for lease in renewed:
                    self._leases[lease.execution_arn] = lease
                self._forget({lease.execution_arn for lease in keep} - {lease.execution_arn for lease in renewed},
                             cancel=True)
            if park:
                # let go first: if the answer is lost, the parking may have happened, and a commit under a parked
                # lease would write an execution nobody holds (what the store did not park expires instead)
                for lease in park:
                    del self._leases[lease.execution_arn]
                    if lease.execution_arn not in self._live:
                        self._fences.pop(lease.execution_arn, None)
                await self.store.release_leases(park, waiting=True)

    async def _listen(self) -> None:
        """Notifications from every process on the store: signals posted (the holder reads them, or a worker
        claims the execution) and activity tasks scheduled (GetActivityTask long polls wake)."""
        while True:
            try:
                async with self.store.listen(["signals", "activities"]) as notifications:
                    async for notification in notifications:
                        if notification.channel == "signals":
                            self._wake(notification.payload)
                        else:
                            self._wake_activity_workers(notification.payload)
            except StoreError as error:  # reconnect; the polls cover what was missed meanwhile
                log.warning("lost the notifications", extra={"worker": self.worker, "error": str(error)})
                await asyncio.sleep(self.poll_seconds)

    def _report_record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "leases": len(self._leases),
                "tasks": len(self._tasks), "leaseSeconds": self.lease_seconds, "reportSeconds": self._report_seconds}

    @property
    def _report_seconds(self) -> float:
        return min(self.lease_seconds / 3, 5.0)


_TIMER_KIND = {"timer": "timer", "timeout": "task_timeout", "heartbeat_timeout": "heartbeat",
               "execution_timeout": "execution_timeout"}
_SIGNAL_OF_TIMER = {timer: signal for signal, timer in _TIMER_KIND.items()}


def _identity(record: dict) -> dict:
    """The Execution constructor's arguments for an execution record."""
    return {
        "input": loads(record["input"]),
        "execution_arn": record["executionArn"],
        "name": record["name"],
        "state_machine_arn": record.get("stateMachineVersionArn") or record["stateMachineArn"],
        "state_machine_name": record["stateMachineArn"].split(":")[6],
        "role_arn": record.get("roleArn", ""),
        "start_time": record["startDate"],
        "seed": record["executionArn"],
        "region": record["executionArn"].split(":")[3],
        "redrive_count": record.get("redriveCount", 0),
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
