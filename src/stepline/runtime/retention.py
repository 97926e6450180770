"""Retention: closed executions, with their histories and every row of theirs, are deleted some days after they
closed (90 by default, as AWS keeps them), and so are the Map Runs of Express executions (not stored themselves)
that long after they began. Running executions are never touched.

The purge runs beside the engine in small steps, one transaction each with a pause between them (long enough
that the purge takes a tenth of the store's time at most), so that the commits of running executions wait
behind one small step at most: a step deletes a few executions and a few pages of history (a long history is
deleted over several steps, before its execution), which takes SQLite's thread about as long as one of the
engine's commits. Then the space it freed is given back to the file system in small steps too (SQLite;
PostgreSQL's autovacuum does it there). Which executions are old enough
is read from the runtime's clock (a virtual one in tests, which jumps ahead); how often the purge looks is real
time, since a virtual clock's sleep would move the executions' time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from stepline.runtime.store.base import Store, StoreError

log = logging.getLogger(__name__)

DAYS = 90.0  # AWS keeps closed executions 90 days
BATCH = 10  # executions per transaction at most
PAGES = 20  # pages of history (rows of up to 500 events: store/codec.py) per transaction at most
PAUSE_SECONDS = 0.005  # between two steps at least: the engine's commits asked meanwhile go first
SHARE = 0.1  # of the store's time the purge takes at most: after a step of d seconds, it pauses 9 d
INTERVAL_SECONDS = 600.0  # between two purges
EXPRESS_LONGEST = timedelta(minutes=5)  # an Express execution's longest run
RECLAIM_PAGES = 4  # pages (16 KiB by default) given back to the file system per step (each moves a page)


class Retention:
    """Deletes the executions that closed more than `days` ago: `purge()` once, `run()` every interval."""

    def __init__(self, store: Store, *, clock: Any, days: float = DAYS, batch: int = BATCH, pages: int = PAGES,
                 pause_seconds: float = PAUSE_SECONDS, interval_seconds: float = INTERVAL_SECONDS) -> None:
        if days <= 0 or batch < 1 or pages < 1:
            raise ValueError("retention needs days above 0, and a batch and pages of 1 or more")
        self.store = store
        self.clock = clock
        self.days = days
        self.batch = batch
        self.pages = pages
        self.pause_seconds = pause_seconds
        self.interval_seconds = interval_seconds

    async def purge(self) -> int:
        """Delete every execution that closed more than `days` ago, batch by batch, then give the space back;
        how many were deleted."""
        before = self.clock.now() - timedelta(days=self.days)
        deleted = 0
        while True:
            began = time.perf_counter()
            step = await self.store.purge_closed(before, self.batch, self.pages)
            deleted += step.executions
            if not step.more:
                break
            await self._pause(began)
        express = 0  # the Map Runs of Express executions, which have no row of their own to be deleted with
        express_before = min(before, self.clock.now() - EXPRESS_LONGEST)  # over, whatever the retention
        while True:
            began = time.perf_counter()
            purged = await self.store.purge_express_map_runs(express_before, self.batch)
            express += purged
            if purged < self.batch:
                break
            await self._pause(began)
        if deleted or express:  # until less than a step is left: the engine's own writes keep freeing a few pages
            while True:
                began = time.perf_counter()
                if await self.store.reclaim_space(RECLAIM_PAGES) < RECLAIM_PAGES:
                    break
                await self._pause(began)
            log.info("deleted %d executions closed before %s", deleted, before.isoformat(),
                     extra={"action": "retention", "executions": deleted})
        return deleted

    async def _pause(self, began: float) -> None:
        """Let the engine have the store: at least pause_seconds, and long enough for the purge's SHARE."""
        took = time.perf_counter() - began
        await asyncio.sleep(max(self.pause_seconds, took * (1 - SHARE) / SHARE))

    async def run(self) -> None:
        """Purge now and then every `interval_seconds`, until cancelled; a purge that fails is tried again then."""
        while True:
            try:
                await self.purge()
            except StoreError as error:
                log.warning("retention could not delete old executions: %s", error, extra={"action": "retention"})
            except Exception:  # a bug: said, and the purge tried again at the next interval rather than never
                log.exception("retention failed", extra={"action": "retention"})
            await asyncio.sleep(self.interval_seconds)
