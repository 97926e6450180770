"""The durable runtime: Standard executions advanced by signals, every step committed before its effects.

One loop takes the signals that are ready (a start, a task's answer, a due timer, a stop), applies each to
its execution (restored from its checkpoint when it is not in memory), and commits what they did in one
transaction (group commit). Only then are the effects performed: tasks are dispatched and timers armed.
A crash at any moment leaves the store at a commit; on start, running executions continue from their
checkpoints, timers are rows that fire after a restart too, and task invocations that were committed but
not answered are dispatched again (at-least-once delivery, as AWS gives it).

A waiting execution is a row: an execution that only waits on a timer or a callback is dropped from memory
(beyond a bounded cache) and restored when its signal comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from stepline.engine.checkpoint import checkpoint, restore
from stepline.engine.effects import CancelTask, Effect, InvokeTask, StartTimer
from stepline.engine.interpreter import RUNNING, SUCCEEDED, Execution
from stepline.engine.program import Program
from stepline.engine.resources import describe_resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.registry import Integration, TaskCall, resolve
from stepline.runtime.store.base import ExecutionChange, PendingTask, Store, Timer

log = logging.getLogger(__name__)

BATCH = 512  # signals applied per group commit at most
CACHE = 2048  # executions kept in memory besides those with tasks in flight


@dataclass(frozen=True, slots=True)
class Signal:
    """Something that happened to an execution."""

    kind: str  # start, task_ok, task_failed, timeout, heartbeat_timeout, timer, execution_timeout, stop, heartbeat,
    #             activity_started, submitted, redrive
    execution_arn: str
    thread: str = ""
    token: int = 0
    payload: Any = None


class Runtime:
    """Runs the Standard executions of one store."""

    def __init__(self, store: Store, *, clock: Any, programs: Callable[[str, str], Any],
                 integrations: Callable[[dict], Sequence[Integration]]) -> None:
        self.store = store
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

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Recover: continue every running execution from its checkpoint; then run the loops."""
        for arn in await self.store.running_executions():
            document = await self.store.get_checkpoint(arn)
            if document is None:
                self.submit(Signal("start", arn))
            elif loads(document)["status"] != RUNNING:  # a redrive was accepted and not yet applied
                self.submit(Signal("redrive", arn))
        for task in await self.store.pending_tasks():
            # committed, never answered: dispatch again (not a callback whose request its service already has)
            if task.activity_arn is None and task.worker is None and not task.effect.get("submitted"):
                self._dispatch(task.execution_arn, task.effect)
        self._next_due = await self.store.next_timer_due()
        self._loops = [asyncio.create_task(self._signal_loop(), name="stepline-signals"),
                       asyncio.create_task(self._timer_loop(), name="stepline-timers")]

    async def close(self) -> None:
        for task in [*self._loops, *self._tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks.values(), return_exceptions=True)
        self._loops.clear()
        self._tasks.clear()

    def submit(self, signal: Signal) -> None:
        self._settled.clear()
        self._queue.put_nowait(signal)

    async def wait(self, arn: str, timeout: float | None = None) -> None:
        """Until the execution has ended (or the timeout passed)."""
        record = await self.store.get_execution(arn)
        if record is None or record["status"] != RUNNING:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(arn, []).append(future)
        await asyncio.wait_for(future, timeout)

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._busy and not self._tasks

    # ------------------------------------------------------------------ applying signals

    async def _signal_loop(self) -> None:
        while True:
            signal = await self._queue.get()
            batch = [signal]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            try:
                await self._apply_batch(batch)
            except Exception:  # a bug: keep the runtime alive; the executions concerned stay at their checkpoint
                log.exception("applying signals failed", extra={"signals": len(batch)})
            finally:
                self._busy = False
                self._committed.set()
                if self.idle:
                    self._settled.set()

    async def _apply_batch(self, batch: list[Signal]) -> None:
        changes: list[ExecutionChange] = []
        dispatches: list[tuple[str, JSON]] = []
        cancels: list[tuple[str, str]] = []
        fired: list[tuple[str, str, str]] = []
        for signal in batch:
            timer_kind = _TIMER_KIND.get(signal.kind)
            if timer_kind is not None:
                fired.append((signal.execution_arn, signal.thread, timer_kind))
            execution = await self._load(signal.execution_arn)
            ended = execution is None or (execution.status != RUNNING and signal.kind != "redrive")
            if ended or (signal.kind == "start" and execution.event_count):
                if timer_kind is not None:  # a timer of an execution that has ended: just remove it
                    changes.append(ExecutionChange(signal.execution_arn, None, None,
                                                   cancelled_timers=[(signal.thread, timer_kind)]))
                continue
            changes.append(self._apply(execution, signal, dispatches, cancels))
        try:
            await self.store.commit(changes)
        except Exception:
            for arn in {change.execution_arn for change in changes}:
                self._live.pop(arn, None)  # memory may be ahead of the store: reload from the checkpoint
            raise
        finally:
            self._firing.difference_update(fired)
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
                self._wake_activity_workers(activity)
        elif isinstance(effect, CancelTask):
            change.finished_tasks.append(effect.thread)
            change.cancelled_timers += [(effect.thread, "task_timeout"), (effect.thread, "heartbeat")]
            cancels.append((arn, effect.thread))

    # ------------------------------------------------------------------ executions in memory

    async def _load(self, arn: str) -> Execution | None:
        execution = self._live.get(arn)
        if execution is not None:
            self._live.move_to_end(arn)
            return execution
        record = await self.store.get_execution(arn)
        if record is None:
            return None
        program: Program = await self._programs(record["definitionDigest"], record.get("type", "STANDARD"))
        identity = _identity(record)
        document = await self.store.get_checkpoint(arn)
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
        return execution

    def _finished(self, arn: str) -> None:
        self._live.pop(arn, None)
        self._records.pop(arn, None)
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
                self.submit(Signal("activity_started", task.execution_arn, task.thread, task.token,
                                   (worker, task.effect.get("heartbeat_seconds"))))
                return task
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            future = asyncio.get_running_loop().create_future()
            self._activity_waiters.setdefault(activity_arn, []).append(future)
            try:
                await asyncio.wait_for(future, min(remaining, 1.0))  # polls too: another process may add tasks
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ timers

    def _arm(self, due: datetime) -> None:
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timer_wake.clear()
            due = self._next_due
            if due is None:
                await self._timer_wake.wait()
                continue
            if getattr(self.clock, "virtual", False):
                if not self.idle:  # virtual time moves only when nothing else can happen
                    self._settled.clear()
                    await self._settled.wait()
                    continue
                self.clock.advance_to(due)
            else:
                delay = (due - self.clock.now()).total_seconds() * (getattr(self.clock, "scale", 1) or 1)
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._timer_wake.wait(), min(delay, 60.0))
                    except asyncio.TimeoutError:
                        pass
                    continue
            for timer in await self.store.due_timers(self.clock.now(), BATCH):
                key = (timer.execution_arn, timer.thread, timer.kind)
                if key in self._firing:
                    continue
                self._firing.add(key)
                self.submit(Signal(_SIGNAL_OF_TIMER[timer.kind], timer.execution_arn, timer.thread, timer.token))
            self._next_due = await self.store.next_timer_due()
            if self._firing and self._next_due is not None and self._next_due <= self.clock.now():
                self._committed.clear()  # the fired timers are being committed: look again once a batch is
                await self._committed.wait()


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
