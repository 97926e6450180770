"""The store, written once: what stepline keeps, in named queries, over a connector per database.

SqlStore speaks in the store's terms (resources, executions and their histories, commits, the inbox, workers)
through the queries of sql/queries.sql, plus the few each database writes its own way (sql/sqlite_queries.sql,
sql/postgres_queries.sql). A connector (sqlite.py, postgres.py) runs them off the event loop and knows what only
its database knows: placeholders, locks and leases, notifications, which errors mean "not now", the schema.

Writes go through one writer with group commit: the writes queued while a transaction runs are committed
together in the next one, and each caller's await returns once its write is committed. A group's commits are
folded per execution into one write per table (`folded_writes`). When a group fails, its writes run again one
per transaction, so that a write the database refuses fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from importlib.resources import files
from typing import Any, Protocol, TypeVar, cast

from stepline.jsonvalue import JSON, dumps
from stepline.runtime.store.base import (
    ExecutionChange,
    InboxSignal,
    Lease,
    LeaseLost,
    Listener,
    PendingTask,
    Purged,
    StoreError,
    StoreUnavailable,
    Timer,
)
from stepline.runtime.store.codec import (
    encode_events,
    encode_record,
    encode_task,
    execution_from_text,
    event_window,
    events_between,
    follow_one_another,
    history_pages,
    moment,
    resource_from_text,
    signal_from_row,
    task_from_row,
    timer_from_row,
    worker_from_row,
)
from stepline.runtime.store.records import ExecutionRecord, Kind, Stored

log = logging.getLogger("stepline.runtime.store")

Row = tuple[Any, ...]
Params = Mapping[str, Any]
T = TypeVar("T")
NO_LIMIT = 2**62  # LIMIT of list_executions when none is asked (SQLite takes no NULL there)
MAX_KEPT_RESOURCES = 10_000  # resource records kept in memory (see SqlStore._resources)
# the kinds kept: what StartExecution reads, and only this process's API writes (a CLI command in another process
# may write others to the same file: `stepline schedules pause` does)
KEPT_KINDS = frozenset({"state_machine", "version", "alias"})


def sql_blocks(file: str, marker: str) -> dict[str, str]:
    """The `-- MARKER: KEY` blocks of a file of sql/, keyed; their own comment lines left out."""
    text = files(__package__).joinpath("sql", file).read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for chunk in re.split(rf"^-- {marker}: ", text, flags=re.MULTILINE)[1:]:
        key, _, body = chunk.partition("\n")
        blocks[key.strip()] = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
    return blocks


def load_queries(dialect: str, placeholders: Callable[[str], str]) -> dict[str, str]:
    """The named queries of a database: those of queries.sql and of <dialect>_queries.sql, with its placeholders."""
    common, own = sql_blocks("queries.sql", "name"), sql_blocks(f"{dialect}_queries.sql", "name")
    if common.keys() & own.keys():
        raise AssertionError(f"{dialect}_queries.sql defines again {sorted(common.keys() & own.keys())}")
    return {name: placeholders(query) for name, query in {**common, **own}.items()}


class Transaction(Protocol):
    """What a write does inside the writer's transaction. A write awaits nothing else: SQLite runs it to its end
    in its writer thread, where these calls return at once."""

    async def fetch(self, query: str, params: Params) -> list[Row]: ...
    async def execute(self, query: str, params: Params) -> None: ...

    async def execute_many(self, query: str, rows: list[dict[str, Any]]) -> None:
        """One statement for many rows (PostgreSQL: their columns as arrays; SQLite: a statement per row)."""

    async def fences(self, execution_arns: list[str]) -> dict[str, int]:
        """The executions' current fences (0: never claimed), which no claim changes before this commits."""

    async def hold(self, lease: Lease) -> None:
        """The execution this transaction creates is held by the lease's worker (PostgreSQL's insert writes it)."""

    async def ended(self, execution_arns: list[str]) -> None:
        """These executions end in this transaction: their leases mean nothing any more."""

    async def notify(self, channel: str, payload: str) -> None:
        """Wake the listeners of `channel` once this commits."""


Write = Callable[[Transaction], Coroutine[Any, Any, Any]]


class Connector(Protocol):
    """One database under SqlStore: its queries, reads, the writer's transactions, leases and wake-ups."""

    @property
    def name(self) -> str:
        """The store as log lines and errors name it: "The store build/stepline.db"."""

    @property
    def queries(self) -> Mapping[str, str]:
        """The named queries, in this database's placeholders."""

    @property
    def exclusive(self) -> bool:
        """Whether this process alone writes the database (SQLite)."""

    def placeholders(self, query: str) -> str: ...
    async def fetch(self, query: str, params: Params) -> list[Row]: ...

    async def transact(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        """Run `work` in one transaction and commit it; a database error is a StoreError (StoreUnavailable when
        the database cannot be reached or written for now: nothing was written)."""

    async def close(self) -> None: ...

    async def reclaim_space(self, pages: int) -> int:
        """Give up to `pages` pages that deletions freed back to the file system; how many are left to give."""

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]: ...
    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]: ...
    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None: ...
    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]: ...
    async def end_claims(self, worker: str) -> None: ...
    async def notify(self, channel: str, payload: str = "") -> None: ...
    def listen(self, channels: list[str]) -> Listener: ...


class SqlStore:
    """The Store (base.py) over a connector. `transactions` counts group commits."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._sql = connector.queries
        self._pending: list[tuple[Write | list[ExecutionChange], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._outage = Outage(connector.name)
        self.transactions = 0
        # Resource records of KEPT_KINDS read on a database only this process writes, kept until this process
        # writes them: a StartExecution reads its state machine without a trip to the database. Resources are
        # written only by create_resource, put_resource and delete_resource.
        self._resources: dict[tuple[str, str], Any] | None = {} if connector.exclusive else None
        self._resource_writes = 0  # a read that overlapped a resource write keeps nothing

    @property
    def shared(self) -> bool:
        return not self._connector.exclusive

    async def close(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        await self._connector.close()

    # ------------------------------------------------------------------ reads and the writer

    async def _rows(self, name: str, /, **params: Any) -> list[Row]:
        return await self._fetch(self._sql[name], params)

    async def _fetch(self, query: str, params: Params) -> list[Row]:
        """A read. On a database only this process writes, it sees the writes asked before it: those still queued
        here are committed first (SQLite's thread runs the rest in the order they were handed to it), so a client
        that reads right after a commit was asked sees it. Elsewhere a read does not wait for writes (other
        processes write anyway; a read waiting on writes that fail while the database is down would fail too)."""
        if self._pending and self._connector.exclusive:
            await asyncio.wait([self._pending[-1][1]])
        return await self._connector.fetch(query, params)

    async def _value(self, name: str, /, **params: Any) -> Any:
        rows = await self._rows(name, **params)
        return rows[0][0] if rows else None

    def _statement(self, name: str, /, **params: Any) -> Write:
        """A write of one statement that answers nothing."""
        async def execute(tx: Transaction) -> None:
            await tx.execute(self._sql[name], params)
        return execute

    def _write(self, write: Write | list[ExecutionChange]) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="stepline-store-writer")
        return future

    async def _drain(self) -> None:
        """Group commit: what was queued while the last transaction ran goes in the next one."""
        while self._pending:
            batch, self._pending = self._pending, []
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Write | list[ExecutionChange], asyncio.Future[Any]]]) -> None:
        outcomes: list[Any]
        try:
            outcomes = await self._connector.transact(partial(self._group, [write for write, _ in batch]))
            self.transactions += 1
            self._outage.ended()
        except Exception as error:  # a bug too: every caller hears of it rather than waiting forever
            if len(batch) > 1:  # one bad write must not fail the others: each again in its own transaction
                for item in batch:
                    await self._commit([item])
                return
            if isinstance(error, StoreUnavailable):
                self._outage.failed(error)
            else:
                log.warning("a store write failed", extra={"error": str(error)})
            outcomes = [error]
        for (_, future), outcome in zip(batch, outcomes):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _group(self, writes: list[Write | list[ExecutionChange]], tx: Transaction) -> list[Any]:
        """A group's writes in one transaction: the other writes in order, then every commit folded into one.
        A commit whose fences are stale is refused (LeaseLost) and writes nothing."""
        outcomes: list[Any] = [None] * len(writes)
        commits = [(i, changes) for i, changes in enumerate(writes) if isinstance(changes, list)]
        fenced = sorted({c.execution_arn for _, changes in commits for c in changes if c.fence is not None})
        if fenced:
            fences = await tx.fences(fenced)
            for i, changes in commits:
                stale = [c.execution_arn for c in changes
                         if c.fence is not None and c.fence != fences.get(c.execution_arn, 0)]
                if stale:
                    outcomes[i] = LeaseLost(stale)
        for i, write in enumerate(writes):
            if not isinstance(write, list):
                outcomes[i] = await write(tx)
        folded: dict[str, _Folded] = {}
        for i, changes in commits:
            if outcomes[i] is None:
                for change in changes:
                    folded.setdefault(change.execution_arn, _Folded()).add(change)
        for name, rows in folded_writes(folded):
            await tx.execute_many(self._sql[name], rows)
        ended = [arn for arn, f in folded.items() if f.cleared]
        if ended:
            await tx.ended(ended)
        return outcomes

    # ------------------------------------------------------------------ resources

    def _resource_written(self, kind: Kind[Any], arn: str) -> None:
        self._resource_writes += 1
        if self._resources is not None:
            self._resources.pop((kind.name, arn), None)

    async def create_resource(self, kind: Kind[Stored], record: Stored, *, parent: str | None = None) -> bool:
        self._resource_written(kind, record.arn)
        params = {"kind": kind.name, "arn": record.arn, "parent": parent, "record": encode_record(record.to_json())}

        async def insert(tx: Transaction) -> bool:
            return bool(await tx.fetch(self._sql["create_resource"], params))
        return bool(await self._write(insert))

    async def put_resource(self, kind: Kind[Stored], record: Stored, *, parent: str | None = None) -> None:
        self._resource_written(kind, record.arn)
        await self._write(self._statement("put_resource", kind=kind.name, arn=record.arn, parent=parent,
                                          record=encode_record(record.to_json())))

    async def get_resource(self, kind: Kind[Stored], arn: str) -> Stored | None:
        key, writes = (kind.name, arn), self._resource_writes
        kept = self._resources if kind.name in KEPT_KINDS else None
        if kept is not None and key in kept:
            return cast(Stored, kept[key])
        text = await self._value("get_resource", kind=kind.name, arn=arn)
        if text is None:
            return None
        record = resource_from_text(kind, text)
        if kept is not None and writes == self._resource_writes:
            if len(kept) >= MAX_KEPT_RESOURCES:
                kept.clear()
            kept[key] = record
        return record

    async def list_resources(self, kind: Kind[Stored], *, parent: str | None = None) -> list[Stored]:
        if parent is None:
            rows = await self._rows("list_resources", kind=kind.name)
        else:
            rows = await self._rows("list_resources_of_parent", kind=kind.name, parent=parent)
        return [resource_from_text(kind, text) for (text,) in rows]

    async def delete_resource(self, kind: Kind[Any], arn: str) -> bool:
        self._resource_written(kind, arn)
        async def delete(tx: Transaction) -> bool:
            await tx.execute(self._sql["delete_tags"], {"arn": arn})
            return bool(await tx.fetch(self._sql["delete_resource"], {"kind": kind.name, "arn": arn}))
        return bool(await self._write(delete))

    async def get_tags(self, arn: str) -> dict[str, str]:
        return dict(await self._rows("get_tags", arn=arn))

    async def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        async def tag(tx: Transaction) -> None:
            for key, value in tags.items():
                await tx.execute(self._sql["set_tag"], {"arn": arn, "key": key, "value": value})
        await self._write(tag)

    async def remove_tags(self, arn: str, keys: list[str]) -> None:
        async def untag(tx: Transaction) -> None:
            for key in keys:
                await tx.execute(self._sql["remove_tag"], {"arn": arn, "key": key})
        await self._write(untag)

    # ------------------------------------------------------------------ definitions

    async def put_definition(self, digest: str, definition: str) -> None:
        await self._write(self._statement("put_definition", digest=digest, definition=definition))

    async def get_definition(self, digest: str) -> str | None:
        definition: str | None = await self._value("get_definition", digest=digest)
        return definition

    # ------------------------------------------------------------------ executions

    async def create_execution(self, record: ExecutionRecord, *,
                               lease: Lease | None = None) -> ExecutionRecord | None:
        arn = record.arn
        params = {"arn": arn, "state_machine_arn": record.state_machine_arn, "name": record.name,
                  "status": record.status, "start_date": record.start_date, "map_run_arn": record.map_run_arn,
                  "record": encode_record(record.to_json()),
                  "worker": lease and lease.worker, "expires": lease and lease.expires, "fence": lease and lease.fence}

        async def insert(tx: Transaction) -> ExecutionRecord | None:
            if await tx.fetch(self._sql["create_execution"], params):
                if lease is not None:
                    await tx.hold(lease)
                else:  # for any worker: the one that claims it first starts it
                    await tx.notify("signals", arn)
                return None
            [(existing,)] = await tx.fetch(self._sql["get_execution"], {"arn": arn})
            return execution_from_text(existing)
        created: ExecutionRecord | None = await self._write(insert)
        return created

    async def get_execution(self, arn: str) -> ExecutionRecord | None:
        text = await self._value("get_execution", arn=arn)
        return execution_from_text(text) if text is not None else None

    async def list_executions(self, *, state_machine_arn: str | None = None, status: str | None = None,
                              map_run_arn: str | None = None, name: str | None = None, after: str | None = None,
                              limit: int | None = None) -> list[ExecutionRecord]:
        filters = {"state_machine_arn": state_machine_arn, "status": status, "map_run_arn": map_run_arn,
                   "name": name}
        clauses = [f"{column} = :{column}" for column, value in filters.items() if value is not None]
        if after is not None:
            clauses.append("seq < (SELECT seq FROM executions WHERE arn = :after)")
        where = self._connector.placeholders(f"WHERE {' AND '.join(clauses)}" if clauses else "")
        rows = await self._fetch(self._sql["list_executions"].replace("{where}", where),
                                 {**filters, "after": after, "limit": NO_LIMIT if limit is None else limit})
        return [execution_from_text(text) for (text,) in rows]

    async def update_execution(self, arn: str, summary: dict[str, Any], status: str | None = None) -> None:
        merged = {**summary, "status": status} if status is not None else summary
        await self._write(self._statement("update_execution", arn=arn, summary=encode_record(merged), status=status))

    async def get_events(self, arn: str, *, after: int = 0, limit: int = 1000,
                         reverse: bool = False) -> list[dict[str, Any]]:
        if reverse and not after:
            after = (await self._value("event_count", arn=arn) or 0) + 1
        first, last = event_window(after, limit, reverse)
        pages = await self._rows("history_pages", arn=arn, first=first, last=last)
        return events_between([page for (page,) in pages], first, last, reverse)

    async def get_checkpoint(self, arn: str) -> str | None:
        checkpoint: str | None = await self._value("get_checkpoint", arn=arn)
        return checkpoint

    async def load_executions(self, arns: list[str]) -> dict[str, tuple[ExecutionRecord, str | None]]:
        rows = await self._rows("load_executions", arns=list(arns)) if arns else []
        return {arn: (execution_from_text(record), checkpoint) for arn, record, checkpoint in rows}

    async def get_iterations(self, arn: str, maps: list[str]) -> list[tuple[str, int, str]]:
        rows = await self._rows("get_iterations", arn=arn, maps=list(maps)) if maps else []
        return [(map, int(index), body) for map, index, body in rows]

    # ------------------------------------------------------------------ the runtime

    async def commit(self, changes: list[ExecutionChange]) -> None:
        if changes:
            await self._write(list(changes))

    async def running_executions(self) -> list[str]:
        return [arn for (arn,) in await self._rows("running_executions")]

    async def purge_closed(self, closed_before: datetime, limit: int, pages: int) -> Purged:
        async def purge(tx: Transaction) -> Purged:
            rows = await tx.fetch(self._sql["closed_before"], {"before": closed_before, "limit": limit})
            emptied = []  # the executions whose history is all deleted
            left = pages
            for (arn,) in rows:
                left -= len(await tx.fetch(self._sql["purge_history"], {"arn": arn, "pages": left}))
                if left == 0:  # it may have more pages: the next transaction goes on
                    break
                emptied.append({"arn": arn})
            if emptied:  # their history first: SQLite finds it by the execution's row
                for name in ("clear_timers", "clear_tasks", "clear_signals", "clear_iterations", "purge_map_runs",
                             "purge_executions"):
                    await tx.execute_many(self._sql[name], emptied)
            return Purged(len(emptied), more=len(rows) == limit or len(emptied) < len(rows))
        purged: Purged = await self._write(purge)
        return purged

    async def purge_express_map_runs(self, started_before: datetime, limit: int) -> int:
        async def purge(tx: Transaction) -> int:
            parents = [{"arn": parent} for (parent,) in await tx.fetch(
                self._sql["express_map_run_parents"],
                {"before": started_before, "limit": limit, "express_parent": "%:express:%"})]
            if parents:
                await tx.execute_many(self._sql["purge_map_runs"], parents)
            return len(parents)
        return int(await self._write(purge))

    async def reclaim_space(self, pages: int) -> int:
        return await self._connector.reclaim_space(pages)

    async def count_running(self) -> int:
        return int(await self._value("count_running"))

    async def due_timers(self, now: datetime, limit: int) -> list[Timer]:
        return [timer_from_row(row) for row in await self._rows("due_timers", now=now, limit=limit)]

    async def next_timer_due(self) -> datetime | None:
        due = await self._value("next_timer_due")
        return moment(due) if due is not None else None

    # ------------------------------------------------------------------ schedules' due times

    async def set_schedule_due(self, arn: str, token: int, due: datetime) -> None:
        await self._write(self._statement("set_schedule_due", arn=arn, token=token, due=due))

    async def advance_schedule(self, arn: str, token: int, following: tuple[int, datetime] | None) -> bool:
        async def advance(tx: Transaction) -> bool:
            if following is None:
                return bool(await tx.fetch(self._sql["end_schedule"], {"arn": arn, "token": token}))
            return bool(await tx.fetch(self._sql["advance_schedule"], {
                "arn": arn, "token": token, "next_token": following[0], "next_due": following[1]}))
        return bool(await self._write(advance))

    async def clear_schedule_due(self, arn: str) -> None:
        await self._write(self._statement("clear_schedule_due", arn=arn))

    async def schedule_due_times(self) -> dict[str, tuple[int, datetime]]:
        return {arn: (int(token), moment(due)) for arn, token, due in await self._rows("schedule_due_times")}

    async def pending_tasks(self, arn: str | None = None, *, among: list[str] | None = None) -> list[PendingTask]:
        if among is not None:
            rows = await self._rows("pending_tasks_among", arns=list(among)) if among else []
        elif arn:
            rows = await self._rows("pending_tasks_of", arn=arn)
        else:
            rows = await self._rows("pending_tasks")
        return [task_from_row(row) for row in rows]

    async def find_task(self, task_token: str) -> PendingTask | None:
        rows = await self._rows("find_task", task_token=task_token)
        return task_from_row(rows[0]) if rows else None

    async def claim_activity_task(self, activity_arn: str, worker: str) -> PendingTask | None:
        async def claim(tx: Transaction) -> list[Row]:
            return await tx.fetch(self._sql["claim_activity_task"], {"activity_arn": activity_arn, "worker": worker})
        rows: list[Row] = await self._write(claim)
        return task_from_row(rows[0]) if rows else None

    # ------------------------------------------------------------------ leases and wake-ups: the connector's

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        return await self._connector.claim_runnable(worker, lease_seconds, limit, now=now,
                                                    execution_arns=execution_arns)

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        return await self._connector.renew_leases(leases, lease_seconds, now=now) if leases else []

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        if leases:
            await self._connector.release_leases(leases, waiting=waiting)

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        return await self._connector.claim_due_timers(worker, now, limit, claim_seconds)

    async def end_claims(self, worker: str) -> None:
        await self._connector.end_claims(worker)

    async def notify(self, channel: str, payload: str = "") -> None:
        await self._connector.notify(channel, payload)

    def listen(self, channels: list[str]) -> Listener:
        return self._connector.listen(channels)

    # ------------------------------------------------------------------ the inbox and the workers

    async def post_signal(self, execution_arn: str, kind: str, payload: JSON = None) -> int:
        params = {"arn": execution_arn, "kind": kind, "payload": dumps(payload)}

        async def post(tx: Transaction) -> int:
            [(id,)] = await tx.fetch(self._sql["post_signal"], params)
            await tx.notify("signals", execution_arn)
            return int(id)
        return int(await self._write(post))

    async def signals(self, execution_arns: list[str] | None = None, *, limit: int = 1000) -> list[InboxSignal]:
        if execution_arns is None:
            rows = await self._rows("signals", limit=limit)
        else:
            rows = await self._rows("signals_of", arns=list(execution_arns), limit=limit) if execution_arns else []
        return [signal_from_row(row) for row in rows]

    async def report_worker(self, name: str, record: dict[str, Any], *, now: datetime) -> None:
        await self._write(self._statement("report_worker", name=name, record=dumps(record), now=now))

    async def list_workers(self) -> list[dict[str, Any]]:
        return [worker_from_row(row) for row in await self._rows("list_workers")]

    async def remove_worker(self, name: str) -> None:
        await self._write(self._statement("remove_worker", name=name))


@dataclass(slots=True)
class _Folded:
    """One execution's changes in a group commit, folded in order into what its rows must end as."""

    events: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None
    checkpoint: str | None = None
    summary: dict[str, Any] | None = None
    cleared: bool = False  # the execution ended: its timers, tasks and signals go (before what follows is set)
    succeeded: bool = False  # its Maps' rows go too (a failed execution keeps its checkpoint for a redrive)
    iterations: dict[tuple[str, int], str] = field(default_factory=dict)
    ended_maps: list[str] = field(default_factory=list)
    timers: dict[tuple[str, str], Timer | None] = field(default_factory=dict)  # None: delete
    tasks: dict[str, PendingTask | None] = field(default_factory=dict)
    consumed: list[int] = field(default_factory=list)  # inbox signals applied

    def add(self, change: ExecutionChange) -> None:
        self.events += change.events
        self.consumed += change.consumed_signals
        if change.summary:
            self.summary = {**(self.summary or {}), **change.summary}
            if change.status is not None:
                self.summary["status"] = change.status
        if change.status is not None:
            self.status, self.checkpoint = change.status, change.checkpoint
        for key in change.cancelled_timers:
            self.timers[key] = None
        for timer in change.timers:
            self.timers[(timer.thread, timer.kind)] = timer
        for thread in change.finished_tasks:
            self.tasks[thread] = None
        for task in change.tasks:
            self.tasks[task.thread] = task
        for map, index, body in change.iterations:
            self.iterations[(map, index)] = body
        if change.ended_maps:
            ended = set(change.ended_maps)
            self.iterations = {key: body for key, body in self.iterations.items() if key[0] not in ended}
            self.ended_maps += change.ended_maps
        if change.status not in ("RUNNING", None):
            self.cleared = True
            self.timers.clear()
            self.tasks.clear()
        if change.status == "SUCCEEDED":
            self.succeeded = True
            self.iterations.clear()
            self.ended_maps.clear()


def folded_writes(folded: dict[str, _Folded]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The rows a group's folded changes write, per statement, in the order they run. Rows go in ARN order, so
    two processes' groups lock shared rows in the same order (no deadlock)."""
    executions = sorted(folded.items())
    cleared = [{"arn": arn} for arn, f in executions if f.cleared]
    timers = [(arn, key, timer) for arn, f in executions for key, timer in f.timers.items()]
    tasks = [(arn, thread, task) for arn, f in executions for thread, task in f.tasks.items()]
    writes: list[tuple[str, list[dict[str, Any]]]] = [
        ("clear_timers", cleared), ("clear_tasks", cleared), ("clear_signals", cleared),
        ("clear_iterations", [{"arn": arn} for arn, f in executions if f.succeeded]),
        ("set_iterations", [{"arn": arn, "map": map, "idx": index, "body": body}
                            for arn, f in executions for (map, index), body in f.iterations.items()]),
        ("delete_iterations", [{"arn": arn, "map": map} for arn, f in executions for map in f.ended_maps]),
        ("consume_signals", [{"id": id} for _, f in executions for id in f.consumed]),
        ("delete_timers", [{"arn": arn, "thread": thread, "kind": kind}
                           for arn, (thread, kind), timer in timers if timer is None]),
        ("set_timers", [{"arn": arn, "thread": t.thread, "kind": t.kind, "token": t.token, "due": t.due}
                        for arn, _, t in timers if t is not None]),
        ("delete_tasks", [{"arn": arn, "thread": thread} for arn, thread, task in tasks if task is None]),
        ("set_tasks", [{"arn": arn, "thread": t.thread, "token": t.token, "effect": encode_task(t),
                        "task_token": t.task_token, "activity_arn": t.activity_arn}
                       for arn, _, t in tasks if t is not None]),
        ("insert_history", [{"arn": arn, "first_id": page[0]["id"], "last_id": page[-1]["id"],
                             "bodies": encode_events(page)}
                            for arn, f in executions for page in history_pages(f.events)]),
        ("update_executions", [{"arn": arn, "status": f.status, "checkpoint": f.checkpoint,
                                "summary": encode_record(f.summary) if f.summary else None,
                                "first_event": _first_event(f.events),
                                "last_event": f.events[-1]["id"] if f.events else None,
                                "stop_date": _stop_date(f.summary)}
                               for arn, f in executions if f.status is not None or f.summary or f.events])]
    return [(name, rows) for name, rows in writes if rows]


def _stop_date(summary: dict[str, Any] | None) -> float | None:
    """The stopDate a closing change sets, as epoch seconds (the stop_date column; a float for both databases)."""
    stop = summary.get("stopDate") if summary else None
    return stop.timestamp() if isinstance(stop, datetime) else None


def _first_event(events: list[dict[str, Any]]) -> int | None:
    """The first event's id; 0 (never an id) when the ids do not follow one another."""
    if not events:
        return None
    first: int = events[0]["id"]
    return first if follow_one_another(events) else 0


def failure(name: str, doing: str, error: Exception, unavailable: bool) -> StoreError:
    """A database error as the store says it: StoreUnavailable when it cannot be reached or written for now."""
    return (StoreUnavailable if unavailable else StoreError)(f"{name} cannot be {doing}: {str(error).strip()}")


class Outage:
    """Says once that the store cannot be written, and why, and once that it can be again: when a write succeeds a
    second or more after the last that failed. On a full disk the writes that fit in the space the files already
    have succeed while the others fail: that is one outage, not one at each turn."""

    CALM_SECONDS = 1.0

    def __init__(self, store: str) -> None:
        self.store = store
        self.down = False
        self.last_failure = 0.0  # time.monotonic()

    def failed(self, error: StoreUnavailable) -> None:
        if not self.down:
            log.warning("%s; API calls that write answer ServiceUnavailable, and executions wait, until it can", error)
        self.down = True
        self.last_failure = time.monotonic()

    def ended(self) -> None:
        if self.down and time.monotonic() - self.last_failure >= self.CALM_SECONDS:
            log.warning("%s can be written again", self.store)
            self.down = False
