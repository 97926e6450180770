"""The runtime's tasks: invocations dispatched once their commit is durable, their answers turned into signals;
and GetActivityTask's long polls, woken when a worker (of any process) schedules an activity task."""

from __future__ import annotations

import asyncio
import logging

from stepline.engine.resources import describe_resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.integrations.registry import TaskCall, resolve
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import PendingTask

log = logging.getLogger("stepline.runtime.worker")


class TaskDispatch:
    """Mixed into Runtime (runtime/worker.py), whose state it uses."""

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
            log.exception("the task integration of %s failed", arn, extra={"execution": arn, "thread": thread})
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
