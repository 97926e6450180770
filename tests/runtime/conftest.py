"""Store fixtures: every store test runs on SQLite and on PostgreSQL (the backend is a fixture parameter).

PostgreSQL is the server at STEPLINE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test). If it is
down, the session tries to start the local cluster once; if it is still down, the PostgreSQL tests fail (they
are never skipped). Each test gets a fresh schema, created by the store itself on first open (migrating an
empty schema takes about 25 ms, less than cloning a template database), and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stepline.runtime.store.base import Store
from stepline.service.app import open_store

POSTGRES_URL = os.environ.get("STEPLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> str | None:
    """None when PostgreSQL answers; else why not."""
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
        return None
    except psycopg.OperationalError as error:
        return str(error).strip()


def _start_local_cluster() -> None:
    """Start the Debian cluster of this machine (as CI's machine has it), when there is one."""
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The server's URL, once it answers; the test fails (never skips) when it cannot be reached."""
    problem = _reachable(POSTGRES_URL)
    if problem is not None:
        _start_local_cluster()
        problem = _reachable(POSTGRES_URL)
    if problem is not None:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is down ({problem}); start it or set STEPLINE_TEST_POSTGRES",
                    pytrace=False)
    return POSTGRES_URL


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    """One store's location, to open it (again, or a second time as another process would) and to reach it raw."""

    name: str
    location: str
    schema: str | None = None
    _admin_url: str | None = None
    opened: list[Store] = field(default_factory=list)

    async def open(self) -> Store:
        store = await open_store(self.location)
        self.opened.append(store)
        return store

    async def peer(self, store: Store) -> Store:
        """Another process's store on the same data (SQLite has one process: the same store)."""
        return store if self.name == "sqlite" else await self.open()

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """Run SQL on the store's tables, behind its back."""
        if self.name == "sqlite":
            import sqlite3

            with sqlite3.connect(self.location) as connection:
                connection.execute(statement, params)
        else:
            with psycopg.connect(self._admin_url, options=f"-c search_path={self.schema}", autocommit=True) as c:
                c.execute(statement.replace("?", "%s"), params)

    async def close_all(self) -> None:
        for store in reversed(self.opened):
            await store.close()
        self.opened.clear()


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "stepline.db"))
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Backend("postgres", _with_schema(url, schema), schema, url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    store = await backend.open()
    yield store
    await backend.close_all()
