"""The embedded store: one SQLite file in WAL mode, one connection, one writer with group commit.

Writes issued during one turn of the event loop are committed in one transaction (BEGIN IMMEDIATE ...
COMMIT) at the end of that turn; each caller's await returns once its write is durable. synchronous=NORMAL
in WAL mode: a commit survives the process being killed (kill -9) at any moment; an operating-system crash
or power loss may lose the last commits before the next checkpoint (set STEPLINE_SQLITE_SYNCHRONOUS=FULL to
survive those too, at the cost of an fsync per group commit).

One process owns the file, so leases, timer claims and notifications live in memory: they matter only while
the process runs. After a restart every running execution counts as left by a worker whose lease expired (the
previous process's), so the first claims take them all, as recovery must.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.store.codec import date as _date
from stepline.runtime.store.codec import decode_record as _decode
from stepline.runtime.store.codec import encode_events as _events_text
from stepline.runtime.store.codec import event_window, events_between, follow_one_another, history_pages
from stepline.runtime.store.codec import encode_record as _encode
from stepline.runtime.store.codec import epoch as _epoch
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

# primary result codes of a database that cannot be written for now, whatever is written (a full, read-only or
# failing disk; the file locked by another process)
_UNAVAILABLE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL}


def _unavailable(error: sqlite3.DatabaseError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _UNAVAILABLE

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, arn TEXT NOT NULL, parent TEXT, record TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kind, arn));
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (kind, parent, seq);
CREATE TABLE IF NOT EXISTS tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
CREATE TABLE IF NOT EXISTS definitions (digest TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    start_date REAL NOT NULL, map_run_arn TEXT, record TEXT NOT NULL, checkpoint TEXT, seq INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0);  -- how many events its history holds
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS executions_running ON executions (status) WHERE status = 'RUNNING';
CREATE TABLE IF NOT EXISTS history (  -- pages of events (codec.py), keyed by the execution's seq (a small index)
    execution INTEGER NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, bodies TEXT NOT NULL,
    PRIMARY KEY (execution, first_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
    execution_arn TEXT NOT NULL, thread TEXT NOT NULL, kind TEXT NOT NULL, token INTEGER NOT NULL, due REAL NOT NULL,
    PRIMARY KEY (execution_arn, thread, kind));
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due);
CREATE TABLE IF NOT EXISTS tasks (
    execution_arn TEXT NOT NULL, thread TEXT NOT NULL, token INTEGER NOT NULL, effect TEXT NOT NULL,
    task_token TEXT, activity_arn TEXT, worker TEXT, seq INTEGER NOT NULL,
    PRIMARY KEY (execution_arn, thread));
CREATE INDEX IF NOT EXISTS tasks_by_token ON tasks (task_token);
CREATE INDEX IF NOT EXISTS tasks_by_activity ON tasks (activity_arn, worker, seq);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, execution_arn TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS signals_by_execution ON signals (execution_arn, id);
CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, record TEXT NOT NULL, heartbeat REAL NOT NULL);
"""
# Versions 1 and 2 kept one row per event (version 2 only added tables).
_PAGED_HISTORY = """
ALTER TABLE executions ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
INSERT INTO history SELECT execution, id, id, '[' || body || ']' FROM events;
UPDATE executions SET events = (SELECT count(*) FROM events WHERE execution = executions.seq);
DROP TABLE events;
"""
class SqliteStore:
    """The default store (see the module docstring for what a commit survives)."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self.path = path
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self._flush_scheduled = False
        self._seq = 0
        self._leases: dict[str, Lease] = {}
        self._fences: dict[str, int] = {}  # the last fence handed out per execution (0: never claimed)
        self._timer_claims: dict[tuple[str, str, str], tuple[str, datetime, int, datetime]] = {}
        self._orphaned: set[str] = set()  # running when the store was opened: the previous process held them
        self._listeners: dict[str, set[asyncio.Queue[Notification]]] = {}
        self.transactions = 0  # group commits so far
        self._outage = Outage(f"The store {path}")

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        path = str(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            synchronous = os.environ.get("STEPLINE_SQLITE_SYNCHRONOUS", "NORMAL").upper()
            connection.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute("PRAGMA foreign_keys=OFF")
            connection.executescript(_SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise SchemaTooNew(f"The store {path} has schema version {row[0]}, newer than this stepline "
                                 f"understands ({SCHEMA_VERSION}); upgrade stepline")
            if row is not None and int(row[0]) < 3:
                connection.executescript(f"BEGIN IMMEDIATE; {_PAGED_HISTORY} COMMIT;")
            if row is None or int(row[0]) < SCHEMA_VERSION:
                connection.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE "
                                   "SET value = excluded.value", (str(SCHEMA_VERSION),))
            connection.execute("PRAGMA quick_check")
            connection.execute("BEGIN IMMEDIATE")  # fails now, not at the first commit, when it cannot write
            connection.execute("ROLLBACK")
        except sqlite3.DatabaseError as error:
            raise StoreError(f"Cannot open the store {path}: {error}") from None
        except OSError as error:
            raise StoreError(f"Cannot open the store {path}: {error.strerror}") from None
        store = cls(connection, path)
        store._seq = max(store._scalar("SELECT MAX(seq) FROM resources") or 0,
                         store._scalar("SELECT MAX(seq) FROM executions") or 0,
                         store._scalar("SELECT MAX(seq) FROM tasks") or 0)
        store._orphaned = {row[0] for row in store._rows("SELECT arn FROM executions WHERE status = 'RUNNING'")}
        return store

    async def close(self) -> None:
        if self._pending:
            self._flush()
        self._db.close()

    # ------------------------------------------------------------------ reads and the writer

    def _scalar(self, sql: str, *args: Any) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return row[0] if row else None

    def _rows(self, sql: str, *args: Any) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as error:
            kind = StoreUnavailable if _unavailable(error) else StoreError
            raise kind(f"The store {self.path} cannot be read: {error}") from None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _write(self, operation: Callable[[sqlite3.Connection], Any]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((operation, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return future

    def _flush(self) -> None:
        """Group commit: every write queued since the last flush, in one transaction."""
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]]) -> None:
        results = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for operation, _ in batch:
                results.append(operation(self._db))
            self._db.execute("COMMIT")
            self.transactions += 1
            self._outage.ended()
        except sqlite3.DatabaseError as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if len(batch) > 1:  # one bad write must not fail the others: each again in its own transaction
                for item in batch:
                    self._commit_batch([item])
                return
            failure = (self._outage.failed(str(error)) if _unavailable(error)
                       else StoreError(f"The store {self.path} cannot be written: {error}"))
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, LeaseLost):  # refused before writing anything; the others committed
                future.set_exception(result)
            else:
                future.set_result(result)

    # ------------------------------------------------------------------ resources

    async def create_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> bool:
        seq = self._next_seq()

        def insert(db: sqlite3.Connection) -> bool:
            cursor = db.execute("INSERT OR IGNORE INTO resources VALUES (?, ?, ?, ?, ?)",
                                (kind, arn, parent, _encode(record), seq))
            return cursor.rowcount == 1
        return await self._write(insert)

    async def put_resource(self, kind: str, arn: str, record: dict, *, parent: str | None = None) -> None:
        seq = self._next_seq()
        await self._write(lambda db: db.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, arn) DO UPDATE SET record = excluded.record",
            (kind, arn, parent, _encode(record), seq)))

    async def get_resource(self, kind: str, arn: str) -> dict | None:
        rows = self._rows("SELECT record FROM resources WHERE kind = ? AND arn = ?", kind, arn)
        return _decode(rows[0][0]) if rows else None

    async def list_resources(self, kind: str, *, parent: str | None = None) -> list[dict]:
        if parent is None:
            rows = self._rows("SELECT record FROM resources WHERE kind = ? ORDER BY seq", kind)
        else:
            rows = self._rows("SELECT record FROM resources WHERE kind = ? AND parent = ? ORDER BY seq", kind, parent)
        return [_decode(row[0]) for row in rows]

    async def delete_resource(self, kind: str, arn: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM tags WHERE arn = ?", (arn,))
            return db.execute("DELETE FROM resources WHERE kind = ? AND arn = ?", (kind, arn)).rowcount == 1
        return await self._write(delete)

    async def get_tags(self, arn: str) -> dict[str, str]:
        return dict(self._rows("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", arn))

    async def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        await self._write(lambda db: db.executemany(
            "INSERT INTO tags VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
            [(arn, key, value) for key, value in tags.items()]))

    async def remove_tags(self, arn: str, keys: list[str]) -> None:
        await self._write(lambda db: db.executemany("DELETE FROM tags WHERE arn = ? AND key = ?",
                                                    [(arn, key) for key in keys]))

    # ------------------------------------------------------------------ definitions

    async def put_definition(self, digest: str, definition: str) -> None:
        await self._write(lambda db: db.execute("INSERT OR IGNORE INTO definitions VALUES (?, ?)",
                                                (digest, definition)))

    async def get_definition(self, digest: str) -> str | None:
        return self._scalar("SELECT definition FROM definitions WHERE digest = ?", digest)

    # ------------------------------------------------------------------ executions

    async def create_execution(self, record: dict, *, lease: Lease | None = None) -> dict | None:
        seq = self._next_seq()

        def insert(db: sqlite3.Connection) -> dict | None:
            cursor = db.execute(
                "INSERT OR IGNORE INTO executions VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, 0)",
                (record["executionArn"], record["stateMachineArn"], record["name"], record["status"],
                 _epoch(record["startDate"]), record.get("mapRunArn"), _encode(record), seq))
            if cursor.rowcount == 1:
                if lease is not None:
                    self._leases[lease.execution_arn] = lease
                    self._fences[lease.execution_arn] = lease.fence
                return None
            row = db.execute("SELECT record FROM executions WHERE arn = ?", (record["executionArn"],)).fetchone()
            return _decode(row[0])
        return await self._write(insert)

    async def get_execution(self, arn: str) -> dict | None:
        rows = self._rows("SELECT record FROM executions WHERE arn = ?", arn)
        return _decode(rows[0][0]) if rows else None

    async def list_executions(self, *, state_machine_arn: str | None = None, status: str | None = None,
                              map_run_arn: str | None = None, name: str | None = None, after: str | None = None,
                              limit: int | None = None) -> list[dict]:
        clauses, args = [], []
        for column, value in (("state_machine_arn", state_machine_arn), ("status", status),
                              ("map_run_arn", map_run_arn), ("name", name)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if after is not None:
            clauses.append("seq < (SELECT seq FROM executions WHERE arn = ?)")
            args.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(f"SELECT record FROM executions {where} ORDER BY seq DESC LIMIT ?", *args,
                          -1 if limit is None else limit)
        return [_decode(row[0]) for row in rows]

    async def update_execution(self, arn: str, summary: dict, status: str | None = None) -> None:
        await self._write(lambda db: self._update(db, arn, summary, status))

    def _update(self, db: sqlite3.Connection, arn: str, summary: dict, status: str | None) -> None:
        row = db.execute("SELECT record FROM executions WHERE arn = ?", (arn,)).fetchone()
        if row is None:
            return
        record = _decode(row[0])
        record.update(summary)
        if status is not None:
            record["status"] = status
        db.execute("UPDATE executions SET record = ?, status = ? WHERE arn = ?",
                   (_encode(record), record["status"], arn))

    async def get_events(self, arn: str, *, after: int = 0, limit: int = 1000, reverse: bool = False) -> list[dict]:
        execution = self._rows("SELECT seq, events FROM executions WHERE arn = ?", arn)
        if not execution:
            return []
        seq, count = execution[0]
        if reverse and not after:
            after = count + 1
        first, last = event_window(after, limit, reverse)
        pages = self._rows("SELECT bodies FROM history WHERE execution = ? AND first_id <= ? AND last_id >= ? "
                           "ORDER BY first_id", seq, last, first)
        return events_between([page for (page,) in pages], first, last, reverse)

    async def get_checkpoint(self, arn: str) -> str | None:
        return self._scalar("SELECT checkpoint FROM executions WHERE arn = ?", arn)

    async def load_executions(self, arns: list[str]) -> dict[str, tuple[dict, str | None]]:
        return {arn: (_decode(record), checkpoint) for chunk in _chunks(arns) for arn, record, checkpoint in self._rows(
            f"SELECT arn, record, checkpoint FROM executions WHERE arn IN ({','.join('?' * len(chunk))})", *chunk)}

    # ------------------------------------------------------------------ the runtime

    async def commit(self, changes: list[ExecutionChange]) -> None:
        seqs = [self._next_seq() for change in changes for _ in change.tasks]
        await self._write(lambda db: self._apply(db, changes, iter(seqs)))

    def _apply(self, db: sqlite3.Connection, changes: list[ExecutionChange], seqs: Any) -> LeaseLost | None:
        stale = [c.execution_arn for c in changes
                 if c.fence is not None and c.fence != self._fences.get(c.execution_arn, 0)]
        if stale:
            return LeaseLost(stale)
        for change in changes:
            arn = change.execution_arn
            if change.events:
                self._add_events(db, arn, change.events)
            if change.summary:
                self._update(db, arn, change.summary, change.status)
            if change.status is not None:
                db.execute("UPDATE executions SET status = ?, checkpoint = ? WHERE arn = ?",
                           (change.status, change.checkpoint, arn))
            if change.cancelled_timers:
                db.executemany("DELETE FROM timers WHERE execution_arn = ? AND thread = ? AND kind = ?",
                               [(arn, thread, kind) for thread, kind in change.cancelled_timers])
            if change.timers:
                db.executemany("INSERT INTO timers VALUES (?, ?, ?, ?, ?) ON CONFLICT (execution_arn, thread, kind) "
                               "DO UPDATE SET token = excluded.token, due = excluded.due",
                               [(arn, t.thread, t.kind, t.token, _epoch(t.due)) for t in change.timers])
            if change.finished_tasks:
                db.executemany("DELETE FROM tasks WHERE execution_arn = ? AND thread = ?",
                               [(arn, thread) for thread in change.finished_tasks])
            if change.tasks:
                db.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (execution_arn, "
                               "thread) DO UPDATE SET token = excluded.token, effect = excluded.effect, "
                               "task_token = excluded.task_token, activity_arn = excluded.activity_arn, worker = NULL",
                               [(arn, t.thread, t.token, dumps(t.effect), t.task_token, t.activity_arn, next(seqs))
                                for t in change.tasks])
            if change.consumed_signals:
                db.executemany("DELETE FROM signals WHERE id = ?", [(id,) for id in change.consumed_signals])
            if change.status not in ("RUNNING", None):
                db.execute("DELETE FROM timers WHERE execution_arn = ?", (arn,))
                db.execute("DELETE FROM tasks WHERE execution_arn = ?", (arn,))
                db.execute("DELETE FROM signals WHERE execution_arn = ?", (arn,))
                self._leases.pop(arn, None)  # a lease of an ended execution means nothing: keep memory flat
                self._fences.pop(arn, None)
        return None

    @staticmethod
    def _add_events(db: sqlite3.Connection, arn: str, events: list[dict]) -> None:
        first, last = events[0]["id"], events[-1]["id"]
        row = db.execute("UPDATE executions SET events = ? WHERE arn = ? AND events = ? RETURNING seq",
                         (last, arn, first - 1)).fetchone()
        if row is None or not follow_one_another(events):
            raise sqlite3.IntegrityError(f"events {first}..{last} do not continue the history of {arn}")
        db.executemany("INSERT INTO history VALUES (?, ?, ?, ?)",
                       [(row[0], page[0]["id"], page[-1]["id"], _events_text(page)) for page in history_pages(events)])

    async def running_executions(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY seq")]

    async def due_timers(self, now: datetime, limit: int) -> list[Timer]:
        rows = self._rows("SELECT execution_arn, thread, kind, token, due FROM timers WHERE due <= ? ORDER BY due "
                          "LIMIT ?", _epoch(now), limit)
        return [Timer(arn, thread, kind, token, _date(due)) for arn, thread, kind, token, due in rows]

    async def next_timer_due(self) -> datetime | None:
        due = self._scalar("SELECT MIN(due) FROM timers")
        return _date(due) if due is not None else None

    async def pending_tasks(self, arn: str | None = None, *, among: list[str] | None = None) -> list[PendingTask]:
        sql = "SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker, seq FROM tasks"
        if among is not None:
            rows = sorted((row for chunk in _chunks(among) for row in self._rows(
                sql + f" WHERE execution_arn IN ({','.join('?' * len(chunk))})", *chunk)), key=lambda row: row[7])
        elif arn:
            rows = self._rows(sql + " WHERE execution_arn = ? ORDER BY seq", arn)
        else:
            rows = self._rows(sql + " ORDER BY seq")
        return [_task(row[:7]) for row in rows]

    async def find_task(self, task_token: str) -> PendingTask | None:
        rows = self._rows("SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks "
                          "WHERE task_token = ?", task_token)
        return _task(rows[0]) if rows else None

    async def claim_activity_task(self, activity_arn: str, worker: str) -> PendingTask | None:
        def claim(db: sqlite3.Connection) -> PendingTask | None:
            row = db.execute("SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks "
                             "WHERE activity_arn = ? AND worker IS NULL ORDER BY seq LIMIT 1",
                             (activity_arn,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE tasks SET worker = ? WHERE execution_arn = ? AND thread = ?", (worker, row[0], row[1]))
            return _task(row[:6] + (worker,))
        return await self._write(claim)

    # ------------------------------------------------------------------ leases and wake-ups (in memory)

    async def claim_runnable(self, worker: str, lease_seconds: float, limit: int, *, now: datetime,
                             execution_arns: list[str] | None = None) -> list[Lease]:
        if execution_arns is not None:
            rows = [row for chunk in _chunks(execution_arns) for row in self._rows(
                f"SELECT arn, seq FROM executions WHERE status = 'RUNNING' AND arn IN ({','.join('?' * len(chunk))})",
                *chunk)]
        else:  # the executions that need a worker (see Store.claim_runnable)
            rows = self._rows("SELECT arn, seq FROM executions WHERE status = 'RUNNING' AND (checkpoint IS NULL OR "
                              "arn IN (SELECT execution_arn FROM signals))")
            left = self._orphaned | {arn for arn, lease in self._leases.items() if lease.expires <= now}
            if left:
                found = [row for chunk in _chunks(list(left)) for row in self._rows(
                    f"SELECT arn, seq FROM executions WHERE status = 'RUNNING' AND arn IN "
                    f"({','.join('?' * len(chunk))})", *chunk)]
                self._orphaned.intersection_update(arn for arn, _ in found)  # the ended ones need nobody
                rows += found
        claimed: list[Lease] = []
        expires = now + timedelta(seconds=lease_seconds)
        for arn, _ in sorted(set(rows), key=lambda row: row[1]):
            if len(claimed) >= limit:
                break
            held = self._leases.get(arn)
            if held is not None and held.expires > now:
                continue
            fence = self._fences.get(arn, 0) + 1
            self._fences[arn] = fence
            self._leases[arn] = lease = Lease(arn, worker, fence, expires)
            self._orphaned.discard(arn)
            claimed.append(lease)
        return claimed

    async def renew_leases(self, leases: list[Lease], lease_seconds: float, *, now: datetime) -> list[Lease]:
        renewed = []
        for lease in leases:
            held = self._leases.get(lease.execution_arn)
            if held is not None and held.fence == lease.fence:
                held = Lease(lease.execution_arn, lease.worker, lease.fence, now + timedelta(seconds=lease_seconds))
                self._leases[lease.execution_arn] = held
                renewed.append(held)
        return renewed

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        for lease in leases:
            held = self._leases.get(lease.execution_arn)
            if held is not None and held.fence == lease.fence:
                if waiting:  # parked: nobody holds it, nobody needs to
                    del self._leases[lease.execution_arn]
                else:  # handed back: an expired lease, which the next claim takes
                    self._leases[lease.execution_arn] = Lease(lease.execution_arn, lease.worker, lease.fence,
                                                              _LONG_AGO)

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        self._timer_claims = {key: claim for key, claim in self._timer_claims.items() if claim[1] > now}
        claimed: list[Timer] = []
        for timer in await self.due_timers(now, 2**31):
            if len(claimed) >= limit:
                break
            key = (timer.execution_arn, timer.thread, timer.kind)
            claim = self._timer_claims.get(key)
            if claim is not None and (claim[2], claim[3]) == (timer.token, timer.due):
                continue  # claimed, and not set again since
            held = self._leases.get(timer.execution_arn)
            if held is not None and held.worker != worker and held.expires > now:
                continue
            self._timer_claims[key] = (worker, now + timedelta(seconds=claim_seconds), timer.token, timer.due)
            claimed.append(timer)
        return claimed

    async def notify(self, channel: str, payload: str = "") -> None:
        for queue in self._listeners.get(channel, ()):
            queue.put_nowait(Notification(channel, payload))

    def listen(self, channels: list[str]) -> _LocalListener:
        return _LocalListener(self._listeners, channels)

    # ------------------------------------------------------------------ the inbox and the workers

    async def post_signal(self, execution_arn: str, kind: str, payload: JSON = None) -> int:
        text = dumps(payload)
        id = await self._write(lambda db: db.execute("INSERT INTO signals (execution_arn, kind, payload) "
                                                     "VALUES (?, ?, ?)", (execution_arn, kind, text)).lastrowid)
        await self.notify("signals", execution_arn)
        return id

    async def signals(self, execution_arns: list[str] | None = None, *, limit: int = 1000) -> list[InboxSignal]:
        sql = "SELECT id, execution_arn, kind, payload FROM signals"
        if execution_arns is None:
            rows = self._rows(sql + " ORDER BY id LIMIT ?", limit)
        else:
            rows = sorted(row for chunk in _chunks(execution_arns) for row in self._rows(
                sql + f" WHERE execution_arn IN ({','.join('?' * len(chunk))})", *chunk))[:limit]
        return [InboxSignal(id, arn, kind, loads(payload)) for id, arn, kind, payload in rows]

    async def report_worker(self, name: str, record: dict, *, now: datetime) -> None:
        text = dumps(record)
        await self._write(lambda db: db.execute(
            "INSERT INTO workers VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET record = excluded.record, "
            "heartbeat = excluded.heartbeat", (name, text, _epoch(now))))

    async def list_workers(self) -> list[dict]:
        return [{**loads(record), "name": name, "heartbeat": _date(heartbeat)}
                for name, record, heartbeat in self._rows("SELECT name, record, heartbeat FROM workers ORDER BY name")]

    async def remove_worker(self, name: str) -> None:
        await self._write(lambda db: db.execute("DELETE FROM workers WHERE name = ?", (name,)))

    async def end_claims(self, worker: str) -> None:
        """Claims live in memory: a new process starts with none."""


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


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """Lists of at most `size` (SQLite limits the parameters of one statement)."""
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _task(row: tuple) -> PendingTask:
    arn, thread, token, effect, task_token, activity_arn, worker = row
    return PendingTask(arn, thread, token, loads(effect), task_token, activity_arn, worker)

