"""The embedded store: one SQLite file in WAL mode, written by one thread, read by another.

The writer thread owns the write connection: each group commit (core.py) is one BEGIN IMMEDIATE ... COMMIT
there, and each caller's await returns once its write is durable. synchronous=NORMAL in WAL mode: a commit
survives the process being killed (kill -9) at any moment; an operating-system crash or power loss may lose the
last commits before the next checkpoint (set STEPLINE_SQLITE_SYNCHRONOUS=FULL to survive those too, at the cost
of an fsync per group commit). Reads run in a reader thread on a read-only connection, beside the writes: the
event loop never waits for the database.

One process owns the file, so leases, timer claims and notifications live in memory (kept by the writer thread,
in the order of the commits): they matter only while the process runs. After a restart every running execution
counts as left by a worker whose lease expired (the previous process's), so the first claims take them all, as
recovery must.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from stepline.jsonvalue import dumps, loads
from stepline.runtime.store.base import Lease, Notification, SchemaTooNew, StoreError, Timer
from stepline.runtime.store.codec import timer_from_row
from stepline.runtime.store.core import Params, Row, SqlStore, Transaction, failure, load_queries, sql_blocks

T = TypeVar("T")
SCHEMA_VERSION = 3
SCHEMA = sql_blocks("sqlite_schema.sql", "name")
QUERIES = load_queries("sqlite", str)

# primary result codes of a database that cannot be written for now, whatever is written (a full, read-only or
# failing disk; the file locked by another process)
_UNAVAILABLE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL}


def _unavailable(error: sqlite3.DatabaseError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _UNAVAILABLE


def _adapt(params: Params) -> dict[str, Any]:
    """Parameters as the schema keeps them: dates as epoch seconds, lists as JSON arrays (for json_each)."""
    return {key: value.timestamp() if isinstance(value, datetime) else dumps(value) if isinstance(value, list)
            else value for key, value in params.items()}


def _merge_record(record: str, summary: str) -> str:
    """SQL merge_record(record, summary): the summary's members set in the record (jsonb || on PostgreSQL)."""
    return dumps({**loads(record), **loads(summary)})


class SqliteStore(SqlStore):
    """The default store (see the module docstring for what a commit survives)."""

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        return cls(await SqliteConnector.open(str(path)))


class SqliteConnector:
    """SqlStore's connector to one SQLite file: a writer thread with its connection, a reader thread with its own."""

    placeholders = staticmethod(str)  # SQLite takes the :name parameters of the queries as they are

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"The store {path}"
        self.queries = QUERIES
        self._writer = _Thread("stepline-sqlite-writer")
        self._reader = _Thread("stepline-sqlite-reader")
        self._db: sqlite3.Connection  # the writer thread's
        self._read_db: sqlite3.Connection  # the reader thread's
        self._seq = 0  # creation_order: the last seq given to a resource, an execution or a task
        self._leases = _Leases()
        self._listeners: dict[str, set[asyncio.Queue[Notification]]] = {}

    @classmethod
    async def open(cls, path: str) -> SqliteConnector:
        connector = cls(path)
        try:
            await connector._writer.run(connector._open)
        except BaseException:
            connector._writer.stop()
            connector._reader.stop()
            raise
        return connector

    def _open(self) -> None:
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            synchronous = os.environ.get("STEPLINE_SQLITE_SYNCHRONOUS", "NORMAL").upper()
            db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA foreign_keys=OFF")
            db.executescript(SCHEMA["tables"])
            row = db.execute(QUERIES["schema_version"]).fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise SchemaTooNew(f"The store {self.path} has schema version {row[0]}, newer than this stepline "
                                   f"understands ({SCHEMA_VERSION}); upgrade stepline")
            if row is not None and int(row[0]) < 3:
                db.executescript(f"BEGIN IMMEDIATE; {SCHEMA['paged_history']} COMMIT;")
            if row is None or int(row[0]) < SCHEMA_VERSION:
                db.execute(QUERIES["set_schema_version"], {"version": str(SCHEMA_VERSION)})
            db.execute("PRAGMA quick_check")
            db.execute("BEGIN IMMEDIATE")  # fails now, not at the first commit, when it cannot write
            db.execute("ROLLBACK")
            self._read_db = sqlite3.connect(f"file:{quote(os.path.abspath(self.path))}?mode=ro", uri=True,
                                            isolation_level=None, check_same_thread=False)
            self._read_db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.DatabaseError as error:
            raise StoreError(f"Cannot open the store {self.path}: {error}") from None
        except OSError as error:
            raise StoreError(f"Cannot open the store {self.path}: {error.strerror}") from None
        db.create_function("nextval", 1, self._next_seq)
        db.create_function("merge_record", 2, _merge_record, deterministic=True)
        self._seq = max(db.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0]
                        for table in ("resources", "executions", "tasks"))
        self._leases.orphaned = {arn for (arn,) in db.execute(QUERIES["running_executions"])}

    def _next_seq(self, sequence: str) -> int:
        self._seq += 1
        return self._seq

    async def close(self) -> None:
        await self._reader.run(self._read_db.close)
        await self._writer.run(self._db.close)
        self._reader.stop()
        self._writer.stop()

    # ------------------------------------------------------------------ reads and the writer's transactions

    async def fetch(self, query: str, params: Params) -> list[Row]:
        return await self._reader.run(self._read, query, params)

    def _read(self, query: str, params: Params) -> list[Row]:
        try:
            return self._read_db.execute(query, _adapt(params)).fetchall()
        except sqlite3.DatabaseError as error:
            raise failure(self.name, "read", error, _unavailable(error)) from None

    async def transact(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        transaction = _SqliteTransaction(self._db, self._leases)
        result: T = await self._writer.run(self._transaction, work, transaction)
        for notification in transaction.notifications:
            await self.notify(notification.channel, notification.payload)
        return result

    def _transaction(self, work: Callable[[Transaction], Coroutine[Any, Any, T]],
                     transaction: _SqliteTransaction) -> T:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            result = _run_to_end(work(transaction))
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            self._roll_back()
            raise failure(self.name, "written", error, _unavailable(error)) from None
        except BaseException:
            self._roll_back()
            raise
        self._leases.committed(transaction)
        return result

    def _roll_back(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # ------------------------------------------------------------------ leases and wake-ups, in memory

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        return await self._writer.run(self._claim_runnable, worker, now + timedelta(seconds=lease_seconds),
                              limit, now, execution_arns)

    def _claim_runnable(self, worker: str, expires: datetime, limit: int, now: datetime,
                        execution_arns: list[str] | None) -> list[Lease]:
        if execution_arns is not None:
            rows = self._rows("running_among", arns=execution_arns)
        else:  # the executions that need a worker (see Store.claim_runnable)
            rows = self._rows("needing_worker")
            left = self._leases.left(now)
            if left:
                found = self._rows("running_among", arns=list(left))
                self._leases.orphaned.intersection_update(arn for arn, _ in found)  # the ended ones need nobody
                rows += found
        return self._leases.claim([arn for arn, _ in sorted(set(rows), key=lambda row: row[1])], worker, expires,
                                  limit, now)

    def _rows(self, name: str, /, **params: Any) -> list[Row]:
        """A read on the writer's connection, for the claims: it sees every commit made so far."""
        try:
            return self._db.execute(QUERIES[name], _adapt(params)).fetchall()
        except sqlite3.DatabaseError as error:
            raise failure(self.name, "read", error, _unavailable(error)) from None

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        return await self._writer.run(self._leases.renew, leases, now + timedelta(seconds=lease_seconds))

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        await self._writer.run(self._leases.release, leases, waiting)

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        return await self._writer.run(self._claim_due_timers, worker, now, limit,
                              now + timedelta(seconds=claim_seconds))

    def _claim_due_timers(self, worker: str, now: datetime, limit: int, until: datetime) -> list[Timer]:
        due = [timer_from_row(row) for row in self._rows("due_timers", now=now, limit=2**31)]
        return self._leases.claim_timers(due, worker, now, limit, until)

    async def end_claims(self, worker: str) -> None:
        """Claims live in memory: a new process starts with none."""

    async def notify(self, channel: str, payload: str = "") -> None:
        for listener in self._listeners.get(channel, ()):
            listener.put_nowait(Notification(channel, payload))

    def listen(self, channels: list[str]) -> _LocalListener:
        return _LocalListener(self._listeners, channels)


class _Thread:
    """A thread that runs work for the event loop, one job after another. The jobs of one turn of the loop are
    handed over together at its end, and their results come back in one call: the threads wake once a turn, not
    once a job, and the GIL changes hands as seldom (a hop between threads costs more than most queries do)."""

    def __init__(self, name: str) -> None:
        self._turn: list[_Job] = []  # the jobs of this turn of the loop, handed over at its end
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if not self._turn:
            future.get_loop().call_soon(self._hand_over)
        self._turn.append((future, work, args))
        return await future

    def _hand_over(self) -> None:
        jobs, self._turn = self._turn, []
        self._jobs.put(jobs)

    def stop(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (jobs := self._jobs.get()) is not None:
            outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            for future, work, args in jobs:
                try:
                    outcomes.append((future, work(*args), None))
                except BaseException as error:  # the caller's to handle, whatever it is
                    outcomes.append((future, None, error))
            try:
                jobs[0][0].get_loop().call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # the loop is closed (the process is exiting): nobody waits any more
                pass


_Job = tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.done():  # its caller was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends: a SQLite transaction's writes await only their transaction, whose
    calls return at once (this thread owns the connection)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a write awaited something other than its SQLite transaction")


class _SqliteTransaction:
    """The writer's transaction (core.Transaction); what it does to leases waits for its COMMIT."""

    def __init__(self, db: sqlite3.Connection, leases: _Leases) -> None:
        self._db = db
        self._leases = leases
        self.held: list[Lease] = []
        self.ended_executions: list[str] = []
        self.notifications: list[Notification] = []

    async def fetch(self, query: str, params: Params) -> list[Row]:
        return self._db.execute(query, _adapt(params)).fetchall()

    async def execute(self, query: str, params: Params) -> None:
        self._db.execute(query, _adapt(params))

    async def execute_many(self, query: str, rows: list[dict[str, Any]]) -> None:
        if any(isinstance(value, (datetime, list)) for value in rows[0].values()):  # so do all rows of a statement
            rows = [_adapt(row) for row in rows]
        self._db.executemany(query, rows)

    async def fences(self, execution_arns: list[str]) -> dict[str, int]:
        return {arn: self._leases.fences.get(arn, 0) for arn in execution_arns}

    async def hold(self, lease: Lease) -> None:
        self.held.append(lease)

    async def ended(self, execution_arns: list[str]) -> None:
        self.ended_executions += execution_arns

    async def notify(self, channel: str, payload: str) -> None:
        self.notifications.append(Notification(channel, payload))


@dataclass(slots=True)
class _Leases:
    """Leases and timer claims of the executions of one process, kept by the writer thread."""

    leases: dict[str, Lease] = field(default_factory=dict)
    fences: dict[str, int] = field(default_factory=dict)  # the last fence handed out per execution (0: never)
    timer_claims: dict[tuple[str, str, str], tuple[datetime, int, datetime]] = field(default_factory=dict)
    orphaned: set[str] = field(default_factory=set)  # running when the store was opened: the last process's

    def committed(self, transaction: _SqliteTransaction) -> None:
        for lease in transaction.held:
            self.leases[lease.execution_arn] = lease
            self.fences[lease.execution_arn] = lease.fence
        for arn in transaction.ended_executions:  # a lease of an ended execution means nothing: keep memory flat
            self.leases.pop(arn, None)
            self.fences.pop(arn, None)

    def left(self, now: datetime) -> set[str]:
        """The executions whose worker is gone: the last process's, and those whose lease expired."""
        return self.orphaned | {arn for arn, lease in self.leases.items() if lease.expires <= now}

    def claim(self, arns: list[str], worker: str, expires: datetime, limit: int, now: datetime) -> list[Lease]:
        claimed: list[Lease] = []
        for arn in arns:
            if len(claimed) >= limit:
                break
            held = self.leases.get(arn)
            if held is not None and held.expires > now:
                continue
            fence = self.fences[arn] = self.fences.get(arn, 0) + 1
            self.leases[arn] = lease = Lease(arn, worker, fence, expires)
            self.orphaned.discard(arn)
            claimed.append(lease)
        return claimed

    def renew(self, leases: list[Lease], expires: datetime) -> list[Lease]:
        renewed = []
        for lease in leases:
            held = self.leases.get(lease.execution_arn)
            if held is not None and held.fence == lease.fence:
                held = self.leases[lease.execution_arn] = Lease(lease.execution_arn, lease.worker, lease.fence, expires)
                renewed.append(held)
        return renewed

    def release(self, leases: list[Lease], waiting: bool) -> None:
        for lease in leases:
            held = self.leases.get(lease.execution_arn)
            if held is not None and held.fence == lease.fence:
                if waiting:  # parked: nobody holds it, nobody needs to
                    del self.leases[lease.execution_arn]
                else:  # handed back: an expired lease, which the next claim takes
                    self.leases[lease.execution_arn] = Lease(lease.execution_arn, lease.worker, lease.fence,
                                                             _LONG_AGO)

    def claim_timers(self, due: list[Timer], worker: str, now: datetime, limit: int, until: datetime) -> list[Timer]:
        self.timer_claims = {key: claim for key, claim in self.timer_claims.items() if claim[0] > now}
        claimed: list[Timer] = []
        for timer in due:
            if len(claimed) >= limit:
                break
            key = (timer.execution_arn, timer.thread, timer.kind)
            claim = self.timer_claims.get(key)
            if claim is not None and claim[1:] == (timer.token, timer.due):
                continue  # claimed, and not set again since
            held = self.leases.get(timer.execution_arn)
            if held is not None and held.worker != worker and held.expires > now:
                continue
            self.timer_claims[key] = (until, timer.token, timer.due)
            claimed.append(timer)
        return claimed


class _LocalListener:
    """Notifications within this process: one queue, registered under each channel while the block runs."""

    def __init__(self, listeners: dict[str, set[asyncio.Queue[Notification]]], channels: list[str]) -> None:
        self._listeners = listeners
        self._channels = list(channels)
        self._queue: asyncio.Queue[Notification] = asyncio.Queue()

    async def __aenter__(self) -> AsyncIterator[Notification]:
        for channel in self._channels:
            self._listeners.setdefault(channel, set()).add(self._queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for channel in self._channels:
            self._listeners.get(channel, set()).discard(self._queue)

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self

    async def __anext__(self) -> Notification:
        return await self._queue.get()


_LONG_AGO = datetime(1970, 1, 1, tzinfo=timezone.utc)
