"""The durable store: one interface, with SQLite (default) and, later, PostgreSQL behind it.

Records cross this boundary as plain dicts (AWS's member names, datetimes as aware `datetime`), except the
runtime's own rows (Timer, PendingTask, ExecutionChange). Every write of one execution's progress is one
ExecutionChange, and a batch of them is one transaction (group commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from stepline.jsonvalue import JSON

RESOURCE_KINDS = ("state_machine", "version", "alias", "activity")


class StoreError(Exception):
    """The store cannot do what was asked (corrupt file, read-only or full disk, lost connection)."""


@dataclass(frozen=True, slots=True)
class Timer:
    """A due time of an execution: a Wait, a Retry interval, a task timeout or heartbeat, the execution timeout."""

    execution_arn: str
    thread: str  # "" for the execution itself
    kind: str  # "timer" (Wait and Retry), "task_timeout", "heartbeat", "execution_timeout"
    token: int
    due: datetime


@dataclass(frozen=True, slots=True)
class PendingTask:
    """A task invocation that was committed and has not answered yet; re-dispatched after a restart."""

    execution_arn: str
    thread: str
    token: int
    effect: JSON  # the InvokeTask effect as JSON
    task_token: str | None = None  # callbacks and activities are answered with it
    activity_arn: str | None = None
    worker: str | None = None  # the activity worker that took it (GetActivityTask)


@dataclass(slots=True)
class ExecutionChange:
    """Everything one signal did to one execution, committed together."""

    execution_arn: str
    status: str | None  # None: the execution row is left as it is (a stale timer is only removed)
    checkpoint: str | None  # JSON text of the interpreter's position; None once the execution ended
    events: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # output, error, cause, stopDate, redriveCount, ... when they change
    timers: list[Timer] = field(default_factory=list)  # set (replacing any of the same thread and kind)
    cancelled_timers: list[tuple[str, str]] = field(default_factory=list)  # (thread, kind)
    tasks: list[PendingTask] = field(default_factory=list)
    finished_tasks: list[str] = field(default_factory=list)  # threads whose task answered or was cancelled


class Store(Protocol):
    """What stepline keeps: resources (state machines, versions, aliases, activities, tags), definitions,
    executions with their histories, and the runtime's timers and pending tasks."""

    async def close(self) -> None: ...

    # resources
    async def create_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> bool: ...
    async def put_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> None: ...
    async def get_resource(self, kind: str, arn: str) -> dict | None: ...
    async def list_resources(self, kind: str, *, parent: str | None = None) -> list[dict]: ...
    async def delete_resource(self, kind: str, arn: str) -> bool: ...
    async def get_tags(self, arn: str) -> dict[str, str]: ...
    async def set_tags(self, arn: str, tags: dict[str, str]) -> None: ...
    async def remove_tags(self, arn: str, keys: list[str]) -> None: ...

    # definitions, content-addressed: executions keep the definition they started with
    async def put_definition(self, digest: str, definition: str) -> None: ...
    async def get_definition(self, digest: str) -> str | None: ...

    # executions
    async def create_execution(self, record: dict) -> dict | None: ...  # None when created; else the existing one
    async def get_execution(self, arn: str) -> dict | None: ...
    async def list_executions(self, *, state_machine_arn: str | None = None, status: str | None = None,
                              map_run_arn: str | None = None) -> list[dict]: ...
    async def update_execution(self, arn: str, summary: dict, status: str | None = None) -> None: ...
    async def get_events(self, arn: str, *, after: int = 0, limit: int = 1000, reverse: bool = False) -> list[dict]: ...
    async def get_checkpoint(self, arn: str) -> str | None: ...

    # the runtime
    async def commit(self, changes: list[ExecutionChange]) -> None: ...
    async def running_executions(self) -> list[str]: ...
    async def due_timers(self, now: datetime, limit: int) -> list[Timer]: ...
    async def next_timer_due(self) -> datetime | None: ...
    async def pending_tasks(self, arn: str | None = None) -> list[PendingTask]: ...
    async def find_task(self, task_token: str) -> PendingTask | None: ...
    async def claim_activity_task(self, activity_arn: str, worker: str) -> PendingTask | None: ...
