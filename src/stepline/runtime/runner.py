"""Drive one Execution in memory: perform the effects it asks for (task calls, timers) until it ends.

Task calls run concurrently as asyncio tasks (a Map with MaxConcurrency 10 has up to 10 in flight);
timers sit in a heap. In a server (`off_loop`), the interpreter's steps run in a worker thread, never on the event
loop, which serves everything else while a step evaluates its expressions (up to their limits: expr/limits.py);
alone in its process (`stepline run`, a test), an execution saves the thread hops. With a VirtualClock, time jumps
to the next timer as soon as no task is in flight, so a year-long Wait takes no real time and the history still
shows the year.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from stepline.engine.effects import CancelTask, Effect, InvokeTask, StartTimer
from stepline.engine.interpreter import RUNNING, Execution
from stepline.jsonvalue import JSON
from stepline.runtime.applying import STEPS
from stepline.runtime.clock import Clock
from stepline.runtime.integrations.registry import (AwaitCallback, Failed, Integrations, Outcome, Submitted,
                                                    Succeeded, TaskCall)
from stepline.runtime.metrics import Metrics, integration_of, state_machine_of

log = logging.getLogger(__name__)


class ExecutionRunner:
    """Runs one execution to its end (or until stopped)."""

    def __init__(self, execution: Execution, integrations: Integrations, clock: Clock,
                 timeout_seconds: float | None = None, off_loop: bool = False,
                 recorded: Callable[[Execution, list[dict]], None] | None = None,
                 metrics: Metrics | None = None) -> None:
        self.execution = execution
        self._recorded = recorded  # told the events recorded by each step (execution logs); never blocks
        self._told = 0  # events told so far
        self.metrics = metrics  # a server's (ExpressRuns counts its runs); None for a run alone in its process
        self.off_loop = off_loop
        self.integrations = integrations
        self.clock = clock
        self._timers: list[tuple[datetime, int, str, int, str]] = []
        self._sequence = 0
        self._tasks: dict[tuple[str, int], asyncio.Task] = {}  # calls in flight (a submitted job's wait included)
        self._callbacks: set[tuple[str, int]] = set()  # tasks whose request reached its service, awaiting a token
        self._abandoned: set[asyncio.Task] = set()  # cancelled calls, stopping their jobs: awaited before the end
        self._results: asyncio.Queue = asyncio.Queue()
        self._deadline: datetime | None = None
        if timeout_seconds:
            self._deadline = execution.start_time + timedelta(seconds=timeout_seconds)

    async def run(self) -> Execution:
        execution = self.execution
        try:
            self._perform_effects(await self._step(execution.start, self.clock.now()))
            self._tell()
            while execution.status == RUNNING:
                await self._next_signal()
                self._tell()
        finally:
            for thread, token in list(self._tasks):
                self._abandon(thread, token)
            await asyncio.gather(*self._abandoned, return_exceptions=True)
            self._tell()
        return execution

    def _tell(self) -> None:
        if self._recorded is not None and len(self.execution.events) > self._told:
            self._recorded(self.execution, self.execution.events[self._told:])
            self._told = len(self.execution.events)

    async def _step(self, step: Callable[..., list[Effect]], *args: Any) -> list[Effect]:
        """Run an interpreter step (in a worker thread when `off_loop`)."""
        return await STEPS.run(step, *args) if self.off_loop else step(*args)

    def _perform_effects(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, InvokeTask):
                key = (effect.thread, effect.token)
                self._tasks[key] = asyncio.ensure_future(self._invoke(effect))
                if effect.timeout_seconds:  # a timer, so that virtual and scaled time apply to it as to a Wait
                    due = self.clock.now() + timedelta(seconds=effect.timeout_seconds)
                    self._push_timer(due, effect.thread, effect.token, "task_timeout")
            elif isinstance(effect, StartTimer):
                self._push_timer(effect.due, effect.thread, effect.token, "timer")
            elif isinstance(effect, CancelTask):
                self._abandon(effect.thread, effect.token)

    def _push_timer(self, due: datetime, thread: str, token: int, kind: str) -> None:
        self._sequence += 1
        heapq.heappush(self._timers, (due, self._sequence, thread, token, kind))

    def _abandon(self, thread: str, token: int) -> None:
        """The task's answer is no longer wanted: its call is cancelled (and its job, if it submitted one)."""
        self._callbacks.discard((thread, token))
        task = self._tasks.pop((thread, token), None)
        if task is not None:
            task.cancel()
            self._abandoned.add(task)
            task.add_done_callback(self._abandoned.discard)

    async def _invoke(self, effect: InvokeTask) -> None:
        execution = self.execution
        call = TaskCall.of(effect, execution.execution_arn, execution.execution_context.get("RoleArn"))
        submitted: list[JSON] = []  # the handle of a job this call submitted
        try:
            outcome = await self._perform(call, effect, submitted)
        except asyncio.CancelledError:
            if submitted:
                await self.integrations.cancel(call, submitted[0])
            raise
        await self._results.put((effect, outcome))

    async def _perform(self, call: TaskCall, effect: InvokeTask, submitted: list[JSON]) -> Outcome:
        began = time.perf_counter()
        outcome = await self.integrations.invoke(call)
        if isinstance(outcome, Submitted):
            submitted.append(outcome.handle)
            await self._results.put((effect, outcome))
            outcome = await self.integrations.wait(call, outcome.handle)
        if self.metrics is not None and isinstance(outcome, (Succeeded, Failed)):
            self.metrics.task_seconds.labels(integration_of(effect.resource)).observe(time.perf_counter() - began)
        return outcome

    async def _next_signal(self) -> None:
        execution = self.execution
        due = self._timers[0][0] if self._timers else None
        if self._deadline is not None and (due is None or self._deadline <= due):
            due, is_deadline = self._deadline, True
        else:
            is_deadline = False
        if not self._results.empty() or (self._tasks and due is None):
            effect, outcome = await self._results.get()
            await self._deliver(effect, outcome)
            return
        if due is None:
            if self._tasks:
                return
            if not self._callbacks:
                raise RuntimeError("the execution is waiting for nothing")  # a bug, not an input error
            thread, token = self._callbacks.pop()  # nothing else can happen: no API can answer here
            self._perform_effects(await self._step(
                execution.task_failed, thread, token, "States.Runtime", "The task waits for its task token, which "
                "nothing can send to an execution run in process: run it on `stepline serve`, or mock the task",
                self.clock.now()))
            return
        if self._tasks:  # wait for a result or the timer, whichever comes first
            try:
                remaining = (due - self.clock.now()).total_seconds()
                if getattr(self.clock, "virtual", False):
                    effect, outcome = await self._results.get()
                else:
                    scale = getattr(self.clock, "scale", 1) or 1
                    effect, outcome = await asyncio.wait_for(self._results.get(), max(0.0, remaining * scale))
                await self._deliver(effect, outcome)
                return
            except asyncio.TimeoutError:
                pass
        else:
            await self.clock.sleep_until(due)
        now = self.clock.now()
        if now < due:
            return
        if is_deadline:
            self._deadline = None
            self._perform_effects(await self._step(execution.time_out, now))
            return
        _, _, thread, token, kind = heapq.heappop(self._timers)
        if kind == "task_timeout":
            self._abandon(thread, token)
            self._perform_effects(await self._step(execution.task_timed_out, thread, token, now))
        else:
            self._perform_effects(await self._step(execution.timer_fired, thread, token, now))

    async def _deliver(self, effect: InvokeTask, outcome: Outcome) -> None:
        """A task's outcome goes to the execution."""
        execution = self.execution
        now = self.clock.now()
        key = thread, token = effect.thread, effect.token
        if key not in self._tasks:  # abandoned meanwhile (timed out, cancelled)
            return
        if isinstance(outcome, (Submitted, AwaitCallback)):  # the result comes later
            if isinstance(outcome, AwaitCallback):  # from a callback, not from a call in flight
                del self._tasks[key]
                self._callbacks.add(key)
            execution.task_submitted(thread, token, outcome.response, now)
            return
        del self._tasks[key]
        if outcome.submitted is not None:
            execution.task_submitted(thread, token, outcome.submitted, now)
        if isinstance(outcome, Succeeded):
            self._perform_effects(await self._step(execution.task_succeeded, thread, token, outcome.output, now))
        else:
            assert isinstance(outcome, Failed)
            self._perform_effects(await self._step(execution.task_failed, thread, token, outcome.error,
                                                   outcome.cause, now))


class ExpressRuns:
    """A server's Express executions: each runs to its end in a task that is kept (awaited at close; a failure is
    logged, never lost with the task), and is remembered for DescribeExecution: running ones as themselves, ended
    ones by their summary only (an ended execution's state and history would hold megabytes per Map of 1000 items).
    """

    def __init__(self, summarize: Callable[[Execution], Any], remembered: int = 10_000) -> None:
        self._summarize = summarize
        self._remembered = remembered
        self._executions: dict[str, Execution | Any] = {}  # ARN -> running Execution, or an ended one's summary
        self._running: dict[str, asyncio.Task[Execution]] = {}  # ARN -> the task running it

    def get(self, arn: str) -> Any:
        """The summary of the execution (running or ended), or None if it is not remembered."""
        execution = self._executions.get(arn)
        return self._summarize(execution) if isinstance(execution, Execution) else execution

    def start(self, runner: ExecutionRunner) -> None:
        """Run it in the background (StartExecution)."""
        arn = runner.execution.execution_arn
        task = asyncio.get_running_loop().create_task(self.run(runner))
        self._running[arn] = task
        task.add_done_callback(lambda _: self._ended(arn, task))

    async def run(self, runner: ExecutionRunner) -> Execution:
        """Run it to its end (StartSyncExecution); counted in the runner's metrics."""
        execution = runner.execution
        arn = execution.execution_arn
        self._executions[arn] = execution
        while len(self._executions) > self._remembered:
            self._executions.pop(next(iter(self._executions)))
        if runner.metrics is not None:
            runner.metrics.started.labels(state_machine_of(arn)).inc()
        try:
            return await runner.run()
        finally:
            if runner.metrics is not None:  # an Express execution keeps its whole history in memory
                runner.metrics.count_step(arn, execution.events, execution.status)
            if arn in self._executions:
                self._executions[arn] = self._summarize(execution)

    async def wait(self, arn: str) -> bool:
        """Until this Express execution, started here, has ended; False if it is not one."""
        task = self._running.get(arn)
        if task is None:
            return arn in self._executions
        await asyncio.wait([task])
        return True

    def _ended(self, arn: str, task: asyncio.Task[Execution]) -> None:
        self._running.pop(arn, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("an Express execution failed unexpectedly", exc_info=task.exception())

    async def close(self) -> None:
        """Stop the executions still running (Express executions do not outlive their server)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
