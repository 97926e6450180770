"""Task integrations: how a Task's Resource is answered. The built-ins go in through the same door as any later one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stepline.engine.effects import InvokeTask
from stepline.engine.resources import Resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCall:
    """One invocation of a Task's resource."""

    resource: Resource
    parameters: JSON
    state_name: str
    invocation: int  # 0-based, counted per state across the execution (MockConfigFile response numbers)
    execution_arn: str
    task_token: str | None = None
    timeout_seconds: float | None = None

    @classmethod
    def of(cls, effect: InvokeTask, execution_arn: str) -> TaskCall:
        """The call an execution's InvokeTask effect makes."""
        return cls(resource=effect.resource, parameters=effect.parameters, state_name=effect.state_name,
                   invocation=effect.invocation, execution_arn=execution_arn, task_token=effect.task_token,
                   timeout_seconds=effect.timeout_seconds)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A successful answer. `submitted` is the service's immediate response for .waitForTaskToken/.sync tasks;
    with `awaiting_callback` the result itself comes later, through SendTaskSuccess/SendTaskFailure."""

    output: JSON
    submitted: JSON = None
    awaiting_callback: bool = False


class TaskFailure(StatesError):
    """A failed task whose request had reached its service (.waitForTaskToken/.sync): the history shows the
    submission (TaskSubmitted) before the failure."""

    def __init__(self, error: str, cause: str | None, submitted: JSON) -> None:
        super().__init__(error, cause)
        self.submitted = submitted


class Integration(Protocol):
    name: str

    def handles(self, call: TaskCall) -> bool: ...

    async def invoke(self, call: TaskCall) -> TaskResult: ...  # a failure raises StatesError(error, cause)


def resolve(integrations: Sequence[Integration], call: TaskCall) -> Integration:
    """The first integration that handles the call (mocks are listed first)."""
    for integration in integrations:
        if integration.handles(call):
            return integration
    known = ", ".join(i.name for i in integrations) or "none"
    raise StatesError("States.Runtime", f"No integration handles the resource '{call.resource.arn}' of state "
                                        f"'{call.state_name}' (integrations: {known}). Register a local function "
                                        "(--functions) or mock it (--mock-config).")
