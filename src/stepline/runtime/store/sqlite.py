"""The embedded store: one SQLite file in WAL mode, read and written by one thread off the event loop.

The store's thread owns the connection and runs the reads and writes in the order the event loop asked for them
(a read sees every write asked for before it, as when the queries ran on the loop): each group commit (core.py) is
one BEGIN IMMEDIATE ... COMMIT there, and each caller's await returns once its write is durable. synchronous=NORMAL in WAL mode: a commit
survives the process being killed (kill -9) at any moment; an operating-system crash or power loss may lose the
last commits before the next checkpoint (set STEPLINE_SQLITE_SYNCHRONOUS=FULL to survive those too, at the cost
of an fsync per group commit). The event loop never waits for the database, and no commit waits for a checkpoint:
those run on a thread and connection of their own (_Checkpointer).

One process owns the file, so leases, timer claims and notifications live in memory (kept by the store's thread,
in the order of the commits): they matter only while the process runs. After a restart every running execution
counts as left by a worker whose lease expired (the previous process's), so the first claims take them all, as
recovery must.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, cast

from stepline.jsonvalue import dumps, loads
from stepline.runtime.store.base import Lease, Notification, SchemaTooNew, StoreError, Timer
from stepline.runtime.store.codec import timer_from_row
from stepline.runtime.store.core import Params, Row, SqlStore, Transaction, failure, load_queries, sql_blocks

T = TypeVar("T")
log = logging.getLogger(__name__)
SCHEMA_VERSION = 5
SCHEMA = sql_blocks("sqlite_schema.sql", "name")
QUERIES = load_queries("sqlite", str)
CHECKPOINT_SECONDS = 0.01  # from a commit to the checkpoint that copies it (and those of that time) to the file

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
    """SqlStore's connector to one SQLite file: a thread with its connection, which runs the reads and writes."""

    placeholders = staticmethod(str)  # SQLite takes the :name parameters of the queries as they are
    exclusive = True  # one process owns the file (see the module docstring)

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"The store {path}"
        self.queries = QUERIES
        self._thread = _Thread("stepline-sqlite")
        self._db: sqlite3.Connection  # the thread's
        self._checkpointer: _Checkpointer  # made by _open
        self._seq = 0  # creation_order: the last seq given to a resource, an execution or a task
        self._leases = _Leases()
        self._listeners: dict[str, set[asyncio.Queue[Notification]]] = {}

    @classmethod
    async def open(cls, path: str) -> SqliteConnector:
        connector = cls(path)
        try:
            await connector._thread.run(connector._open)
        except BaseException:
            connector._thread.stop()
            raise
        return connector

    def _open(self) -> None:
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:  # a new file
                # only before the first table and WAL (a file made before: stepline db vacuum)
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
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
            if row is not None and int(row[0]) < 4:
                db.executescript(f"BEGIN IMMEDIATE; {SCHEMA['stop_dates']} COMMIT;")
            db.executescript(SCHEMA["indexes"])
            if row is None or int(row[0]) < SCHEMA_VERSION:
                db.execute(QUERIES["set_schema_version"], {"version": str(SCHEMA_VERSION)})
            db.execute("PRAGMA quick_check")
            db.execute("BEGIN IMMEDIATE")  # fails now, not at the first commit, when it cannot write
            db.execute("ROLLBACK")
            self._checkpointer = _Checkpointer(self.path)
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
        await asyncio.to_thread(self._checkpointer.stop)
        await self._thread.run(self._db.close)  # the last connection: checkpoints what is left, deletes the WAL
        self._thread.stop()

    async def reclaim_space(self, pages: int) -> int:
        return await self._thread.run(self._reclaim_space, pages)

    def _reclaim_space(self, pages: int) -> int:
        """Give up to `pages` free pages back to the file system (a file made without auto_vacuum=INCREMENTAL
        keeps them until `stepline db vacuum`); how many free pages are left."""
        try:
            if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: INCREMENTAL
                return 0
            # executescript runs it to its end: execute() would step it once, freeing one page
            self._db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
            self._checkpointer.committed()
            return int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise failure(self.name, "written", error, _unavailable(error)) from None

    # ------------------------------------------------------------------ reads and transactions

    async def fetch(self, query: str, params: Params) -> list[Row]:
        return await self._thread.run(self._read, query, params)

    def _read(self, query: str, params: Params) -> list[Row]:
        try:
            return self._db.execute(query, _adapt(params)).fetchall()
        except sqlite3.DatabaseError as error:
            raise failure(self.name, "read", error, _unavailable(error)) from None

    async def transact(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        transaction = _SqliteTransaction(self._db, self._leases)
        result: T = await self._thread.run(self._transaction, work, transaction)
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
        self._checkpointer.committed()
        self._leases.committed(transaction)
        return result

    def _roll_back(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # ------------------------------------------------------------------ leases and wake-ups, in memory

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        return await self._thread.run(self._claim_runnable, worker, now + timedelta(seconds=lease_seconds),
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
        return self._read(QUERIES[name], params)

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        return await self._thread.run(self._leases.renew, leases, now + timedelta(seconds=lease_seconds))

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        await self._thread.run(self._leases.release, leases, waiting)

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        return await self._thread.run(self._claim_due_timers, worker, now, limit,
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


class _Checkpointer:
    """Copies the commits in the write-ahead log into the database file, on a thread and connection of its own.

    SQLite's own checkpoint runs inside the commit that takes the log past 1,000 pages, which then takes 5 to 15
    ms instead of a fraction of one: the commits that wait behind it (every caller's, one thread writes) wait as
    long. Here a checkpoint starts some time after a commit (the commits of that time are copied together), and
    a PASSIVE one neither waits for the writer nor makes it wait. The log is rewound by the first commit after a
    checkpoint that copied all of it. SQLite's own checkpoint stays on, for when these fall behind (a log that
    grew past 1,000 pages): it then finds little left to copy."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._due = threading.Event()  # set by a commit
        self._stopping = False
        self._failing = False  # said once until a checkpoint succeeds again
        self._thread = threading.Thread(target=self._serve, name="stepline-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._due.set()

    def stop(self) -> None:
        self._stopping = True
        self._due.set()
        self._thread.join()
        self._db.close()

    def _serve(self) -> None:
        while self._due.wait() and not self._stopping:
            time.sleep(CHECKPOINT_SECONDS)
            if self._stopping:  # stop() set _due: cleared below, it would be waited for for ever
                return
            self._due.clear()
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._failing = False
            except sqlite3.DatabaseError as error:  # a full or failing disk: the log grows until the next one
                if not self._failing:
                    log.warning("could not checkpoint the store's write-ahead log: %s", error)
                self._failing = True


class _Thread:
    """A thread that runs work for the event loop, one job after another, in the order they were asked. A job asked
    while the thread idles is handed over at once; those asked while it works are handed over together at the end
    of the loop's turn, and their results come back in one call: the thread wakes once a turn at most, and the GIL
    changes hands as seldom (a hop between threads costs more than most queries do)."""

    def __init__(self, name: str) -> None:
        self._turn: list[_Job] = []  # the jobs asked while the thread works, handed over at the end of the turn
        self._handed = 0  # hand-overs whose results have not come back
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if not self._handed and not self._turn:
            self._hand_over([(future, work, args)])
        else:
            if not self._turn:
                future.get_loop().call_soon(self._hand_over_turn)
            self._turn.append((future, work, args))
        return await future

    def _hand_over_turn(self) -> None:
        jobs, self._turn = self._turn, []
        self._hand_over(jobs)

    def _hand_over(self, jobs: list[_Job]) -> None:
        self._handed += 1
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
                jobs[0][0].get_loop().call_soon_threadsafe(self._settle, outcomes)
            except RuntimeError:  # the loop is closed (the process is exiting): nobody waits any more
                pass

    def _settle(self, outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        self._handed -= 1
        for future, result, error in outcomes:
            if future.done():  # its caller was cancelled
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


_Job = tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


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
    """The thread's transaction (core.Transaction); what it does to leases waits for its COMMIT."""

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
    """Leases and timer claims of the executions of one process, kept by the store's thread."""

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
