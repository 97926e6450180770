"""What the interpreter asks the runtime to do. The runtime performs effects; the interpreter never does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stepline.engine.resources import Resource
from stepline.jsonvalue import JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeTask:
    """Call a Task's resource; answer with Execution.task_succeeded / task_failed (same thread and token)."""

    thread: str
    token: int
    state_name: str
    resource: Resource
    parameters: JSON
    invocation: int  # 0-based count of invocations of this state in the execution (mock configs count them)
    timeout_seconds: float | None
    heartbeat_seconds: float | None
    task_token: str | None  # set for .waitForTaskToken tasks: the token a callback answers with
    credentials: JSON = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    """Wake the thread at `due` (a Wait, a Retry interval); answer with Execution.timer_fired."""

    thread: str
    token: int
    due: datetime
    purpose: str  # "wait" | "retry"


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTask:
    """A running task's result is no longer wanted (its branch was aborted or timed out)."""

    thread: str
    token: int


Effect = InvokeTask | StartTimer | CancelTask
