"""`make bench-retention`: retention over 100,000 closed executions on a virtual clock, on the SQLite store.

A server (the service and its runtime, in process) holds 1,000 running executions (each waiting on an activity)
and 100,000 closed ones with their histories, closed more than 90 days before the clock. StartExecution's latency
is measured at 200 calls a second with nothing else going on, then while the purge deletes the closed executions
and gives their space back; the figures are the p50 and p99 of each and their ratio (target: p99 during the purge
within 2x of without; the ratio is given for each of the purge's two phases too), how long the purge took,
the store's size before and after, and whether the running executions are untouched. Prints a table and writes
build/bench-retention.json. Options: --closed N, --running N, --starts N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stepline.runtime.clock import VirtualClock
from stepline.runtime.retention import Retention
from stepline.runtime.store.base import ExecutionChange, Store
from stepline.runtime.store.records import ExecutionRecord
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PASS = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}}'
CHUNK = 500  # closed executions written per round of concurrent commits
RATE = 200  # StartExecution calls a second while latencies are measured: a busy server, not a saturated one


def closed_history(start: datetime) -> list[dict]:
    """The seven events of a two-Pass execution that succeeded."""
    details = {"input": '{"order": 1}', "inputDetails": {"truncated": False}}
    kinds = [("ExecutionStarted", {"executionStartedEventDetails": {**details, "roleArn": "arn:aws:iam::1:role/r"}}),
             ("PassStateEntered", {"stateEnteredEventDetails": {**details, "name": "A"}}),
             ("PassStateExited", {"stateExitedEventDetails": {"name": "A", "output": '{"order": 1}'}}),
             ("PassStateEntered", {"stateEnteredEventDetails": {**details, "name": "B"}}),
             ("PassStateExited", {"stateExitedEventDetails": {"name": "B", "output": '{"order": 1}'}}),
             ("ExecutionSucceeded", {"executionSucceededEventDetails": {"output": '{"order": 1}'}})]
    return [{"id": i, "previousEventId": i - 1, "type": kind, "timestamp": start + timedelta(milliseconds=i),
             **body} for i, (kind, body) in enumerate(kinds, 1)]


async def fill(service: StepFunctionsService, machine: str, closed: int) -> None:
    store = service.store
    for first in range(0, closed, CHUNK):
        async def one(i: int) -> None:
            start = T0 - timedelta(days=10, seconds=closed - i)
            name = f"closed-{i:06d}"
            # written closed from the start: no worker ever takes it
            record = ExecutionRecord(arn=f"{machine.replace(':stateMachine:', ':execution:')}:{name}",
                                     state_machine_arn=machine, name=name, status="SUCCEEDED", start_date=start,
                                     input='{"order": 1}')
            await store.create_execution(record)
            await store.commit([ExecutionChange(record.arn, "SUCCEEDED", None, events=closed_history(start),
                                                summary={"stopDate": start + timedelta(milliseconds=7),
                                                         "output": '{"order": 1}'})])
        await asyncio.gather(*(one(i) for i in range(first, min(first + CHUNK, closed))))


async def latencies(service: StepFunctionsService, machine: str, count: int,
                    until: asyncio.Task | None) -> list[tuple[float, float]]:
    """When each of `count` starts at RATE a second (or more until `until` is done) began (time.perf_counter())
    and its StartExecution latency (ms)."""
    measured: list[tuple[float, float]] = []

    async def start() -> None:
        begin = time.perf_counter()
        await service.start_execution(stateMachineArn=machine, input='{"order": 1}')
        measured.append((begin, (time.perf_counter() - begin) * 1000))

    pending: set[asyncio.Task] = set()  # only the calls not yet answered: done ones would burden the GC
    made = 0
    while made < count or (until is not None and not until.done()):
        call = asyncio.create_task(start())
        pending.add(call)
        call.add_done_callback(pending.discard)
        made += 1
        await asyncio.sleep(1 / RATE)
    await asyncio.gather(*pending)
    return measured


def watch_reclaiming(store: Store) -> dict[str, float]:
    """{"since": when} the purge first gives space back (it has deleted the executions then)."""
    seen: dict[str, float] = {}
    reclaim_space = store.reclaim_space

    async def watched(pages: int) -> int:
        seen.setdefault("since", time.perf_counter())
        return await reclaim_space(pages)
    store.reclaim_space = watched  # type: ignore[method-assign]
    return seen


def size(path: Path) -> int:
    """The store's size in bytes as SQLite counts it (its pages, the WAL's included)."""
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0])


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def bench(closed: int, running: int, starts: int, folder: Path) -> dict:
    path = folder / "stepline.db"
    service = StepFunctionsService(Settings(db=str(path), time_scale=0, retention_days=0))  # the bench purges
    service.clock = clock = VirtualClock(T0)
    await service.start()
    try:
        quick = await service.register("Quick", PASS)
        activity = (await service.create_activity(name="Approve"))["activityArn"]
        waits = await service.register("Waits", json.dumps({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": activity, "End": True}}}))
        waiting = [(await service.start_execution(stateMachineArn=waits, input="{}"))["executionArn"]
                   for _ in range(running)]
        began = time.perf_counter()
        await fill(service, quick, closed)
        filled = time.perf_counter() - began
        clock.advance(91 * 86_400)
        size_before = size(path)

        quiet = [ms for _, ms in await latencies(service, quick, starts, None)]
        retention = Retention(service.store, clock=clock, days=90)
        reclaiming = watch_reclaiming(service.store)
        began = time.perf_counter()
        purge = asyncio.create_task(retention.purge())
        timed = await latencies(service, quick, starts, purge)
        during = [ms for _, ms in timed]
        deleting = [ms for begin, ms in timed if begin < reclaiming.get("since", math.inf)]
        giving_back = [ms for begin, ms in timed if begin >= reclaiming.get("since", math.inf)]
        deleted = await purge
        purge_seconds = time.perf_counter() - began
        size_after = size(path)

        intact = 0
        for arn in waiting:
            described = await service.describe_execution(executionArn=arn)
            history = await service.full_history(arn)
            intact += described["status"] == "RUNNING" and history[-1]["type"] == "ActivityScheduled"
        remaining_closed = len(await service.store.list_executions(status="SUCCEEDED"))
    finally:
        await service.close()
    return {
        "closed": closed, "running": running, "fill_seconds": round(filled, 1),
        "deleted": deleted, "purge_seconds": round(purge_seconds, 2),
        "size_before_bytes": size_before, "size_after_bytes": size_after, "file_after_close_bytes": path.stat().st_size,
        "running_untouched": intact, "succeeded_left": remaining_closed,
        "start_p50_ms_quiet": round(percentile(quiet, 50), 3), "start_p99_ms_quiet": round(percentile(quiet, 99), 3),
        "start_p50_ms_purging": round(percentile(during, 50), 3),
        "start_p99_ms_purging": round(percentile(during, 99), 3),
        "starts_quiet": len(quiet), "starts_purging": len(during), "starts_per_second": RATE,
        "p99_ratio": round(percentile(during, 99) / percentile(quiet, 99), 2),
        "p99_ratio_deleting": round(percentile(deleting, 99) / percentile(quiet, 99), 2),
        "p99_ratio_giving_space_back": round(percentile(giving_back, 99) / percentile(quiet, 99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=1_000)
    parser.add_argument("--starts", type=int, default=12_000, help="StartExecution calls without a purge (one minute)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(bench(args.closed, args.running, args.starts, Path(folder)))
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    output = ROOT / "build" / "bench-retention.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
