"""A store written by an earlier stepline (schema version 2: one row per history event) opens in this one with
every history intact, and its executions go on where they were."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from stepline.runtime.store.base import ExecutionChange, Store, StoreError
from stepline.runtime.store.postgres import MIGRATIONS, upgrade
from stepline.service.app import open_store

from .conftest import Backend

pytestmark = pytest.mark.anyio

ARN = "arn:aws:states:us-east-1:123456789012:execution:Orders:old"
RECORD = json.dumps({"executionArn": ARN, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:"
                     "Orders", "name": "old", "status": "RUNNING", "startDate": 1767225600.0})
# Version 2's SQLite tables that version 3 changed (the others it creates when missing, as version 2 did).
SQLITE_VERSION_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE executions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    start_date REAL NOT NULL, map_run_arn TEXT, record TEXT NOT NULL, checkpoint TEXT, seq INTEGER NOT NULL);
CREATE TABLE events (
    execution INTEGER NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (execution, id)
) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '2');
"""


def event(id: int) -> dict:
    return {"id": id, "previousEventId": id - 1, "type": "PassStateEntered",
            "timestamp": f"2026-01-01T00:00:{id:02d}+00:00", "stateEnteredEventDetails": {"name": f"S{id}"}}


def write_version_2(backend: Backend, events: int) -> None:
    rows = [(id, json.dumps(event(id))) for id in range(1, events + 1)]
    if backend.name == "sqlite":
        with sqlite3.connect(backend.location) as connection:
            connection.executescript(SQLITE_VERSION_2)
            connection.execute("INSERT INTO executions VALUES (?, 'machine', 'old', 'RUNNING', 0, NULL, ?, '{}', 1)",
                               (ARN, RECORD))
            connection.executemany("INSERT INTO events VALUES (1, ?, ?)", rows)
        return
    backend.execute(f"CREATE SCHEMA {backend.schema}")
    for version in (1, 2):
        backend.execute(MIGRATIONS[version])
    backend.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    backend.execute("INSERT INTO executions (arn, state_machine_arn, name, status, start_date, record, checkpoint) "
                    "VALUES (?, 'machine', 'old', 'RUNNING', now(), ?, '{}')", (ARN, RECORD))
    for id, body in rows:
        backend.execute("INSERT INTO events VALUES (?, ?, ?)", (ARN, id, body))


async def opened_after_upgrade(backend: Backend) -> Store:
    """SQLite upgrades on open (one process owns the file); PostgreSQL, shared by workers of possibly different
    versions, refuses until `stepline db upgrade` has run."""
    if backend.name == "postgres":
        with pytest.raises(StoreError, match="older than this stepline's.*stepline db upgrade"):
            await open_store(backend.location)
        assert (await upgrade(backend.location))[0] == 2
    return await backend.open()


async def test_a_version_2_store_keeps_its_histories_and_goes_on(backend: Backend) -> None:
    write_version_2(backend, events=7)
    store = await opened_after_upgrade(backend)
    try:
        assert [e["id"] for e in await store.get_events(ARN)] == list(range(1, 8))
        assert [e["id"] for e in await store.get_events(ARN, reverse=True, limit=2)] == [7, 6]
        assert (await store.get_events(ARN, after=2, limit=1))[0]["stateEnteredEventDetails"] == {"name": "S3"}
        with pytest.raises(StoreError):  # the count of events came across: a gap is still refused
            await store.commit([ExecutionChange(ARN, "RUNNING", "{}", events=[event(9)])])
        await store.commit([ExecutionChange(ARN, "RUNNING", "{}", events=[event(8), event(9)])])
        assert [e["id"] for e in await store.get_events(ARN, after=6)] == [7, 8, 9]
    finally:
        await backend.close_all()



async def test_the_closed_executions_of_an_older_store_are_found_by_retention(backend: Backend) -> None:
    write_version_2(backend, events=3)
    closed_arn = ARN.replace(":old", ":closed")
    record = json.dumps({**json.loads(RECORD), "executionArn": closed_arn, "name": "closed", "status": "SUCCEEDED",
                         "stopDate": 1767225660.0})
    if backend.name == "sqlite":
        with sqlite3.connect(backend.location) as connection:
            connection.execute("INSERT INTO executions VALUES (?, 'machine', 'closed', 'SUCCEEDED', 0, NULL, ?, "
                               "NULL, 2)", (closed_arn, record))
            connection.execute("INSERT INTO events VALUES (2, 1, ?)", (json.dumps(event(1)),))
    else:
        backend.execute("INSERT INTO executions (arn, state_machine_arn, name, status, start_date, record) "
                        "VALUES (?, 'machine', 'closed', 'SUCCEEDED', now(), ?)", (closed_arn, record))
        backend.execute("INSERT INTO events VALUES (?, 1, ?)", (closed_arn, json.dumps(event(1))))
    store = await opened_after_upgrade(backend)
    try:
        stopped = datetime.fromtimestamp(1767225660.0, timezone.utc)
        assert (await store.purge_closed(stopped, 10, 10)).executions == 0  # closed at that moment, not before it
        assert (await store.purge_closed(stopped + timedelta(seconds=1), 10, 10)).executions == 1
        assert await store.get_execution(closed_arn) is None and await store.get_events(closed_arn) == []
        assert [e["id"] for e in await store.get_events(ARN)] == [1, 2, 3]  # the running one stays
    finally:
        await backend.close_all()
