"""`stepline db vacuum` and `stepline db backup` on real SQLite files, the backup while a server writes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

from stepline.runtime.store.base import ExecutionChange
from stepline.runtime.store.sqlite import SCHEMA
from stepline.service.app import open_store

from runtime.test_store_contract import T0, event, started
from serving import ROLE, StepLine


def stepline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stepline.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def pragma(path: Path, name: str) -> object:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def fill_and_delete(path: Path, executions: int) -> None:
    """Executions with long histories, the first half of them deleted (their space left free in the file)."""
    store = await open_store(str(path))
    try:
        for i in range(executions):
            arn = await started(store, f"e-{i}", events=40)
            await store.commit([ExecutionChange(arn, "SUCCEEDED", None, events=[event(41, "ExecutionSucceeded")],
                                                summary={"stopDate": T0, "output": "{}"})])
        purged = await store.purge_closed(T0.replace(year=2027), executions // 2, 2 * executions)  # 2 pages each
        assert purged.executions == executions // 2
    finally:
        await store.close()


def test_vacuum_shrinks_a_file_made_before_incremental_vacuum_and_turns_it_on(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:  # a file made by a stepline before auto_vacuum=INCREMENTAL
        db.executescript(SCHEMA["tables"])
    asyncio.run(fill_and_delete(path, 200))
    assert pragma(path, "auto_vacuum") == 0
    before = path.stat().st_size

    done = stepline("db", "vacuum", "--db", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: {before} bytes -> ")
    assert path.stat().st_size < before * 0.7
    assert pragma(path, "auto_vacuum") == 2  # INCREMENTAL: retention gives space back from now on

    async def remaining() -> list[int]:
        store = await open_store(str(path))
        try:
            return [len(await store.get_events(r.arn)) for r in await store.list_executions()]
        finally:
            await store.close()
    assert asyncio.run(remaining()) == [41] * 100


def test_a_new_file_gives_the_space_of_deleted_executions_back_as_retention_runs(tmp_path: Path) -> None:
    path = tmp_path / "new.db"

    async def run(purge: bool) -> int:
        store = await open_store(str(path))
        try:
            if not purge:
                for i in range(200):
                    arn = await started(store, f"e-{i}", events=40)
                    await store.commit([ExecutionChange(arn, "SUCCEEDED", None, summary={"stopDate": T0},
                                                        events=[event(41, "ExecutionSucceeded")])])
            else:
                assert (await store.purge_closed(T0.replace(year=2027), 200, 1000)).executions == 200
                while await store.reclaim_space(100):
                    pass
        finally:
            await store.close()  # the WAL is checkpointed into the file: its size is the store's
        return path.stat().st_size

    full, after = asyncio.run(run(purge=False)), asyncio.run(run(purge=True))
    assert pragma(path, "auto_vacuum") == 2
    assert after < full * 0.5


def test_upkeep_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    for args, says in [(["vacuum", "--db", "postgresql://127.0.0.1/test"], "autovacuum"),
                       (["backup", str(tmp_path / "copy.db"), "--db", "postgresql://127.0.0.1/test"], "pg_dump"),
                       (["backup", str(tmp_path / "copy.db"), "--db", str(tmp_path / "missing.db")], "No such file"),
                       (["vacuum", "--db", str(tmp_path / "missing.db")], "No such file")]:
        done = stepline("db", *args)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
        assert not (tmp_path / "missing.db").exists()


def test_a_backup_taken_while_a_server_writes_is_a_consistent_store(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "stepline.db")
    sfn = server.client()
    steps = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(10)}
    steps["S10"] = {"Type": "Pass", "End": True}
    machine = sfn.create_state_machine(name="Chain", roleArn=ROLE,
                                       definition=f'{{"StartAt": "S0", "States": {__import__("json").dumps(steps)}}}')
    stop = threading.Event()
    started_count = 0

    def write() -> None:
        nonlocal started_count
        while not stop.is_set():
            sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')
            started_count += 1

    writer = threading.Thread(target=write)
    writer.start()
    copies = []
    try:
        while started_count < 10:
            threading.Event().wait(0.05)
        for i in range(2):
            copy = tmp_path / f"copy-{i}.db"
            done = stepline("db", "backup", str(copy), "--db", str(server.db))
            assert done.returncode == 0, done.stderr
            copies.append(copy)
    finally:
        stop.set()
        writer.join()
        server.stop()

    async def check(path: Path) -> int:
        store = await open_store(str(path))
        try:
            executions = await store.list_executions()
            for record in executions:
                events = await store.get_events(record.arn)
                assert [e["id"] for e in events] == list(range(1, len(events) + 1))
                if record.status == "SUCCEEDED":
                    assert events[-1]["type"] == "ExecutionSucceeded" and len(events) == 24
            return len(executions)
        finally:
            await store.close()

    counts = []
    for copy in copies:
        assert pragma(copy, "integrity_check") == "ok"
        assert pragma(copy, "journal_mode") == "delete"  # one file, nothing beside it
        assert not Path(f"{copy}-wal").exists()
        counts.append(asyncio.run(check(copy)))
    assert 0 < counts[0] <= counts[1] <= started_count
