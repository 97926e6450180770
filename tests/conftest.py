"""The PostgreSQL server the tests use: STEPLINE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test).
If it is down, the session tries to start the local cluster once; if it is still down, the PostgreSQL tests fail
(they are never skipped). Every test works in a schema of its own, so runs never collide."""

from __future__ import annotations

import os
from collections.abc import Iterator
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from aws_services import aws_environment

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

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
async def service(tmp_path: Path):
    """The application on a fresh SQLite store, on virtual time (a Wait or a retry interval takes no time)."""
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0))
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process's AWS calls go to moto's server (tests/aws_services.py); change more of the environment through
    the returned monkeypatch."""
    for name, value in aws_environment().items():
        monkeypatch.setenv(name, value)
    yield monkeypatch
