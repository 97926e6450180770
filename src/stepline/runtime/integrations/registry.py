"""Task integrations: how a Task's Resource is answered, in one contract for every integration and both execution
types. The built-ins go in through the same door as any later one.

An integration answers a `TaskCall` with an `Outcome`:
- `Succeeded(output)`: the task's result (request-response);
- `Failed(error, cause)`: the task's failure, named as Step Functions names it (raising StatesError is the same);
- `Submitted(response, handle)`: a `.sync` job was started; `handle` (JSON) is committed with the pending task, and
  the result comes from `Integration.wait(call, handle)`, called again with the same handle after a restart, so a
  job is never submitted twice;
- `AwaitCallback(response)`: the request reached its service (`.waitForTaskToken`); the result comes through
  SendTaskSuccess/SendTaskFailure.
`Succeeded` and `Failed` may carry `submitted`: the service's response to a request that was submitted first (a
mocked `.sync` task stands for the whole exchange), shown in the history as TaskSubmitted, and `inspection`:
what TestState's TRACE level reports of the call (the HTTP Task's request and response).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass

from stepline.engine.effects import InvokeTask
from stepline.engine.resources import Resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON

log = logging.getLogger("stepline.runtime.integrations")

AWS = "aws"  # a route's endpoint that means AWS itself (runtime/integrations/routes.py)
_KEYS = uuid.UUID("6f1c5b1e-3c55-4f3a-9a55-2b1d6f0c7e21")


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCall:
    """One invocation of a Task's resource."""

    resource: Resource
    parameters: JSON
    state_name: str
    invocation: int  # 0-based, counted per state across the execution (MockConfigFile response numbers)
    execution_arn: str
    idempotency_key: str  # the same for this invocation across crashes and re-dispatches; new for each retry
    role_arn: str | None = None  # the state machine's role (assumed with --assume-role)
    credentials: JSON = None  # the Task's Credentials field, evaluated: {"RoleArn": ...}
    task_token: str | None = None
    timeout_seconds: float | None = None
    endpoint: str | None = None  # a route's (--routes): the endpoint URL its AWS calls go to, or AWS itself

    @classmethod
    def of(cls, effect: InvokeTask, execution_arn: str, role_arn: str | None = None) -> TaskCall:
        """The call an execution's InvokeTask effect makes."""
        key = str(uuid.uuid5(_KEYS, f"{execution_arn}#{effect.thread}#{effect.token}"))
        return cls(resource=effect.resource, parameters=effect.parameters, state_name=effect.state_name,
                   invocation=effect.invocation, execution_arn=execution_arn, idempotency_key=key, role_arn=role_arn,
                   credentials=effect.credentials, task_token=effect.task_token,
                   timeout_seconds=effect.timeout_seconds)


@dataclass(frozen=True, slots=True)
class Succeeded:
    output: JSON
    submitted: JSON = None
    inspection: JSON = None  # what TestState's TRACE level shows of the exchange (the HTTP Task's request, response)


@dataclass(frozen=True, slots=True)
class Failed:
    error: str
    cause: str | None
    submitted: JSON = None
    inspection: JSON = None


@dataclass(frozen=True, slots=True)
class Submitted:
    response: JSON
    handle: JSON


@dataclass(frozen=True, slots=True)
class AwaitCallback:
    response: JSON


Outcome = Succeeded | Failed | Submitted | AwaitCallback
Ended = Succeeded | Failed


class Integration:
    """An integration: `handles` says which calls it answers; the rest have defaults for what it does not do."""

    name = "integration"

    def handles(self, call: TaskCall) -> bool:
        raise NotImplementedError

    async def invoke(self, call: TaskCall) -> Outcome:
        raise NotImplementedError

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        """Until the job `invoke` submitted ends (also after a restart, in another worker)."""
        return Failed("States.Runtime", f"The integration {self.name} cannot wait for a submitted job")

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        """The task was abandoned (timed out, its branch failed, its execution stopped): stop its job."""

    async def open(self) -> None:
        """Before the first call (a server's start)."""

    async def close(self) -> None:
        """At the server's end."""


class Integrations:
    """The integrations one execution may use, in order: the first that handles a call answers it."""

    def __init__(self, integrations: Iterable[Integration]) -> None:
        self.members: tuple[Integration, ...] = tuple(integrations)

    def __iter__(self) -> Iterator[Integration]:
        return iter(self.members)

    async def open(self) -> None:
        for integration in self.members:
            await integration.open()

    async def close(self) -> None:
        for integration in self.members:
            await integration.close()

    def resolve(self, call: TaskCall) -> Integration | None:
        for integration in self.members:
            if integration.handles(call):
                return integration
        return None

    def handles(self, call: TaskCall) -> bool:
        return self.resolve(call) is not None

    def _unhandled(self, call: TaskCall) -> Failed:
        known = ", ".join(i.name for i in self.members) or "none"
        return Failed("States.Runtime", f"No integration handles the resource '{call.resource.arn}' of state "
                                        f"'{call.state_name}' (integrations: {known}). Register a local function "
                                        "(--functions), mock it (--mock-config) or route it (--routes).")

    async def invoke(self, call: TaskCall) -> Outcome:
        """The one way a task is performed, for Standard and Express executions and TestState alike."""
        integration = self.resolve(call)
        if integration is None:
            return self._unhandled(call)
        return await _guarded(integration, call, integration.invoke(call))

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        integration = self.resolve(call)
        if integration is None:
            return self._unhandled(call)
        outcome = await _guarded(integration, call, integration.wait(call, handle))
        assert isinstance(outcome, (Succeeded, Failed))
        return outcome

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        integration = self.resolve(call)
        if integration is not None:
            try:
                await integration.cancel(call, handle)
            except Exception as error:  # the task is abandoned either way
                log.warning("could not cancel the job of %s: %s", call.execution_arn, error,
                            extra={"execution": call.execution_arn, "error": str(error)})


async def _guarded(integration: Integration, call: TaskCall, work: Awaitable[Outcome]) -> Outcome:
    try:
        outcome = await work
    except StatesError as error:
        return Failed(error.error, error.cause)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # an integration's bug must not lose the execution: the task fails
        log.exception("the integration %s failed", integration.name, extra={"execution": call.execution_arn})
        return Failed("States.TaskFailed", f"The integration {integration.name} failed unexpectedly: "
                                           f"{type(error).__name__}: {error}")
    if not isinstance(outcome, (Succeeded, Failed, Submitted, AwaitCallback)):
        return Failed("States.TaskFailed", f"The integration {integration.name} gave no outcome")
    return outcome

