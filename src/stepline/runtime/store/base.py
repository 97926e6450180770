"""The durable store's interface: SQLite (default, one process) or PostgreSQL (several processes), both the one
SqlStore of core.py over a connector (sqlite.py, postgres.py).

Records cross this boundary typed: executions and resources as the records of records.py, the runtime's own rows
as the dataclasses below (Timer, PendingTask, ExecutionChange, Lease, InboxSignal). Every write of one execution's
progress is one ExecutionChange, and a batch of them is one transaction (group commit).

Several workers on one database coordinate through leases: a worker claims an execution (`claim_runnable`),
gets a Lease whose `fence` grows with every claim, and commits that execution's changes with the fence; a
worker whose lease was taken over cannot commit (LeaseLost). Due timers are claimed the same way, each by one
worker. `notify` and `listen` wake workers on new work; they poll too, so a lost notification only delays.

What the API side has to tell a running execution (a stop, a callback's answer, a heartbeat, a redrive) goes
through a durable inbox: `post_signal` writes it and wakes the workers; the worker holding the execution reads
it with `signals` and consumes it in the commit that applies it (`ExecutionChange.consumed_signals`). Workers
report themselves in `workers` (`report_worker`, `list_workers`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from stepline.engine.effects import InvokeTask
from stepline.jsonvalue import JSON
from stepline.runtime.store.records import ExecutionRecord, Kind, Stored


class StoreError(Exception):
    """The store cannot do what was asked (corrupt file, read-only or full disk, lost connection)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written for now (a lost connection, a full or read-only disk): nothing was
    written; the same work succeeds once it is back."""


class LeaseLost(StoreError):
    """A commit carried the fence of a lease that another worker has claimed since: nothing of it was written."""

    def __init__(self, execution_arns: list[str]) -> None:
        super().__init__(f"The lease of {', '.join(execution_arns)} was claimed by another worker; not committed")
        self.execution_arns = execution_arns


class SchemaTooNew(StoreError):
    """The store was written by a newer stepline (its schema version is above the one this stepline knows)."""


@dataclass(frozen=True, slots=True)
class Purged:
    """What one step of retention deleted (Store.purge_closed)."""

    executions: int  # deleted with every row of theirs
    more: bool  # whether more may be left to delete: a full batch, or a history longer than the step's pages


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
    effect: InvokeTask
    task_token: str | None = None  # callbacks and activities are answered with it
    activity_arn: str | None = None
    worker: str | None = None  # the activity worker that took it (GetActivityTask)
    submitted: bool = False  # it reached its service: not sent again
    handle: JSON = None  # a submitted .sync job's, to wait for it again after a restart


@dataclass(slots=True)
class ExecutionChange:
    """Everything one signal did to one execution, committed together."""

    execution_arn: str
    status: str | None  # None: the execution row is left as it is (a stale timer is only removed)
    checkpoint: str | None  # JSON text of the interpreter's position; None once the execution ended
    # rows of its Maps' items and results that the checkpoint leaves out: (map, index, JSON text), engine/checkpoint.py
    iterations: list[tuple[str, int, str]] = field(default_factory=list)
    ended_maps: list[str] = field(default_factory=list)  # Maps whose rows go: no checkpoint needs them any more
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # output, error, cause, stopDate, ... when they change
    timers: list[Timer] = field(default_factory=list)  # set (replacing any of the same thread and kind)
    cancelled_timers: list[tuple[str, str]] = field(default_factory=list)  # (thread, kind)
    tasks: list[PendingTask] = field(default_factory=list)
    finished_tasks: list[str] = field(default_factory=list)  # threads whose task answered or was cancelled
    fence: int | None = None  # the Lease.fence the change was made under; None: no lease check
    consumed_signals: list[int] = field(default_factory=list)  # InboxSignal ids applied by this change


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on a running execution until `expires`; `fence` grows with every claim of it."""

    execution_arn: str
    worker: str
    fence: int
    expires: datetime


@dataclass(frozen=True, slots=True)
class InboxSignal:
    """A signal posted for an execution (post_signal), waiting in the inbox until a commit consumes it."""

    id: int  # grows with every post: signals of one execution are applied in id order
    execution_arn: str
    kind: str  # the runtime's signal kinds: stop, task_ok, task_failed, heartbeat, redrive, ...
    payload: JSON


@dataclass(frozen=True, slots=True)
class Notification:
    """A wake-up sent with Store.notify: the channel (as named by the sender) and an optional payload."""

    channel: str
    payload: str = ""


class Listener(Protocol):
    """What Store.listen returns: `async with store.listen(["work"]) as notifications: async for n in ...`.

    Listening starts when the block is entered. Waiting for the next notification is cancellation safe, so
    `await asyncio.wait_for(anext(notifications), poll_interval)` is how a worker waits for work or a poll."""

    async def __aenter__(self) -> AsyncIterator[Notification]: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


class Store(Protocol):
    """What stepline keeps: resources (state machines, versions, aliases, activities, tags), definitions,
    executions with their histories, and the runtime's timers and pending tasks."""

    async def close(self) -> None: ...

    @property
    def shared(self) -> bool:
        """Whether workers of other processes share the store (PostgreSQL), rather than this process alone."""

    # resources
    async def create_resource(self, kind: Kind[Stored], record: Stored, *, parent: str | None = None) -> bool: ...
    async def put_resource(self, kind: Kind[Stored], record: Stored, *, parent: str | None = None) -> None: ...
    async def get_resource(self, kind: Kind[Stored], arn: str) -> Stored | None: ...
    async def list_resources(self, kind: Kind[Stored], *, parent: str | None = None) -> list[Stored]: ...
    async def delete_resource(self, kind: Kind[Any], arn: str) -> bool: ...
    async def get_tags(self, arn: str) -> dict[str, str]: ...
    async def set_tags(self, arn: str, tags: dict[str, str]) -> None: ...
    async def remove_tags(self, arn: str, keys: list[str]) -> None: ...

    # definitions, content-addressed: executions keep the definition they started with
    async def put_definition(self, digest: str, definition: str) -> None: ...
    async def get_definition(self, digest: str) -> str | None: ...

    # executions
    async def create_execution(self, record: ExecutionRecord, *,
                               lease: Lease | None = None) -> ExecutionRecord | None:
        """None when created; else the existing execution's record. With a lease (fence 1), the new execution
        is created held by its worker: no other worker's poll takes it before its creator starts it. Without
        one, it is created for any worker to claim, and channel "signals" is notified with its ARN."""
    async def get_execution(self, arn: str) -> ExecutionRecord | None: ...
    async def list_executions(self, *, state_machine_arn: str | None = None, status: str | None = None,
                              map_run_arn: str | None = None, name: str | None = None, after: str | None = None,
                              limit: int | None = None) -> list[ExecutionRecord]:
        """The matching executions, newest first: up to `limit`, those created before the execution `after`
        (an ARN: the last one of the previous page)."""
    async def update_execution(self, arn: str, summary: dict[str, Any], status: str | None = None) -> None: ...
    async def get_events(self, arn: str, *, after: int = 0, limit: int = 1000,
                         reverse: bool = False) -> list[dict[str, Any]]: ...
    async def get_checkpoint(self, arn: str) -> str | None: ...
    async def load_executions(self, arns: list[str]) -> dict[str, tuple[ExecutionRecord, str | None]]:
        """The records and checkpoints of several executions at once (those that exist), to restore them."""
    async def get_iterations(self, arn: str, maps: list[str]) -> list[tuple[str, int, str]]:
        """The rows of these Maps' items and results that the execution's commits wrote (map, index, JSON text)."""

    # the runtime
    async def commit(self, changes: list[ExecutionChange]) -> None:
        """Write the changes in one transaction, with the writes of concurrent callers (group commit); return
        once durable. If a change's fence is not its execution's current one, raise LeaseLost and write none
        of these changes (the other callers' are unaffected)."""

    async def running_executions(self) -> list[str]: ...

    async def purge_closed(self, closed_before: datetime, limit: int, pages: int) -> Purged:
        """Retention: delete up to `limit` executions that closed before `closed_before` (oldest first), with
        their histories and every row of theirs, in one transaction that deletes `pages` pages of history at
        most: a longer history is deleted over the next calls, before its execution. Running executions are
        never touched."""

    async def purge_express_map_runs(self, started_before: datetime, limit: int) -> int:
        """Retention: delete the Map Runs (and their rows) of up to `limit` Express executions, which are not
        stored, whose Map Runs began before `started_before`; how many Express executions' runs were deleted."""

    async def reclaim_space(self, pages: int) -> int:
        """Give up to `pages` pages freed by deletions back to the file system (SQLite's incremental vacuum; on
        PostgreSQL autovacuum does it); how many free pages are left."""

    async def count_running(self) -> int:
        """How many executions are RUNNING (one count query, on an index: read when metrics are scraped)."""

    async def due_timers(self, now: datetime, limit: int) -> list[Timer]: ...
    async def next_timer_due(self) -> datetime | None: ...
    # schedules: a schedule's next due time is a timer of kind "schedule" under its ARN, claimed as any timer
    async def set_schedule_due(self, arn: str, token: int, due: datetime) -> None:
        """Set the schedule's next due time (`token`: its nominal time in epoch seconds, `due` within its window)."""
    async def advance_schedule(self, arn: str, token: int, following: tuple[int, datetime] | None) -> bool:
        """Move the schedule from the due time `token` to the following one (None: it has no more); False, and
        nothing written, when its due time is no longer `token` (another worker moved it)."""
    async def clear_schedule_due(self, arn: str) -> None: ...
    async def schedule_due_times(self) -> dict[str, tuple[int, datetime]]:
        """Every schedule's (token, due) by ARN."""

    async def pending_tasks(self, arn: str | None = None, *, among: list[str] | None = None) -> list[PendingTask]:
        """Task invocations committed and not answered, in creation order: of one execution, of several
        (`among`), or of all."""
    async def find_task(self, task_token: str) -> PendingTask | None: ...
    async def claim_activity_task(self, activity_arn: str, worker: str) -> PendingTask | None:
        """GetActivityTask: the oldest unclaimed task of the activity, now the worker's; two claimers never
        get the same task (FOR UPDATE SKIP LOCKED on PostgreSQL)."""

    # several workers on one store
    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        """Claim up to `limit` RUNNING executions whose lease is free or expired, oldest first; each claim raises
        the execution's fence. Claimed rows held by a concurrent claimer are skipped, never waited for.

        With `execution_arns`, only among those (a worker that has a signal or a due timer for them). Without,
        only the executions that need a worker: never started, with signals in the inbox, or handed back or
        left by a worker whose lease expired; an execution parked with `release_leases(waiting=True)` needs
        none until a signal is posted for it or a timer of it is due."""

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        """Extend the leases that are still the worker's (same fence); the ones missing from the answer are lost."""

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        """Give up leases that are still held. Handed back (a stopping worker): any worker's claim_runnable
        takes them at once. `waiting`: the executions only wait on timers or callbacks; they are parked, and
        claimed again by name when their signal or timer comes."""

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        """Due timers, each handed to one worker for `claim_seconds` (the commit that applies it removes it;
        if the worker dies first, another claims it once the claim expires). Timers of executions whose lease
        another worker holds are left to that worker."""

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` (in every process sharing the store, on PostgreSQL)."""

    def listen(self, channels: list[str]) -> Listener:
        """An async context manager giving the notifications of `channels` as an async iterator."""

    # the inbox: signals for executions that another worker may be running
    async def post_signal(self, execution_arn: str, kind: str, payload: JSON = None) -> int:
        """Add a signal to the execution's inbox (durable once this returns) and notify channel "signals" with
        the execution's ARN; its id."""

    async def signals(self, execution_arns: list[str] | None = None, *, limit: int = 1000) -> list[InboxSignal]:
        """The inbox's signals (of these executions, or of all), oldest first, without consuming them. A commit
        consumes them (`consumed_signals`); an execution that ends loses the ones left."""

    # workers
    async def report_worker(self, name: str, record: dict[str, Any], *, now: datetime) -> None:
        """Record that the worker `name` is alive at `now`, with what it says of itself (host, pid, leases)."""

    async def list_workers(self) -> list[dict[str, Any]]:
        """Every worker's last report: its record plus "name" and "heartbeat", by name."""

    async def remove_worker(self, name: str) -> None:
        """Forget a worker (it stopped cleanly)."""

    async def end_claims(self, worker: str) -> None:
        """A worker starting under the name of one that died (names are unique among live workers): that one's
        leases and timer claims end now instead of when they expire, so a restarted worker goes on at once."""
