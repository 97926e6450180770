"""Store fixtures: every store test runs on SQLite and on PostgreSQL (the backend is a fixture parameter).

Each PostgreSQL test gets a fresh schema (tests/conftest.py), created by the store itself on first open
(migrating an empty schema takes about 25 ms, less than cloning a template database), and dropped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stepline.runtime.store.base import Store
from stepline.service.app import open_store
from support import fresh_schema


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


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "stepline.db"))
        return
    url = request.getfixturevalue("postgres_url")
    with fresh_schema(url) as (location, schema):
        yield Backend("postgres", location, schema, url)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    store = await backend.open()
    yield store
    await backend.close_all()
