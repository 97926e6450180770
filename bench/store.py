"""Durable commits on both stores: how many ExecutionChanges a second each store makes durable.

Each change is what one step of a running execution writes: 4 history events, a checkpoint, a timer set and one
cancelled, a task set and one finished. Three ways to commit them, each for about --seconds:
  batch      one commit() of 100 changes at a time (the runtime's signal loop commits its ready batch like this)
  group      100 concurrent commit() calls of 1 change (the store's group commit gathers them)
  serial     1 change per commit(), each awaited before the next (one transaction per change: latency-bound)

    python bench/store.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--seconds 3]

Then the round trips each PostgreSQL verb costs: the same calls through a local proxy that delays every answer
of the server by 20 ms; (time through the proxy - time direct) / 20 ms is the number of round trips.

Writes build/bench_store.json. PostgreSQL runs in fresh schemas, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import psycopg.conninfo

from stepline.runtime.store.base import ExecutionChange, PendingTask, Store, Timer
from stepline.runtime.store.postgres import PostgresStore
from stepline.runtime.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CHECKPOINT = json.dumps({"status": "RUNNING", "state": "Step", "input": {"order": {"id": 1, "items": list(range(30))}},
                         "attempts": {}, "events": 0})


class Workload:
    """Executions that each take one step per change; event ids and tokens keep growing."""

    def __init__(self, executions: int) -> None:
        self.arns = [f"arn:aws:states:us-east-1:123456789012:execution:Bench:{uuid.uuid4().hex}"
                     for _ in range(executions)]
        self.step = {arn: 0 for arn in self.arns}

    def records(self) -> list[dict]:
        return [{"executionArn": arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Bench",
                 "name": arn.rsplit(":", 1)[1], "status": "RUNNING", "startDate": T0, "input": "{}"}
                for arn in self.arns]

    def change(self, arn: str) -> ExecutionChange:
        step = self.step[arn] = self.step[arn] + 1
        first = (step - 1) * 4 + 1
        events = [{"id": first + i, "previousEventId": first + i - 1, "type": "TaskStateEntered",
                   "timestamp": T0 + timedelta(milliseconds=first + i),
                   "stateEnteredEventDetails": {"name": "Step", "input": '{"order":{"id":1}}'}} for i in range(4)]
        return ExecutionChange(
            arn, "RUNNING", CHECKPOINT, events=events,
            timers=[Timer(arn, "", "timer", step, T0 + timedelta(seconds=step))], cancelled_timers=[("", "heartbeat")],
            tasks=[PendingTask(arn, "t", step, {"resource": "arn:aws:lambda:f", "token": step})],
            finished_tasks=["u"])


async def measure(store: Store, mode: str, seconds: float) -> dict:
    workload = Workload(100)
    for record in workload.records():
        await store.create_execution(record)
    transactions = getattr(store, "transactions", 0)
    changes = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if mode == "batch":
            await store.commit([workload.change(arn) for arn in workload.arns])
            changes += 100
        elif mode == "group":
            await asyncio.gather(*(store.commit([workload.change(arn)]) for arn in workload.arns))
            changes += 100
        else:
            await store.commit([workload.change(workload.arns[changes % 100])])
            changes += 1
    elapsed = time.perf_counter() - started
    result = {"changes_per_s": round(changes / elapsed),
              "transactions": getattr(store, "transactions", 0) - transactions}
    result["ms_per_transaction"] = round(elapsed * 1000 / max(result["transactions"], 1), 2)
    if isinstance(store, PostgresStore):
        result["statements_per_transaction"] = round(store.statements / max(store.transactions, 1), 1)
    return result


async def delaying_proxy(host: str, port: int, delay: float) -> asyncio.Server:
    """A TCP proxy to host:port that holds each chunk the server sends for `delay` seconds."""
    async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter, wait: float) -> None:
        while data := await source.read(1 << 16):
            if wait:
                await asyncio.sleep(wait)
            target.write(data)
            await target.drain()
        target.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        try:
            await asyncio.gather(pipe(reader, upstream_writer, 0), pipe(upstream_reader, writer, delay))
        except (asyncio.CancelledError, ConnectionError):  # the proxy is closing
            pass

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def round_trips(url: str, delay: float = 0.02) -> dict[str, float]:
    """Round trips of each verb: timed directly and through the delaying proxy."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    proxy = await delaying_proxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432), delay)
    proxied = psycopg.conninfo.make_conninfo(url, host="127.0.0.1", port=proxy.sockets[0].getsockname()[1])
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    timings: dict[str, list[float]] = {}
    try:
        for label, location in (("direct", url), ("proxied", proxied)):
            store = await PostgresStore.open(location, schema=schema, min_size=1, max_size=1)
            workload = Workload(100)
            for record in workload.records():
                await store.create_execution(record)
            records = Workload(5).records()
            lease: list = []
            now = T0 + timedelta(days=1)

            async def fenced() -> None:
                lease[:] = lease or await store.claim_runnable("bench", 60, 1, now=now,
                                                               execution_arns=[workload.arns[0]])
                change = workload.change(workload.arns[0])
                change.fence = lease[0].fence
                await store.commit([change])

            verbs = {
                "create_execution": lambda: store.create_execution(records.pop()),
                "get_execution": lambda: store.get_execution(workload.arns[0]),
                "commit 1 change": lambda: store.commit([workload.change(workload.arns[1])]),
                "commit 100 changes": lambda: store.commit([workload.change(arn) for arn in workload.arns]),
                "commit 1 change with a fence": fenced,
                "claim_runnable": lambda: store.claim_runnable("bench", 60, 10, now=now),
                "claim_due_timers": lambda: store.claim_due_timers("bench", now, 10, 30),
                "claim_activity_task": lambda: store.claim_activity_task("arn:none", "bench"),
            }
            for name, call in verbs.items():
                samples = []
                for _ in range(5):
                    started = time.perf_counter()
                    await call()
                    samples.append(time.perf_counter() - started)
                timings.setdefault(name, []).append(sorted(samples)[2])
            await store.close()
    finally:
        proxy.close()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return {name: round((proxied - direct) / delay, 1) for name, (direct, proxied) in timings.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("STEPLINE_TEST_POSTGRES",
                                                             "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for mode in ("batch", "group", "serial"):
        with tempfile.TemporaryDirectory() as directory:
            for synchronous in ("NORMAL", "FULL"):
                os.environ["STEPLINE_SQLITE_SYNCHRONOUS"] = synchronous
                store = await SqliteStore.open(Path(directory) / f"{synchronous}.db")
                results[f"sqlite_{synchronous.lower()}/{mode}"] = await measure(store, mode, args.seconds)
                await store.close()
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        store = await PostgresStore.open(args.postgres, schema=schema)
        try:
            results[f"postgres/{mode}"] = await measure(store, mode, args.seconds)
        finally:
            await store.close()
            with psycopg.connect(args.postgres, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"{'store/mode':28} {'changes/s':>10} {'transactions':>13} {'ms/transaction':>15}")
    for name, result in results.items():
        print(f"{name:28} {result['changes_per_s']:>10} {result['transactions']:>13} "
              f"{result['ms_per_transaction']:>15}")
    trips = await round_trips(args.postgres)
    print(f"\n{'PostgreSQL verb':28} {'round trips':>11}")
    for name, count in trips.items():
        print(f"{name:28} {count:>11}")
    results["postgres_round_trips"] = trips
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bench_store.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
