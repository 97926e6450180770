"""The runtime's tasks: invocations dispatched once their commit is durable, their answers turned into signals;
and GetActivityTask's long polls, woken when a worker (of any process) schedules an activity task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Histogram

from stepline.engine.effects import InvokeTask
from stepline.jsonvalue import JSON
from stepline.runtime.integrations.registry import (AwaitCallback, Failed, Integrations, Submitted, Succeeded,
                                                    TaskCall)
from stepline.runtime.metrics import integration_of
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import PendingTask, Store

log = logging.getLogger("stepline.runtime.worker")

Key = tuple[str, str]  # (execution, thread)


class Tasks:
    """The task invocations in flight in this worker, one per (execution, thread), each answered by a signal. A
    `.sync` job's handle is committed (the "submitted" signal) before it is waited for, so a restart resumes the
    wait instead of submitting the job again."""

    def __init__(self, store: Store, *, calls: Callable[[str], Awaitable[tuple[Integrations, str | None]]],
                 submit: Callable[[Signal], None], post: Callable[[Signal], Awaitable[None]],
                 settle: Callable[[], None], poll_seconds: float, task_seconds: Histogram) -> None:
        self._store = store
        self._task_seconds = task_seconds  # by integration: the calls performed here, until their result
        self._calls = calls  # execution ARN -> the integrations its tasks may use, and its role
        self._submit = submit
        self._post = post
        self._settle = settle  # called when an invocation ends (the runtime may have become idle)
        self._poll_seconds = poll_seconds
        self._in_flight: dict[Key, asyncio.Task[None]] = {}
        self._jobs: dict[Key, tuple[Integrations, TaskCall, JSON]] = {}  # submitted jobs being waited for
        self._cancelling: set[asyncio.Task[None]] = set()
        self._activity_waiters: dict[str, list[asyncio.Future[None]]] = {}

    def performing(self) -> bool:
        """Whether a call is under way (waiting for a submitted job is not: under virtual time, the clock moves on
        meanwhile, as the job may be a nested execution that waits for its timers)."""
        return len(self._in_flight) > len(self._jobs)

    def __len__(self) -> int:
        return len(self._in_flight)

    def running(self, arn: str, thread: str) -> bool:
        return (arn, thread) in self._in_flight

    def executions(self) -> set[str]:
        """The executions with a task in flight (their leases are kept)."""
        return {arn for arn, _ in self._in_flight}

    def dispatch(self, arn: str, effect: InvokeTask, handle: JSON = None) -> None:
        """Perform the task; with the handle of its submitted job, wait for that job instead."""
        self._stop((arn, effect.thread))
        self._in_flight[(arn, effect.thread)] = asyncio.create_task(self._perform(arn, effect, handle))

    def cancel(self, arn: str, thread: str) -> None:
        """The task is abandoned (answered, timed out, its branch or execution ended): its job, if any, is
        stopped."""
        job = self._stop((arn, thread))
        if job is not None:
            integrations, call, handle = job
            task = asyncio.create_task(integrations.cancel(call, handle))
            self._cancelling.add(task)
            task.add_done_callback(self._cancelling.discard)

    def drop(self, arns: set[str]) -> None:
        """Stop waiting for the tasks of these executions (another worker took them over and performs them
        again); their jobs go on."""
        for key in [key for key in self._in_flight if key[0] in arns]:
            self._stop(key)

    def _stop(self, key: Key) -> tuple[Integrations, TaskCall, JSON] | None:
        task = self._in_flight.pop(key, None)
        if task is not None:
            task.cancel()
        return self._jobs.pop(key, None)

    async def close(self) -> None:
        tasks = [*self._in_flight.values(), *self._cancelling]
        self._in_flight.clear()
        self._jobs.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _perform(self, arn: str, effect: InvokeTask, handle: JSON) -> None:
        key, thread, token = (arn, effect.thread), effect.thread, effect.token
        began = time.perf_counter()
        try:
            integrations, role_arn = await self._calls(arn)
            call = TaskCall.of(effect, arn, role_arn)
            if handle is None:
                outcome = await integrations.invoke(call)
                if isinstance(outcome, Submitted):
                    handle = outcome.handle
                    self._submit(Signal("submitted", arn, thread, token, (outcome.response, effect, handle)))
            if handle is not None:
                self._jobs[key] = (integrations, call, handle)
                outcome = await integrations.wait(call, handle)
            if isinstance(outcome, AwaitCallback):
                self._submit(Signal("submitted", arn, thread, token, (outcome.response, effect, None)))
            elif isinstance(outcome, (Succeeded, Failed)):
                self._task_seconds.labels(integration_of(effect.resource)).observe(time.perf_counter() - began)
                if outcome.submitted is not None:
                    self._submit(Signal("submitted", arn, thread, token, (outcome.submitted, effect, None)))
                if isinstance(outcome, Succeeded):
                    self._submit(Signal("task_ok", arn, thread, token, outcome.output))
                else:
                    self._submit(Signal("task_failed", arn, thread, token, (outcome.error, outcome.cause)))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the store could not say what the execution may use: the task fails
            log.warning("the task of %s could not be performed: %s", arn, error, extra={"execution": arn})
            self._submit(Signal("task_failed", arn, thread, token, ("States.TaskFailed", str(error))))
        finally:
            if self._in_flight.get(key) is asyncio.current_task():
                del self._in_flight[key]
                self._jobs.pop(key, None)
            self._settle()

    # ------------------------------------------------------------------ activities

    def wake_activity_workers(self, activity_arn: str) -> None:
        for future in self._activity_waiters.pop(activity_arn, []):
            if not future.done():
                future.set_result(None)

    async def next_activity_task(self, activity_arn: str, worker: str, timeout: float) -> PendingTask | None:
        """GetActivityTask: the oldest unclaimed task of the activity, waiting up to `timeout` seconds for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            task = await self._store.claim_activity_task(activity_arn, worker)
            if task is not None:
                await self._post(Signal("activity_started", task.execution_arn, task.thread, task.token,
                                        (worker, task.effect.heartbeat_seconds)))
                return task
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            future: asyncio.Future[None] = loop.create_future()
            self._activity_waiters.setdefault(activity_arn, []).append(future)
            try:
                await asyncio.wait_for(future, min(remaining, self._poll_seconds))  # a notification may be lost
            except asyncio.TimeoutError:
                pass
