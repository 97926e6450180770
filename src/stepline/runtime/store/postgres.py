"""The PostgreSQL store: several `stepline serve` processes on one database.

Reads take a pooled connection each. The writer's group commits (core.py) run on a pooled connection in
pipeline mode: a group of commits costs one round trip, two when leases are checked, plus one for each write
that reads an answer (create_execution, post_signal, ...). Each caller's await returns once its write is
committed (durable as the server's `synchronous_commit` says; on by default). A group's ExecutionChanges are
written with one statement per table, their rows sent as arrays through unnest.

Workers coordinate through rows: executions are claimed with leases (`FOR UPDATE SKIP LOCKED`) and their
commits carry the lease's fence; due timers and activity tasks are claimed the same way. LISTEN/NOTIFY wakes
workers; they poll as well, so a lost notification only delays. The schema is versioned (meta.schema_version,
migrations in sql/postgres_schema.sql) and lives in one PostgreSQL schema, named by `schema=` or by a
`schema` (or `options=-csearch_path=...`) parameter of the URL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.adapt import AdaptersMap
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool

from stepline.runtime.store.base import Lease, Notification, SchemaTooNew, StoreError, Timer
from stepline.runtime.store.codec import timer_from_row
from stepline.runtime.store.core import Params, Row, SqlStore, Transaction, failure, load_queries, sql_blocks

T = TypeVar("T")
SCHEMA_VERSION = 5
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)(::\w+\[\])?")


def _placeholders(query: str) -> str:
    """The queries' :name as psycopg's %(name)s; arrays (:name::type[]) in binary, %(name)b: text arrays are
    several times slower to send."""
    return _PARAMETER.sub(lambda m: f"%({m[1]})b{m[2]}" if m[2] else f"%({m[1]})s", query.replace("%", "%%"))


QUERIES = load_queries("postgres", _placeholders)
MIGRATIONS = {int(version): body for version, body in sql_blocks("postgres_schema.sql", "migration").items()}
assert max(MIGRATIONS) == SCHEMA_VERSION
_ADAPTERS = AdaptersMap(psycopg.adapters)
_ADAPTERS.register_loader("jsonb", TextLoader)  # records are read as the JSON text they are (orjson decodes it)


def _unavailable(error: psycopg.Error) -> bool:
    """The database is away or cannot write for now (a lost connection, a full disk, a restart, a read-only
    standby, a conflict to retry), whatever is written."""
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError,
                              psycopg.errors.ReadOnlySqlTransaction))


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
    return make_conninfo("", **params), schema, pool_size


async def upgrade(location: str, *, schema: str | None = None) -> tuple[int, int]:
    """`stepline db upgrade`: create or upgrade the schema; return (the version found, the version now)."""
    conninfo, schema, _ = connection_settings(location, schema)
    try:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
            return await _migrate(connection, schema, upgrade=True)
    except psycopg.Error as error:
        raise StoreError(f"Cannot upgrade the store: {error}") from None


async def _migrate(connection: psycopg.AsyncConnection[Any], schema: str | None, *,
                   upgrade: bool) -> tuple[int, int]:
    """Create the schema when empty (or upgrade it when asked); refuse one newer than this stepline knows."""
    async with connection.transaction():
        await connection.execute(QUERIES["lock_schema"], {"schema": schema or ""})
        if schema is not None:
            await connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        found = 0
        if await _value(connection, QUERIES["schema_exists"]):
            found = int(await _value(connection, QUERIES["schema_version"]) or 0)
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


async def _value(connection: psycopg.AsyncConnection[Any], query: str) -> Any:
    row = await (await connection.execute(query)).fetchone()
    return row[0] if row else None


class PostgresStore(SqlStore):
    """The store for several processes (see the module docstring). `statements` counts the statements that the
    group commits sent."""

    _connector: PostgresConnector

    @classmethod
    async def open(cls, location: str, *, schema: str | None = None, min_size: int = 2,
                   max_size: int | None = None) -> PostgresStore:
        """Connect, and create the schema if it is empty. `max_size` (else the URL's pool_size, else 10) bounds
        the connections of this process, listeners aside."""
        return cls(await PostgresConnector.open(location, schema=schema, min_size=min_size, max_size=max_size))

    @property
    def schema(self) -> str:
        return self._connector.schema

    @property
    def statements(self) -> int:
        return self._connector.statements


class PostgresConnector:
    """SqlStore's connector to one PostgreSQL schema: a pool of connections, leases in rows, LISTEN/NOTIFY."""

    placeholders = staticmethod(_placeholders)
    exclusive = False  # other processes write the same schema

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], conninfo: str, schema: str) -> None:
        self._pool = pool
        self.conninfo = conninfo
        self.schema = schema
        self.name = "The PostgreSQL store"
        self.queries = QUERIES
        self.statements = 0

    @classmethod
    async def open(cls, location: str, *, schema: str | None = None, min_size: int = 2,
                   max_size: int | None = None) -> PostgresConnector:
        conninfo, schema, pool_size = connection_settings(location, schema)
        max_size = max_size or pool_size or 10
        min_size = min(min_size, max_size)
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                await _migrate(connection, schema, upgrade=False)
                if schema is None:
                    schema = str(await _value(connection, "SELECT current_schema()"))
            pool = AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False,
                                       kwargs={"autocommit": True, "context": _ADAPTERS}, name=f"stepline-{schema}")
            await pool.open(wait=True, timeout=30)
        except psycopg.Error as error:
            raise StoreError(f"Cannot open the store: {error}") from None
        except TimeoutError:  # the pool could not make its first connections
            raise StoreError("Cannot open the store: no connection to PostgreSQL within 30 seconds") from None
        return cls(pool, conninfo, schema)

    async def close(self) -> None:
        await self._pool.close()

    async def reclaim_space(self, pages: int) -> int:
        """Nothing to do: autovacuum makes deleted rows' space reusable (VACUUM FULL would lock the tables)."""
        return 0

    # ------------------------------------------------------------------ reads and the writer's transactions

    async def fetch(self, query: str, params: Params) -> list[Row]:
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(query, params)
                return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            raise failure(self.name, "read", error, _unavailable(error)) from None

    async def transact(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        """BEGIN ... COMMIT sent in pipeline mode: one round trip, plus one for each answer read on the way.
        psycopg's transaction() would add three."""
        try:
            async with self._pool.connection() as connection:
                try:
                    async with connection.pipeline():
                        transaction = _PostgresTransaction(self, connection.cursor())
                        await transaction.execute("BEGIN", {})
                        result = await work(transaction)
                        await transaction.execute("COMMIT", {})
                except BaseException:
                    await _roll_back(connection)
                    raise
        except psycopg.Error as error:
            raise failure(self.name, "written", error, _unavailable(error)) from None
        self.statements += transaction.statements
        return result

    # ------------------------------------------------------------------ leases and wake-ups

    async def _rows(self, name: str, /, **params: Any) -> list[Row]:
        return await self.fetch(QUERIES[name], params)

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
        expires = now + timedelta(seconds=lease_seconds)
        rows = await self._rows("renew_leases", expires=expires, arns=[lease.execution_arn for lease in leases],
                                workers=[lease.worker for lease in leases], fences=[lease.fence for lease in leases])
        kept = {arn for (arn,) in rows}
        return [Lease(lease.execution_arn, lease.worker, lease.fence, expires)
                for lease in leases if lease.execution_arn in kept]

    async def release_leases(self, leases: list[Lease], *, waiting: bool = False) -> None:
        await self._rows("park_leases" if waiting else "release_leases",
                         arns=[lease.execution_arn for lease in leases], fences=[lease.fence for lease in leases])

    async def claim_due_timers(self, worker: str, now: datetime, limit: int, claim_seconds: float) -> list[Timer]:
        rows = await self._rows("claim_due_timers", worker=worker, now=now, limit=limit,
                                until=now + timedelta(seconds=claim_seconds))
        return sorted((timer_from_row(row) for row in rows), key=lambda timer: timer.due)

    async def end_claims(self, worker: str) -> None:
        await self._rows("end_lease_claims", worker=worker)
        await self._rows("end_timer_claims", worker=worker)

    def channel(self, channel: str) -> str:
        """The PostgreSQL channel of a stepline channel: namespaced by the schema, so stores never cross."""
        return f"{self.schema}.{channel}"

    async def notify(self, channel: str, payload: str = "") -> None:
        await self._rows("notify", channel=self.channel(channel), payload=payload)

    def listen(self, channels: list[str]) -> _PostgresListener:
        return _PostgresListener(self, list(channels))


class _PostgresTransaction:
    """The writer's transaction (core.Transaction) on a cursor in pipeline mode: only reading an answer waits."""

    def __init__(self, connector: PostgresConnector, cursor: psycopg.AsyncCursor[Row]) -> None:
        self._connector = connector
        self._cursor = cursor
        self.statements = 0

    async def fetch(self, query: str, params: Params) -> list[Row]:
        await self.execute(query, params)
        return await self._cursor.fetchall()

    async def execute(self, query: str, params: Params) -> None:
        self.statements += 1
        await self._cursor.execute(query, params)

    async def execute_many(self, query: str, rows: list[dict[str, Any]]) -> None:
        await self.execute(query, {key: [row[key] for row in rows] for key in rows[0]})

    async def fences(self, execution_arns: list[str]) -> dict[str, int]:
        return dict(await self.fetch(QUERIES["current_fences"], {"arns": execution_arns}))

    async def hold(self, lease: Lease) -> None:
        """Nothing to do: create_execution wrote the lease."""

    async def ended(self, execution_arns: list[str]) -> None:
        """Nothing to do: claims take only running executions."""

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute(QUERIES["notify"], {"channel": self._connector.channel(channel), "payload": payload})


class _PostgresListener:
    """LISTEN on a connection of its own (outside the pool); a reader task queues what arrives."""

    def __init__(self, connector: PostgresConnector, channels: list[str]) -> None:
        self._connector = connector
        self._names = {connector.channel(channel): channel for channel in channels}
        self._queue: asyncio.Queue[Notification | BaseException] = asyncio.Queue()
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncIterator[Notification]:
        try:
            self._connection = await psycopg.AsyncConnection.connect(self._connector.conninfo, autocommit=True)
            for name in self._names:
                await self._connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            await self.__aexit__()
            raise StoreError(f"Cannot listen for notifications: {error}") from None
        self._reader = asyncio.get_running_loop().create_task(self._read(self._connection))
        return self

    async def _read(self, connection: psycopg.AsyncConnection[Any]) -> None:
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


async def _roll_back(connection: psycopg.AsyncConnection[Any]) -> None:
    """End a failed transaction before the connection goes back to the pool (a broken one is discarded there)."""
    if connection.info.transaction_status != TransactionStatus.IDLE:
        try:
            await connection.execute("ROLLBACK")
        except psycopg.Error:
            pass
