"""The PostgreSQL store: several `stepline serve` processes on one database.

Reads take a pooled connection each. Writes go through one writer per store with group commit: the writes
queued while the previous transaction was in flight are committed together in the next one, and each caller's
await returns once its write is committed (durable as the server's `synchronous_commit` says; on by default).
The ExecutionChanges of a group are folded per execution and written with one statement per table (arrays
through unnest), sent in pipeline mode: a group of commits costs one round trip, two when leases are checked.

Workers coordinate through rows: executions are claimed with leases (`FOR UPDATE SKIP LOCKED`) and their
commits carry the lease's fence; due timers and activity tasks are claimed the same way. LISTEN/NOTIFY wakes
workers; they poll as well, so a lost notification only delays. The schema is versioned (meta.schema_version,
migrations in sql/postgres_schema.sql) and lives in one PostgreSQL schema, named by `schema=` or by a
`schema` (or `options=-csearch_path=...`) parameter of the URL.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.store.base import (
    ExecutionChange,
    InboxSignal,
    Lease,
    LeaseLost,
    Notification,
    Outage,
    PendingTask,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
    Timer,
)
from stepline.runtime.store.codec import (
    decode_record,
    encode_events,
    encode_record,
    event_window,
    events_between,
    follow_one_another,
    history_pages,
)

log = logging.getLogger(__name__)


def _unavailable(error: psycopg.Error) -> bool:
    """The database is away or cannot write for now (a lost connection, a full disk, a restart, a read-only
    standby, a conflict to retry), whatever is written."""
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError,
                              psycopg.errors.ReadOnlySqlTransaction))

SCHEMA_VERSION = 3
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")


def _load_blocks(name: str, marker: str) -> dict[str, str]:
    """`-- MARKER: KEY` blocks of an SQL file, keyed; comment lines are kept (PostgreSQL ignores them)."""
    text = files("stepline.runtime.store").joinpath("sql", name).read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for chunk in re.split(rf"^-- {marker}: ", text, flags=re.MULTILINE)[1:]:
        key, _, body = chunk.partition("\n")
        blocks[key.strip()] = body.strip()
    return blocks


QUERIES = _load_blocks("postgres_queries.sql", "name")
MIGRATIONS = {int(version): body for version, body in _load_blocks("postgres_schema.sql", "migration").items()}
assert max(MIGRATIONS) == SCHEMA_VERSION


def is_postgres_location(location: str) -> bool:
    """Whether a `--db` setting names a PostgreSQL database rather than a SQLite file."""
    return location.startswith(("postgresql://", "postgres://"))


_STORE_PARAMETERS = ("schema", "pool_size")  # taken out of the URL: libpq would refuse them


def connection_settings(location: str, schema: str | None = None) -> tuple[str, str | None, int | None]:
    """The libpq connection string for a store URL, the schema it lives in (None: the server's default), and the
    URL's `pool_size` (None when not given).

    The schema comes from `schema`, else from the URL's `schema` parameter, else from a search_path in the URL's
    `options`. Connections also run in UTC."""
    pool_size = None
    if is_postgres_location(location):
        parts = urlsplit(location)
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {key: value for key, value in query if key in _STORE_PARAMETERS}
        schema = schema or ours.get("schema")
        if "pool_size" in ours:
            if not ours["pool_size"].isdigit() or int(ours["pool_size"]) < 1:
                raise StoreError(f"pool_size={ours['pool_size']} is not a number of connections (1 or more)")
            pool_size = int(ours["pool_size"])
        location = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query
                                                              if k not in _STORE_PARAMETERS])))
    try:
        params = conninfo_to_dict(location)
    except psycopg.ProgrammingError as error:
        raise StoreError(f"Not a PostgreSQL connection string: {error}") from None
    options = str(params.get("options") or "")
    if schema is None:
        found = _SEARCH_PATH.search(options)
        schema = found.group(1).strip("\"'") if found else None
    if schema is not None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(f"The schema name {schema!r} is not a plain identifier (letters, digits, _)")
        options = _SEARCH_PATH.sub("", options) + f" -c search_path={schema}"
    params["options"] = (options + " -c TimeZone=UTC").strip()
    return make_conninfo(**params), schema, pool_size


async def upgrade(location: str, *, schema: str | None = None) -> tuple[int, int]:
    """`stepline db upgrade`: create or upgrade the schema; return (the version found, the version now)."""
    conninfo, schema, _ = connection_settings(location, schema)
    try:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
            return await _migrate(connection, schema, upgrade=True)
    except psycopg.Error as error:
        raise StoreError(f"Cannot upgrade the store: {error}") from None


async def _migrate(connection: psycopg.AsyncConnection, schema: str | None, *, upgrade: bool) -> tuple[int, int]:
    """Create the schema when empty (or upgrade it when asked); refuse one newer than this stepline knows."""
    async with connection.transaction():
        await connection.execute(QUERIES["lock_schema"], {"schema": schema or ""})
        if schema is not None:
            await connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        found = 0
        if (await (await connection.execute(QUERIES["schema_exists"])).fetchone())[0]:  # type: ignore[index]
            row = await (await connection.execute(QUERIES["schema_version"])).fetchone()
            found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(f"The store's schema {schema or '(default)'} has version {found}, newer than this "
                               f"stepline understands ({SCHEMA_VERSION}); upgrade stepline")
        if 0 < found < SCHEMA_VERSION and not upgrade:
            raise StoreError(f"The store's schema {schema or '(default)'} has version {found}, older than this "
                             f"stepline's ({SCHEMA_VERSION}); run `stepline db upgrade`")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await connection.execute(MIGRATIONS[version].encode())
            await connection.execute(QUERIES["set_schema_version"], {"version": str(version)})
        return found, SCHEMA_VERSION


def _first_event(events: list[dict]) -> int | None:
    """The first event's id; 0 (never an id) when the ids do not follow one another."""
    if not events:
        return None
    return events[0]["id"] if follow_one_another(events) else 0


@dataclass(slots=True)
class _Folded:
    """One execution's changes in a group commit, folded in order into what the rows must end as."""

    events: list[dict] = field(default_factory=list)
    status: str | None = None
    checkpoint: str | None = None
    summary: dict | None = None
    cleared: bool = False  # the execution ended: its timers and tasks go (before what follows is set)
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
        if change.status not in ("RUNNING", None):
            self.cleared = True
            self.timers.clear()
            self.tasks.clear()


Operation = Callable[[psycopg.AsyncCursor], Awaitable[Any]]


class PostgresStore:
    """The store for several processes (see the module docstring). `transactions` counts group commits and
    `statements` the statements they sent."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str, schema: str) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self.schema = schema
        self._pending: list[tuple[Operation | list[ExecutionChange], asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self.transactions = 0
        self.statements = 0
        self._outage = Outage("The PostgreSQL store")

    @classmethod
    async def open(cls, location: str, *, schema: str | None = None, min_size: int = 2,
                   max_size: int | None = None) -> PostgresStore:
        """Connect, and create the schema if it is empty. `max_size` (else the URL's pool_size, else 10) bounds
        the connections of this process, listeners aside."""
        conninfo, schema, pool_size = connection_settings(location, schema)
        max_size = max_size or pool_size or 10
        min_size = min(min_size, max_size)
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                await _migrate(connection, schema, upgrade=False)
                if schema is None:
                    schema = (await (await connection.execute("SELECT current_schema()")).fetchone())[0]  # type: ignore[index]
            pool = AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False,
                                       kwargs={"autocommit": True}, name=f"stepline-{schema}")
            await pool.open(wait=True, timeout=30)
        except psycopg.Error as error:
            raise StoreError(f"Cannot open the store: {error}") from None
        except TimeoutError:  # the pool could not make its first connections
            raise StoreError("Cannot open the store: no connection to PostgreSQL within 30 seconds") from None
        return cls(pool, conninfo, str(schema))

    async def close(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        await self._pool.close()

    # ------------------------------------------------------------------ reads and the writer

    async def _rows(self, name: str, **params: Any) -> list[tuple]:
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(QUERIES[name], params)
                return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            kind = StoreUnavailable if _unavailable(error) else StoreError
            raise kind(f"The store failed: {error}") from None

    async def _scalar(self, name: str, **params: Any) -> Any:
        rows = await self._rows(name, **params)
        return rows[0][0] if rows else None

    def _write(self, operation: Operation | list[ExecutionChange]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((operation, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="stepline-postgres-writer")
        return future

    async def _drain(self) -> None:
        """Group commit: what was queued while the last transaction ran goes in the next one."""
        while self._pending:
            batch, self._pending = self._pending, []
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[Operation | list[ExecutionChange], asyncio.Future]]) -> None:
        try:
            outcomes = await self._transaction([operation for operation, _ in batch])
        except psycopg.Error as error:
            if len(batch) > 1:  # one bad write must not fail the others: each again in its own transaction
                for item in batch:
                    await self._flush([item])
                return
            if _unavailable(error):
                outcomes = [self._outage.failed(str(error).strip())]
            else:
                log.warning("a store write failed", extra={"error": str(error)})
                outcomes = [StoreError(f"The store cannot be written: {error}")]
        except Exception as error:  # a bug: every caller hears of it rather than waiting forever
            outcomes = [error] * len(batch)
        for (_, future), outcome in zip(batch, outcomes):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _transaction(self, operations: list[Operation | list[ExecutionChange]]) -> list[Any]:
        """Run a group in one transaction: the other writes in order, then every commit folded into one."""
        outcomes: list[Any] = [None] * len(operations)
        commits = [(i, changes) for i, changes in enumerate(operations) if isinstance(changes, list)]
        async with self._pool.connection() as connection:
            try:
                async with connection.pipeline():
                    statements = await self._pipeline(connection.cursor(), operations, commits, outcomes)
            except BaseException:
                await _roll_back(connection)
                raise
        self.transactions += 1
        self.statements += statements
        self._outage.ended()
        return outcomes

    async def _pipeline(self, cursor: psycopg.AsyncCursor, operations: list[Operation | list[ExecutionChange]],
                        commits: list[tuple[int, list[ExecutionChange]]], outcomes: list[Any]) -> int:
        """BEGIN ... COMMIT sent in pipeline mode: one round trip, plus one for each answer needed on the way
        (the fences, and the writes that return something). psycopg's transaction() would add three."""
        await cursor.execute("BEGIN")
        statements = 2
        fenced = sorted({c.execution_arn for _, changes in commits for c in changes if c.fence is not None})
        if fenced:
            await cursor.execute(QUERIES["current_fences"], {"arns": fenced})
            statements += 1
            fences = dict(await cursor.fetchall())
            for i, changes in commits:
                stale = [c.execution_arn for c in changes
                         if c.fence is not None and c.fence != fences.get(c.execution_arn, 0)]
                if stale:
                    outcomes[i] = LeaseLost(stale)
        for i, operation in enumerate(operations):
            if not isinstance(operation, list):
                outcomes[i] = await operation(cursor)
                statements += 1
        folded: dict[str, _Folded] = {}
        for i, changes in commits:
            if outcomes[i] is None:
                for change in changes:
                    folded.setdefault(change.execution_arn, _Folded()).add(change)
        statements += await self._apply(cursor, folded)
        await cursor.execute("COMMIT")
        return statements

    async def _apply(self, cursor: psycopg.AsyncCursor, folded: dict[str, _Folded]) -> int:
        """The folded changes of a group: one statement per table and kind of write, each only when needed.
        Rows go in ARN order, so two processes' groups lock shared rows in the same order (no deadlock)."""
        folded = dict(sorted(folded.items()))
        statements: list[tuple[str, dict[str, Any]]] = []
        cleared = [arn for arn, f in folded.items() if f.cleared]
        if cleared:
            statements += [("clear_timers", {"arns": cleared}), ("clear_tasks", {"arns": cleared}),
                           ("clear_signals", {"arns": cleared})]
        consumed = [signal for f in folded.values() for signal in f.consumed]
        if consumed:
            statements.append(("consume_signals", {"ids": consumed}))
        gone_timers = [(arn, *key) for arn, f in folded.items() for key, t in f.timers.items() if t is None]
        if gone_timers:
            arns, threads, kinds = map(list, zip(*gone_timers))
            statements.append(("delete_timers", {"arns": arns, "threads": threads, "kinds": kinds}))
        timers = [t for f in folded.values() for t in f.timers.values() if t is not None]
        if timers:
            statements.append(("set_timers", {
                "arns": [t.execution_arn for t in timers], "threads": [t.thread for t in timers],
                "kinds": [t.kind for t in timers], "tokens": [t.token for t in timers],
                "dues": [t.due for t in timers]}))
        gone_tasks = [(arn, thread) for arn, f in folded.items() for thread, t in f.tasks.items() if t is None]
        if gone_tasks:
            arns, threads = map(list, zip(*gone_tasks))
            statements.append(("delete_tasks", {"arns": arns, "threads": threads}))
        tasks = [t for f in folded.values() for t in f.tasks.values() if t is not None]
        if tasks:
            statements.append(("set_tasks", {
                "arns": [t.execution_arn for t in tasks], "threads": [t.thread for t in tasks],
                "tokens": [t.token for t in tasks], "effects": [dumps(t.effect) for t in tasks],
                "task_tokens": [t.task_token for t in tasks], "activity_arns": [t.activity_arn for t in tasks]}))
        pages = [(arn, page) for arn, f in folded.items() for page in history_pages(f.events)]
        if pages:
            statements.append(("insert_history", {
                "arns": [arn for arn, _ in pages], "first_ids": [page[0]["id"] for _, page in pages],
                "last_ids": [page[-1]["id"] for _, page in pages],
                "bodies": [encode_events(page) for _, page in pages]}))
        updated = [(arn, f) for arn, f in folded.items() if f.status is not None or f.summary or f.events]
        if updated:
            statements.append(("update_executions", {
                "arns": [arn for arn, _ in updated], "statuses": [f.status for _, f in updated],
                "checkpoints": [f.checkpoint for _, f in updated],
                "summaries": [encode_record(f.summary) if f.summary else None for _, f in updated],
                "first_events": [_first_event(f.events) for _, f in updated],
                "last_events": [f.events[-1]["id"] if f.events else None for _, f in updated]}))
        for name, params in statements:
            await cursor.execute(QUERIES[name], params)
        return len(statements)

    # ------------------------------------------------------------------ resources

    async def create_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> bool:
        async def insert(cursor: psycopg.AsyncCursor) -> bool:
            await cursor.execute(QUERIES["create_resource"], {"kind": kind, "arn": arn, "parent": parent,
                                                              "record": encode_record(record)})
            return await cursor.fetchone() is not None
        return await self._write(insert)

    async def put_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> None:
        await self._write(_statement("put_resource", kind=kind, arn=arn, parent=parent, record=encode_record(record)))

    async def get_resource(self, kind: str, arn: str) -> dict | None:
        text = await self._scalar("get_resource", kind=kind, arn=arn)
        return decode_record(text) if text is not None else None

    async def list_resources(self, kind: str, *, parent: str | None = None) -> list[dict]:
        if parent is None:
            rows = await self._rows("list_resources", kind=kind)
        else:
            rows = await self._rows("list_resources_of_parent", kind=kind, parent=parent)
        return [decode_record(row[0]) for row in rows]

    async def delete_resource(self, kind: str, arn: str) -> bool:
        async def delete(cursor: psycopg.AsyncCursor) -> bool:
            await cursor.execute(QUERIES["delete_resource"], {"kind": kind, "arn": arn})
            return await cursor.fetchone() is not None
        return await self._write(delete)

    async def get_tags(self, arn: str) -> dict[str, str]:
        return dict(await self._rows("get_tags", arn=arn))

    async def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        await self._write(_statement("set_tags", arn=arn, keys=list(tags), values=list(tags.values())))

    async def remove_tags(self, arn: str, keys: list[str]) -> None:
        await self._write(_statement("remove_tags", arn=arn, keys=list(keys)))

    # ------------------------------------------------------------------ definitions

    async def put_definition(self, digest: str, definition: str) -> None:
        await self._write(_statement("put_definition", digest=digest, definition=definition))

    async def get_definition(self, digest: str) -> str | None:
        return await self._scalar("get_definition", digest=digest)

    # ------------------------------------------------------------------ executions

    async def create_execution(self, record: dict, *, lease: Lease | None = None) -> dict | None:
        params = {"arn": record["executionArn"], "state_machine_arn": record["stateMachineArn"],
                  "name": record["name"], "status": record["status"], "start_date": record["startDate"],
                  "map_run_arn": record.get("mapRunArn"), "record": encode_record(record),
                  "worker": lease and lease.worker, "expires": lease and lease.expires,
                  "fence": lease.fence if lease else 0}

        async def insert(cursor: psycopg.AsyncCursor) -> dict | None:
            await cursor.execute(QUERIES["create_execution"], params)
            if await cursor.fetchone() is not None:
                return None
            await cursor.execute(QUERIES["get_execution"], {"arn": params["arn"]})
            return decode_record((await cursor.fetchone())[0])  # type: ignore[index]
        return await self._write(insert)

    async def get_execution(self, arn: str) -> dict | None:
        text = await self._scalar("get_execution", arn=arn)
        return decode_record(text) if text is not None else None

    async def list_executions(self, *, state_machine_arn: str | None = None, status: str | None = None,
                              map_run_arn: str | None = None, name: str | None = None, after: str | None = None,
                              limit: int | None = None) -> list[dict]:
        filters = {"state_machine_arn": state_machine_arn, "status": status, "map_run_arn": map_run_arn,
                   "name": name}
        clauses = [f"{column} = %({column})s" for column, value in filters.items() if value is not None]
        if after is not None:
            clauses.append("seq < (SELECT seq FROM executions WHERE arn = %(after)s)")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(QUERIES["list_executions"].replace("{where}", where),
                                                  {**filters, "after": after, "limit": limit})
                rows = await cursor.fetchall()
        except psycopg.Error as error:
            raise StoreError(f"The store cannot be read: {error}") from None
        return [decode_record(row[0]) for row in rows]

    async def update_execution(self, arn: str, summary: dict, status: str | None = None) -> None:
        merged = {**summary, "status": status} if status is not None else summary
        await self._write(_statement("update_execution", arn=arn, summary=encode_record(merged), status=status))

    async def get_events(self, arn: str, *, after: int = 0, limit: int = 1000, reverse: bool = False) -> list[dict]:
        if reverse and not after:
            after = (await self._scalar("event_count", arn=arn) or 0) + 1
        first, last = event_window(after, limit, reverse)
        pages = await self._rows("history_pages", arn=arn, first=first, last=last)
        return events_between([page for (page,) in pages], first, last, reverse)

    async def get_checkpoint(self, arn: str) -> str | None:
        return await self._scalar("get_checkpoint", arn=arn)

    async def load_executions(self, arns: list[str]) -> dict[str, tuple[dict, str | None]]:
        rows = await self._rows("load_executions", arns=list(arns)) if arns else []
        return {arn: (decode_record(record), checkpoint) for arn, record, checkpoint in rows}

    # ------------------------------------------------------------------ the runtime

    async def commit(self, changes: list[ExecutionChange]) -> None:
        if changes:
            await self._write(list(changes))

    async def running_executions(self) -> list[str]:
        return [row[0] for row in await self._rows("running_executions")]

    async def due_timers(self, now: datetime, limit: int) -> list[Timer]:
        return [_timer(row) for row in await self._rows("due_timers", now=now, limit=limit)]

    async def next_timer_due(self) -> datetime | None:
        due = await self._scalar("next_timer_due")
        return due.astimezone(timezone.utc) if due is not None else None

    async def pending_tasks(self, arn: str | None = None, *, among: list[str] | None = None) -> list[PendingTask]:
        if among is not None:
            rows = await self._rows("pending_tasks_among", arns=list(among)) if among else []
        else:
            rows = await (self._rows("pending_tasks_of", arn=arn) if arn else self._rows("pending_tasks"))
        return [_task(row) for row in rows]

    async def find_task(self, task_token: str) -> PendingTask | None:
        rows = await self._rows("find_task", task_token=task_token)
        return _task(rows[0]) if rows else None

    async def claim_activity_task(self, activity_arn: str, worker: str) -> PendingTask | None:
        rows = await self._rows("claim_activity_task", activity_arn=activity_arn, worker=worker)
        return _task(rows[0]) if rows else None

    # ------------------------------------------------------------------ leases and wake-ups

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        expires = now + timedelta(seconds=lease_seconds)
        params = {"worker": worker, "now": now, "expires": expires, "limit": limit}
        if execution_arns is None:
            rows = await self._rows("claim_runnable", **params)
        else:
            rows = await self._rows("claim_runnable_among", arns=list(execution_arns), **params)
        return [Lease(arn, worker, fence, expires) for arn, fence, _ in sorted(rows, key=lambda row: row[2])]

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        if not leases:
            return []
        expires = now + timedelta(seconds=lease_seconds)
        rows = await self._rows("renew_leases", expires=expires, arns=[lease.execution_arn for lease in leases],
                                workers=[lease.worker for lease in leases], fences=[lease.fence for lease in leases])
        kept = {row[0] for row in rows}
        return [Lease(lease.execution_arn, lease.worker, lease.fence, expires)
                for lease in leases if lease.execution_arn in kept]

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        if leases:
            await self._rows("park_leases" if waiting else "release_leases",
                             arns=[lease.execution_arn for lease in leases], fences=[lease.fence for lease in leases])

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        rows = await self._rows("claim_due_timers", worker=worker, now=now, limit=limit,
                                until=now + timedelta(seconds=claim_seconds))
        return sorted((_timer(row) for row in rows), key=lambda timer: timer.due)

    def channel(self, channel: str) -> str:
        """The PostgreSQL channel of a stepline channel: namespaced by the schema, so stores never cross."""
        return f"{self.schema}.{channel}"

    async def notify(self, channel: str, payload: str = "") -> None:
        await self._rows("notify", channel=self.channel(channel), payload=payload)

    def listen(self, channels: list[str]) -> _PostgresListener:
        return _PostgresListener(self, list(channels))

    # ------------------------------------------------------------------ the inbox and the workers

    async def post_signal(self, execution_arn: str, kind: str, payload: JSON = None) -> int:
        return await self._scalar("post_signal", arn=execution_arn, kind=kind, payload=dumps(payload),
                                  channel=self.channel("signals"))

    async def signals(self, execution_arns: list[str] | None = None, *, limit: int = 1000) -> list[InboxSignal]:
        if execution_arns is None:
            rows = await self._rows("signals", limit=limit)
        elif execution_arns:
            rows = await self._rows("signals_of", arns=list(execution_arns), limit=limit)
        else:
            rows = []
        return [InboxSignal(id, arn, kind, loads(payload)) for id, arn, kind, payload in rows]

    async def report_worker(self, name: str, record: dict, *, now: datetime) -> None:
        await self._rows("report_worker", worker=name, record=dumps(record), now=now)

    async def list_workers(self) -> list[dict]:
        return [{**loads(record), "name": name, "heartbeat": heartbeat.astimezone(timezone.utc)}
                for name, record, heartbeat in await self._rows("list_workers")]

    async def remove_worker(self, name: str) -> None:
        await self._rows("remove_worker", worker=name)

    async def end_claims(self, worker: str) -> None:
        await self._rows("end_lease_claims", worker=worker)
        await self._rows("end_timer_claims", worker=worker)


class _PostgresListener:
    """LISTEN on a connection of its own (outside the pool); a reader task queues what arrives."""

    def __init__(self, store: PostgresStore, channels: list[str]) -> None:
        self._store = store
        self._names = {store.channel(channel): channel for channel in channels}
        self._queue: asyncio.Queue[Notification | BaseException] = asyncio.Queue()
        self._connection: psycopg.AsyncConnection | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> AsyncIterator[Notification]:
        try:
            self._connection = await psycopg.AsyncConnection.connect(self._store._conninfo, autocommit=True)
            for name in self._names:
                await self._connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            await self.__aexit__()
            raise StoreError(f"Cannot listen for notifications: {error}") from None
        self._reader = asyncio.get_running_loop().create_task(self._read(self._connection))
        return self

    async def _read(self, connection: psycopg.AsyncConnection) -> None:
        try:
            async for notify in connection.notifies():
                self._queue.put_nowait(Notification(self._names.get(notify.channel, notify.channel), notify.payload))
        except psycopg.Error as error:  # the connection was lost: the iterator says so once
            self._queue.put_nowait(StoreError(f"Lost the notification connection: {error}"))

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self

    async def __anext__(self) -> Notification:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


def _statement(name: str, **params: Any) -> Operation:
    """A write that answers nothing: it costs no round trip of its own in the group's pipeline."""
    async def execute(cursor: psycopg.AsyncCursor) -> None:
        await cursor.execute(QUERIES[name], params)
    return execute


async def _roll_back(connection: psycopg.AsyncConnection) -> None:
    """End a failed transaction before the connection goes back to the pool (a broken one is discarded there)."""
    if connection.info.transaction_status != TransactionStatus.IDLE:
        try:
            await connection.execute("ROLLBACK")
        except psycopg.Error:
            pass


def _timer(row: tuple) -> Timer:
    arn, thread, kind, token, due = row
    return Timer(arn, thread, kind, token, due.astimezone(timezone.utc))


def _task(row: tuple) -> PendingTask:
    arn, thread, token, effect, task_token, activity_arn, worker = row
    return PendingTask(arn, thread, token, loads(effect), task_token, activity_arn, worker)
