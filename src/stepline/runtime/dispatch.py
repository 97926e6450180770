"""The runtime's tasks: invocations dispatched once their commit is durable, their answers turned into signals;
and GetActivityTask's long polls, woken when a worker (of any process) schedules an activity task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from stepline.engine.effects import InvokeTask
from stepline.errors import StatesError
from stepline.runtime.integrations.registry import Integration, TaskCall, resolve
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import PendingTask, Store

log = logging.getLogger("stepline.runtime.worker")


class Tasks:
    """The task invocations in flight in this worker, one per (execution, thread), each answered by a signal."""

    def __init__(self, store: Store, *, integrations: Callable[[str], Awaitable[Sequence[Integration]]],
                 submit: Callable[[Signal], None], post: Callable[[Signal], Awaitable[None]],
                 settle: Callable[[], None], poll_seconds: float) -> None:
        self._store = store
        self._integrations = integrations  # execution ARN -> the integrations its tasks may use
        self._submit = submit
        self._post = post
        self._settle = settle  # called when an invocation ends (the runtime may have become idle)
        self._poll_seconds = poll_seconds
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}  # (execution, thread) -> its invocation
        self._activity_waiters: dict[str, list[asyncio.Future[None]]] = {}

    def __bool__(self) -> bool:
        return bool(self._in_flight)

    def __len__(self) -> int:
        return len(self._in_flight)

    def running(self, arn: str, thread: str) -> bool:
        return (arn, thread) in self._in_flight

    def executions(self) -> set[str]:
        """The executions with a task in flight (their leases are kept)."""
        return {arn for arn, _ in self._in_flight}

    def dispatch(self, arn: str, effect: InvokeTask) -> None:
        self.cancel(arn, effect.thread)
        self._in_flight[(arn, effect.thread)] = asyncio.create_task(self._invoke(arn, effect))

    def cancel(self, arn: str, thread: str) -> None:
        task = self._in_flight.pop((arn, thread), None)
        if task is not None:
            task.cancel()

    def drop(self, arns: set[str]) -> None:
        """Cancel the tasks of these executions (another worker took them over and dispatches them again)."""
        for arn, thread in [key for key in self._in_flight if key[0] in arns]:
            self.cancel(arn, thread)

    async def close(self) -> None:
        tasks = list(self._in_flight.values())
        self._in_flight.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _invoke(self, arn: str, effect: InvokeTask) -> None:
        thread, token = effect.thread, effect.token
        try:
            call = TaskCall.of(effect, arn)
            integration = resolve(await self._integrations(arn), call)
            result = await integration.invoke(call)
        except StatesError as error:
            submitted = getattr(error, "submitted", None)
            if submitted is not None:
                self._submit(Signal("submitted", arn, thread, token, (submitted, effect)))
            self._submit(Signal("task_failed", arn, thread, token, (error.error, error.cause)))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an integration's bug must not lose the execution: the task fails
            log.exception("the task integration of %s failed", arn, extra={"execution": arn, "thread": thread})
            self._submit(Signal("task_failed", arn, thread, token, ("States.TaskFailed", str(error))))
        else:
            if result.submitted is not None:
                self._submit(Signal("submitted", arn, thread, token, (result.submitted, effect)))
            if not result.awaiting_callback:
                self._submit(Signal("task_ok", arn, thread, token, result.output))
        finally:
            if self._in_flight.get((arn, thread)) is asyncio.current_task():
                del self._in_flight[(arn, thread)]
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
