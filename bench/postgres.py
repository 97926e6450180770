"""`make bench-postgres`: durable throughput on PostgreSQL with one and with two worker processes, beside SQLite.

    python bench/postgres.py [--seconds 5] [--workloads pass_chain_100 map_1000_c10] [--db postgresql://...]

Each worker is a process of its own (a `stepline serve` without HTTP): a StepFunctionsService on the store, on
virtual time, starting the workload's executions in rounds (as engine.py's durable figure does) and waiting for
each round to end; every transition is committed. The load is split across the workers (each starts its own),
so the figure is what N workers sharing one database commit together. Every run gets a fresh PostgreSQL schema
(dropped afterwards); SQLite runs in a temporary folder. Prints a table and writes build/bench-postgres.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = next(path for path in (Path(os.environ.get("STEPLINE_SHARED_BENCH", ROOT.parent / "shared" / "bench")),
                                       Path("/work/shared/bench")) if path.exists())
POSTGRES = os.environ.get("STEPLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
WORKLOADS = {"pass_chain_100": 200, "map_1000_c10": 10}  # executions started together per round
ROLE = "arn:aws:iam::123456789012:role/bench"


def worker(db: str, name: str, seconds: float, round_size: int, start_at: float, results: multiprocessing.Queue) -> None:
    """One worker process: run rounds until `seconds` after `start_at` have passed; report what it ran."""
    gc.set_threshold(50_000, 20, 100)  # as `stepline serve` runs
    directory = SHARED_BENCH / "workloads"
    definition = (directory / f"{name}.asl.json").read_text()
    input_text = (directory / f"{name}.input.json").read_text()

    async def run() -> dict:
        service = StepFunctionsService(Settings(db=db, time_scale=0, pool_size=4))
        await service.start()
        machine = await service.create_state_machine(name=name, definition=definition, roleArn=ROLE)
        await asyncio.sleep(max(0.0, start_at - time.time()))  # the workers begin together
        executions, began, cpu = 0, time.perf_counter(), time.process_time()
        last = []
        try:
            while time.perf_counter() - began < seconds:
                last = await asyncio.gather(*[service.start_execution(stateMachineArn=machine["stateMachineArn"],
                                                                      input=input_text) for _ in range(round_size)])
                await asyncio.gather(*[service.runtime.wait(run["executionArn"]) for run in last])
                executions += len(last)
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - cpu
            history = await service.full_history(last[-1]["executionArn"])
            described = await service.describe_execution(executionArn=last[-1]["executionArn"])
            assert described["status"] == "SUCCEEDED", described
            per_execution = sum(1 for e in history if e["type"].endswith("StateEntered"))
        finally:
            await service.close()
        return {"executions": executions, "transitions": executions * per_execution, "seconds": elapsed,
                "cpu_seconds": cpu}

    results.put(asyncio.run(run()))


def measure(db: str, name: str, workers: int, seconds: float) -> dict:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    start_at = time.time() + 3  # time for every process to import and open the store
    processes = [context.Process(target=worker, args=(db, name, seconds, WORKLOADS[name], start_at, results))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    server_cpu, database = postgres_cpu_seconds(), database_counters()
    reports = [results.get(timeout=seconds + 120) for _ in processes]
    server_cpu = postgres_cpu_seconds() - server_cpu  # the workers' teardown included: an upper bound
    database = {key: value - database[key] for key, value in database_counters().items()}
    for process in processes:
        process.join(timeout=30)
    elapsed = max(report["seconds"] for report in reports)
    executions = sum(report["executions"] for report in reports)
    transitions = sum(report["transitions"] for report in reports)
    cpu = sum(report["cpu_seconds"] for report in reports)
    return {"executions_per_s": round(executions / elapsed, 1), "transitions_per_s": round(transitions / elapsed),
            "worker_cpu_us_per_transition": round(cpu / transitions * 1e6, 1),
            "postgres_cpu_us_per_transition": round(server_cpu / transitions * 1e6, 1) if "postgresql" in db else 0,
            **({"wal_bytes_per_transition": round(database["wal"] / transitions),
                "transactions_per_1000_transitions": round(database["transactions"] / transitions * 1000, 1)}
               if "postgresql" in db else {})}


def database_counters() -> dict[str, int]:
    """The server's WAL position and committed transactions so far (all databases: the workers are the load)."""
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        wal, transactions = connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
            "(SELECT sum(xact_commit)::bigint FROM pg_stat_database)").fetchone()  # type: ignore[misc]
    return {"wal": wal, "transactions": transactions}


def postgres_cpu_seconds() -> float:
    """CPU time of the local PostgreSQL server so far: its live processes, plus the backends that have exited
    (the postmaster's children time). 0 when /proc shows none."""
    ticks, names = 0, {}
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        names[stat.parent.name] = head.split("(", 1)[1]
        stats[stat.parent.name] = tail.split()
    for pid, parts in stats.items():
        if names[pid].startswith("postgres"):
            ticks += int(parts[11]) + int(parts[12])  # utime, stime
            if not names.get(parts[1], "").startswith("postgres"):  # the postmaster: its reaped children too
                ticks += int(parts[13]) + int(parts[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def fresh_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    return f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}schema={schema}", schema


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per run (default 5)")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--report", default=str(ROOT / "build" / "bench-postgres.json"))
    args = parser.parse_args()
    report: dict = {}
    print(f"{'workload':<16} {'store':<22} {'executions/s':>13} {'transitions/s':>14} {'worker CPU':>11} "
          f"{'server CPU':>11} {'WAL bytes':>10} {'commits':>8}  (CPU in µs and WAL per transition; commits "
          f"per 1,000)")
    for name in args.workloads:
        figures: dict = {}
        with tempfile.TemporaryDirectory() as folder:
            figures["sqlite_1"] = measure(f"{folder}/bench.db", name, 1, args.seconds)
        for workers in (1, 2):
            url, schema = fresh_schema()
            try:
                figures[f"postgres_{workers}"] = measure(url, name, workers, args.seconds)
            finally:
                drop_schema(schema)
        for label, row in figures.items():
            store = {"sqlite_1": "SQLite, 1 worker", "postgres_1": "PostgreSQL, 1 worker",
                     "postgres_2": "PostgreSQL, 2 workers"}[label]
            print(f"{name:<16} {store:<22} {row['executions_per_s']:>13,} {row['transitions_per_s']:>14,} "
                  f"{row['worker_cpu_us_per_transition']:>11} {row['postgres_cpu_us_per_transition']:>11} "
                  f"{row.get('wal_bytes_per_transition', ''):>10} {row.get('transactions_per_1000_transitions', ''):>8}")
        figures["two_workers_over_one"] = round(figures["postgres_2"]["transitions_per_s"]
                                                / figures["postgres_1"]["transitions_per_s"], 2)
        figures["postgres_over_sqlite"] = round(figures["postgres_1"]["transitions_per_s"]
                                                / figures["sqlite_1"]["transitions_per_s"], 2)
        print(f"{name:<16} 2 workers / 1: {figures['two_workers_over_one']}x   "
              f"PostgreSQL 1 worker / SQLite: {figures['postgres_over_sqlite']}x")
        report[name] = figures
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
