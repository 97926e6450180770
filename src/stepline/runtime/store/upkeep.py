"""A SQLite store's upkeep: `stepline db vacuum` and `stepline db backup`, from a connection of their own.

A file made by this stepline has auto_vacuum=INCREMENTAL, so the pages retention frees go back to the file system
as it runs (sqlite.py). `vacuum` rewrites the file without its free pages, and turns incremental vacuum on for a
file made before (SQLite can only change that by rewriting the file). It takes the file's write lock for as long
as it rewrites it: a running server's writes wait meanwhile (and fail past its 5 s busy timeout), so run it while
no server writes, or when a pause does not matter.

`backup` copies the store while servers read and write it: SQLite's backup API copies every page in one step,
inside one read transaction, which in WAL mode sees one commit and does not block writers. The copy is written
beside the target and renamed onto it once complete, so the target is never half a store.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from stepline.runtime.store.base import StoreError

BUSY_MILLISECONDS = 60_000  # how long vacuum waits for a server's write to end


def vacuum(path: str) -> tuple[int, int]:
    """Rewrite the store without its free pages, with incremental vacuum on; its size before and after, in bytes."""
    before = _size(path)
    try:
        with closing(_connect(path)) as db:
            db.execute(f"PRAGMA busy_timeout={BUSY_MILLISECONDS}")
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # applies through the VACUUM below
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.Error as error:
        raise StoreError(f"Cannot vacuum the store {path}: {error}") from None
    return before, _size(path)


def backup(path: str, target: str) -> int:
    """Copy the store to `target` (replaced when it exists) as one consistent snapshot; the copy's size in bytes."""
    if Path(target).resolve() == Path(path).resolve():
        raise StoreError(f"The backup {target} would overwrite the store itself")
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with closing(_connect(path)) as source, closing(sqlite3.connect(partial, isolation_level=None)) as copy:
            source.backup(copy)  # every page in one step: one read transaction, one commit's state
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, without a -wal beside it
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        Path(partial).unlink(missing_ok=True)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise StoreError(f"Cannot back up the store {path} to {target}: {reason}") from None
    return _size(target)


def _connect(path: str) -> sqlite3.Connection:
    """The store's file, which must exist (never an empty store made by mistake)."""
    if not Path(path).is_file():
        raise StoreError(f"Cannot read the store {path}: No such file")
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)


def _size(path: str) -> int:
    return Path(path).stat().st_size
